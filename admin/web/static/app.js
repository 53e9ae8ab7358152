// Straja admin UI: the language switch submits itself, and the dashboard redraws its
// figures and 24-hour chart from /api/v1/dashboard. Everything works without this file.
"use strict";
(function () {
  document.documentElement.classList.add("js");
  document.querySelectorAll("select[data-autosubmit]").forEach(function (el) {
    el.addEventListener("change", function () { el.form.submit(); });
  });
  var main = document.querySelector("main[data-poll]");
  if (!main) { return; }
  var url = main.getAttribute("data-poll");
  var H = 160, W = 720;
  function pct(v) { return v === null || v === undefined ? "-" : (v * 100).toFixed(1) + " %"; }
  function set(key, text) {
    var el = main.querySelector('[data-k="' + key + '"]');
    if (el) { el.textContent = text; }
  }
  function line(points, key, top, start, span) {
    var scale = top ? (H - 4) / top : 0;
    return points.map(function (p) {
      return ((p.t - start) / span * W).toFixed(1) + "," + (H - 2 - p[key] * scale).toFixed(1);
    }).join(" ");
  }
  function draw(d) {
    set("qps", d.qps === null ? "-" : d.qps.toFixed(1));
    set("queries", String(d.queries));
    set("blocked_total", pct(d.queries ? d.blocked / d.queries : 0));
    set("cache_hit_ratio", pct(d.cache_hit_ratio));
    Object.keys(d.blocked_share).forEach(function (tier) {
      set("share_" + tier, pct(d.blocked_share[tier]));
      var bar = main.querySelector('[data-bar="share_' + tier + '"]');
      if (bar) { bar.setAttribute("width", (d.blocked_share[tier] * 120).toFixed(1)); }
    });
    var body = main.querySelector('[data-k="hits_per_list"]');
    if (body) {
      body.replaceChildren.apply(body, d.hits_per_list.map(function (row) {
        var tr = document.createElement("tr");
        [row.list, row.tier, String(row.hits)].forEach(function (v, i) {
          var td = document.createElement("td");
          td.textContent = v;
          if (i === 2) { td.className = "num"; }
          tr.appendChild(td);
        });
        return tr;
      }));
    }
    var c = d.chart, span = Math.max(c.end - c.start, 1);
    main.querySelector('[data-line="queries"]').setAttribute("points", line(c.points, "queries", c.top, c.start, span));
    main.querySelector('[data-line="blocked"]').setAttribute("points", line(c.points, "blocked", c.top, c.start, span));
    set("chart_range", c.from + "\u2013" + c.to + " UTC");
    set("chart_top", String(Math.round(c.top)));
  }
  function poll() {
    fetch(url, { credentials: "same-origin", headers: { "Accept": "application/json" } })
      .then(function (r) { return r.ok ? r.json() : null; })
      .then(function (d) { if (d) { draw(d); } })
      .catch(function () {});
  }
  setInterval(poll, 5000);
})();
