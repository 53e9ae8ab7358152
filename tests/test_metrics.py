"""Prometheus metrics and the dashboard's numbers, from a real `straja serve` on loopback."""

from __future__ import annotations

import asyncio
import json
import shutil
import subprocess
import time
import urllib.request
from pathlib import Path
from typing import Any

import dns.message
import dns.query
import dns.rcode
import pytest
from prometheus_client.parser import text_string_to_metric_families

from admin import alerts, stats
from admin.config import load_config
from admin.metrics import dashboard_numbers, exposition, observe_http
from tests.listtools import Publisher, straja_cli
from tests.receivers import closed_port, wait_for
from tests.servers import Straja, run_dig

PROMTOOL = shutil.which("promtool") or "/usr/bin/promtool"

Samples = dict[tuple[str, tuple[tuple[str, str], ...]], float]


def scrape(server: Straja) -> tuple[str, Samples]:
    """The exposition as text, checked by promtool, and its samples by name and labels."""
    body, content_type = exposition(load_config(server.config_path))
    assert content_type.startswith("text/plain; version=0.0.4")
    check = subprocess.run([PROMTOOL, "check", "metrics"], input=body, capture_output=True,
                           timeout=30)
    assert check.returncode == 0, check.stdout.decode() + check.stderr.decode()
    text = body.decode()
    samples: Samples = {}
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            samples[(s.name, tuple(sorted(s.labels.items())))] = s.value
    return text, samples


def value(samples: Samples, name: str, **labels: str) -> float:
    return samples.get((name, tuple(sorted(labels.items()))), 0.0)


def responses(samples: Samples, action: str, rcode: str) -> float:
    return value(samples, "straja_dns_responses_total", action=action, rcode=rcode)


def school_config(unbound: Any, tmp_path: Path, **extra: Any) -> dict[str, Any]:
    pub = Publisher(tmp_path)
    lst = pub.compile("school", ["games.example.test"], 1)
    return {"upstreams": [unbound.address],
            "lists": [{"id": "school", "source": str(lst), "tier": "operator",
                       "keys": [pub.key]}],
            **extra}


def test_each_kind_of_answer_is_counted_by_action_rcode_and_proto(
    straja_factory, unbound, tmp_path
) -> None:
    s = straja_factory(school_config(unbound, tmp_path, access={"allow": ["127.0.0.1/32"]}))
    assert s.query("www.example.test").rcode() == dns.rcode.NOERROR  # answered
    assert s.query("www.example.test").rcode() == dns.rcode.NOERROR  # cached, no parsing
    assert "192.0.2.10" in run_dig("@127.0.0.1", "-p", str(s.port), "+short", "+noedns",
                                   "www.example.test", "A")  # cached again (same key)
    assert s.query("www.example.test", tcp=True).rcode() == dns.rcode.NOERROR  # cached, TCP
    for _ in range(3):  # decided once, then cached
        assert s.query("games.example.test").answer[0][0].address == "0.0.0.0"
    assert s.query("nothing.example.test").rcode() == dns.rcode.NXDOMAIN  # answered
    outsider = dns.message.make_query("www.example.test", "A")
    reply = dns.query.udp(outsider, s.host, port=s.port, source="127.0.0.9", timeout=5)
    assert reply.rcode() == dns.rcode.REFUSED  # not in access.allow

    def counted() -> Samples | None:
        # The outsider's query came last (each query waits for its answer), so once it is
        # in the snapshot, everything before it is too.
        if stats.totals(s.workdir / "state").get("refused_acl") != 1:
            return None
        return scrape(s)[1]

    samples = wait_for(counted)
    assert responses(samples, "answered", "NOERROR") == 1
    assert responses(samples, "cached", "NOERROR") == 3
    assert responses(samples, "blocked", "NOERROR") == 3
    assert responses(samples, "answered", "NXDOMAIN") == 1
    # The ACL refusal, plus the readiness probes (CHAOS class: refused before the cache)
    assert responses(samples, "refused", "REFUSED") >= 2
    assert value(samples, "straja_blocked_total", list="school", tier="operator") == 3
    assert value(samples, "straja_cache_hits_total") == 5  # 3 allowed, 2 blocked
    assert value(samples, "straja_cache_misses_total") == 3
    assert value(samples, "straja_cache_entries") >= 3
    udp = value(samples, "straja_dns_queries_total", proto="udp")
    answered = sum(v for (name, _), v in samples.items() if name == "straja_dns_responses_total")
    assert udp + 1 == answered  # every query got exactly one counted response
    assert value(samples, "straja_upstream_responses_total", upstream=unbound.address,
                 result="ok") == 2
    assert value(samples, "straja_list_entries", list="school") == 1
    assert value(samples, "straja_list_serial", list="school") == 1
    assert value(samples, "straja_list_last_update_timestamp_seconds", list="school") \
        == pytest.approx(time.time(), abs=300)
    assert value(samples, "straja_mandatory_deficit") == 0

    numbers = dashboard_numbers(load_config(s.config_path))
    assert numbers["list_hits"] == {"school": {"tier": "operator", "hits": 3}}
    assert numbers["cache_hit_ratio"] == pytest.approx(5 / 8)
    assert numbers["blocked_share"]["operator"] == pytest.approx(3 / numbers["queries"])
    assert numbers["upstreams"][unbound.address]["state"] == "up"
    assert numbers["mandatory_deficit"] is False
    shown = straja_cli("stats", "--config", str(s.config_path))
    assert "list school" in shown.stdout and "[operator] 3 blocked" in shown.stdout
    assert f"upstream {unbound.address}" in shown.stdout


