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
  var SVG = "http://www.w3.org/2000/svg";
  function rect(x, h, w, cls) {
    var r = document.createElementNS(SVG, "rect");
    r.setAttribute("x", x.toFixed(1)); r.setAttribute("y", (H - 2 - h).toFixed(1));
    r.setAttribute("width", w.toFixed(1)); r.setAttribute("height", h.toFixed(1));
    r.setAttribute("class", cls);
    return r;
  }
  function bars(c) {  // the same geometry as dashboard.chart() on the server
    var span = Math.max(c.end - c.start, 1), scale = (H - 4) / c.top;
    var w = Math.max(c.bucket / span * W - 1, 1.5), out = [];
    c.points.forEach(function (p) {
      var x = (p.t - c.start) / span * W;
      out.push(rect(x, p.queries * scale, w, "bar-q"), rect(x, p.blocked * scale, w, "bar-b"));
    });
    return out;
  }
  function tierBadge(tier) {
    var span = document.createElement("span");
    span.className = "tier tier-" + tier;
    span.textContent = main.getAttribute("data-tier-" + tier) || tier;
    return span;
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
        var name = document.createElement("td"), tier = document.createElement("td");
        var hits = document.createElement("td");
        name.textContent = row.list; tier.appendChild(tierBadge(row.tier));
        hits.textContent = String(row.hits); hits.className = "num";
        tr.append(name, tier, hits);
        return tr;
      }));
    }
    var c = d.chart, group = main.querySelector("[data-bars]");
    group.replaceChildren.apply(group, bars(c));
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