def test_a_dead_upstream_gives_counted_servfails_and_an_upstreams_down_alert(
    straja_factory
) -> None:
    dead = f"127.0.0.1:{closed_port()}"
    s = straja_factory({"upstreams": [dead], "cache": {"serve_stale": 0}})
    for _ in range(4):
        assert s.query("www.example.test").rcode() == dns.rcode.SERVFAIL

    def counted() -> Samples | None:
        _, samples = scrape(s)
        return samples if responses(samples, "servfail", "SERVFAIL") == 4 else None

    samples = wait_for(counted)
    failed = value(samples, "straja_upstream_responses_total", upstream=dead, result="error")
    assert failed + value(samples, "straja_upstream_responses_total", upstream=dead,
                          result="timeout") == 4
    assert value(samples, "straja_upstream_responses_total", upstream=dead, result="ok") == 0
    config = load_config(s.config_path)
    assert dashboard_numbers(config)["upstreams"][dead]["state"] == "down"
    assert [c.alert for c in alerts.upstream_conditions(config)] == ["upstreams_down"]


def test_counters_are_summed_over_workers_and_gauges_come_once(
    straja_factory, unbound, tmp_path
) -> None:
    s = straja_factory(school_config(unbound, tmp_path, dns={"workers": 2}))
    for i in range(40):
        s.query("games.example.test" if i % 4 == 0 else "www.example.test")
    run = s.workdir / "state" / "run"

    def both_written() -> Samples | None:
        files = [json.loads(p.read_text()) for p in run.glob("counters-*.json")]
        allowed = sum(f["responses"].get(kind, 0) for f in files
                      for kind in ("answered|NOERROR", "cached|NOERROR"))
        if len(files) != 2 or allowed != 30 \
                or sum(f["list_hits"].get("school", 0) for f in files) != 10:
            return None
        return scrape(s)[1]

    samples = wait_for(both_written)
    files = [json.loads(p.read_text()) for p in sorted(run.glob("counters-*.json"))]
    assert all(f["queries"] > 0 for f in files), "SO_REUSEPORT gave one worker nothing"
    for proto in ("udp", "tcp"):
        assert value(samples, "straja_dns_queries_total", proto=proto) == sum(
            f["proto"][proto] for f in files)
    assert value(samples, "straja_blocked_total", list="school", tier="operator") == 10
    assert responses(samples, "blocked", "NOERROR") == 10
    assert responses(samples, "answered", "NOERROR") + responses(
        samples, "cached", "NOERROR") == 30
    assert value(samples, "straja_cache_entries") == sum(f["cache_entries"] for f in files)
    # Gauges from the control process's view of state_dir: one sample, not one per worker.
    text, _ = scrape(s)
    assert text.count('straja_list_entries{list="school"}') == 1
    assert value(samples, "straja_list_entries", list="school") == 1
    assert text.count("\nstraja_mandatory_deficit ") == 1


def test_refusals_are_counted_by_reason_and_a_missing_mandatory_list_is_a_deficit(
    tmp_path
) -> None:
    pub = Publisher(tmp_path)
    newer, older = pub.compile("school", ["a.test"], 2), pub.compile("school", ["a.test"], 1)
    config_path = tmp_path / "straja.yaml"
    config_path.write_text(
        f"upstreams: [127.0.0.1]\nstate_dir: {tmp_path}/state\nlists:\n"
        f"  - {{id: school, source: {newer}, tier: operator, keys: [{pub.key}]}}\n"
        f"  - {{id: hotline, source: {tmp_path}/absent.sl, tier: mandatory, keys: [{pub.key}]}}\n"
    )
    assert straja_cli("lists", "import", str(newer), "--config", str(config_path)).returncode == 0
    refused = straja_cli("lists", "import", str(older), "--config", str(config_path))
    assert refused.returncode == 1 and "rollback" in refused.stderr
    server = Straja.__new__(Straja)
    server.config_path = config_path
    _, samples = scrape(server)
    assert value(samples, "straja_list_refusals_total", list="school", reason="rollback") == 1
    assert value(samples, "straja_list_serial", list="school") == 2
    assert value(samples, "straja_mandatory_deficit") == 1
    assert ("straja_list_serial", (("list", "hotline"),)) not in samples
    numbers = dashboard_numbers(load_config(config_path))
    hotline = next(h for h in numbers["lists"] if h["id"] == "hotline")
    assert hotline["problems"] == ["missing"] and numbers["mandatory_deficit"] is True
    school = next(h for h in numbers["lists"] if h["id"] == "school")
    assert school["problems"] == ["refused"]


def test_the_exposition_serves_over_http_with_the_request_histogram(tmp_path) -> None:
    from aiohttp import web

    config_path = tmp_path / "straja.yaml"
    config_path.write_text(f"upstreams: [127.0.0.1]\nstate_dir: {tmp_path}/state\n")
    config = load_config(config_path)

    async def metrics(request: web.Request) -> web.Response:
        started = time.perf_counter()
        body, content_type = exposition(config)
        observe_http("metrics", request.method, 200, time.perf_counter() - started)
        return web.Response(body=body, headers={"Content-Type": content_type})

    async def serve_and_fetch() -> tuple[str, str]:
        app = web.Application()
        app.router.add_get("/metrics", metrics)
        runner = web.AppRunner(app)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]

        def fetch() -> tuple[str, str]:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10) as r:
                return r.headers["Content-Type"], r.read().decode()

        try:
            await asyncio.to_thread(fetch)
            return await asyncio.to_thread(fetch)  # the second sees the first's duration
        finally:
            await runner.cleanup()

    content_type, text = asyncio.run(serve_and_fetch())
    assert content_type.startswith("text/plain")
    assert 'straja_http_request_duration_seconds_count{code="200",handler="metrics",' \
           'method="GET"} 1.0' in text
    check = subprocess.run([PROMTOOL, "check", "metrics"], input=text.encode(),
                           capture_output=True, timeout=30)
    assert check.returncode == 0, check.stdout.decode() + check.stderr.decode()


def test_a_restarted_worker_continues_its_labelled_counts(tmp_path) -> None:
    from resolver.counters import Counters

    before = Counters()
    before.box("cached", 0).n += 5
    before.box("blocked", 3, "hotline", "mandatory").n += 2
    before.count(("answered", 0, None))
    before.upstreams[("127.0.0.2:53", "ok")] = 1
    before.queries, before.tcp = 1, 1
    stats.write(before, tmp_path, 0)

    after = Counters()
    stats.restore(after, tmp_path, 0)
    after.box("cached", 0).n += 1
    snap = after.snapshot()
    assert snap["responses"] == {"cached|NOERROR": 6, "blocked|NXDOMAIN": 2,
                                 "answered|NOERROR": 1}
    assert snap["list_hits"] == {"hotline": 2} and snap["blocked_mandatory"] == 2
    assert snap["upstreams"] == {"127.0.0.2:53|ok": 1}
    assert snap["queries"] == 1 + 7 + 1 and snap["cache_hits"] == 7 + 1
    assert snap["proto"] == {"udp": 8, "tcp": 1}
