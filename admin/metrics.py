"""Prometheus metrics and the dashboard's numbers, for the control side only.

Counters are the sum of the workers' snapshots (admin/stats.py), read when scraped; gauges
about the lists (entries, serial, last update, refusals, the mandatory deficit) come once,
from this process's view of state_dir (admin/health.py), however many workers there are.
`prometheus_client` is imported on first use, never by a DNS worker's serving path.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import TYPE_CHECKING, Any

from admin import health, stats
from blocklists.store import ListStore

if TYPE_CHECKING:
    from prometheus_client import Histogram
    from prometheus_client.core import Metric

    from admin.config import Config

_http_histogram: Histogram | None = None


def _http() -> Histogram:
    """The straja_http_request_duration_seconds histogram of this process (created once,
    outside any registry: each exposition builds its own registry around it)."""
    global _http_histogram
    if _http_histogram is None:
        from prometheus_client import Histogram

        _http_histogram = Histogram(
            "straja_http_request_duration_seconds",
            "Time to answer an admin HTTP request, by handler, method and status code.",
            ["handler", "method", "code"],
            registry=None,
        )
    return _http_histogram


def observe_http(handler: str, method: str, code: int, seconds: float) -> None:
    """Record one admin HTTP request (the web app's middleware calls this)."""
    _http().labels(handler, method, str(code)).observe(seconds)


def _split(label: str) -> tuple[str, str]:
    first, _, second = label.partition("|")
    return first, second


class StrajaCollector:
    """Builds every straja_* family at scrape time from state_dir."""

    def __init__(self, config: Config) -> None:
        self.config = config

    def collect(self) -> Iterator[Metric]:
        from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily

        config = self.config
        total = stats.totals(config.state_path)
        lists = health.list_health(config.lists, ListStore(config.state_path))

        proto = CounterMetricFamily(
            "straja_dns_queries", "DNS queries received, by transport.", labels=["proto"]
        )
        for name in ("udp", "tcp"):
            proto.add_metric([name], _count(total["proto"], name))
        yield proto

        responses = CounterMetricFamily(
            "straja_dns_responses",
            "DNS responses sent, by rcode and by the action that produced them.",
            labels=["rcode", "action"],
        )
        for label, n in sorted(total["responses"].items()):
            action, rcode = _split(label)
            responses.add_metric([rcode, action], n)
        yield responses

        blocked = CounterMetricFamily(
            "straja_blocked", "Blocked answers, by list and tier.", labels=["list", "tier"]
        )
        tiers = {**total["list_tiers"], **{spec.id: spec.tier for spec in config.lists}}
        for list_id in sorted(set(total["list_hits"]) | {spec.id for spec in config.lists}):
            blocked.add_metric([list_id, tiers.get(list_id, "operator")],
                               _count(total["list_hits"], list_id))
        yield blocked

        yield CounterMetricFamily("straja_cache_hits", "Answers served from the cache.",
                                  value=_count(total, "cache_hits"))
        yield CounterMetricFamily("straja_cache_misses", "Queries the cache could not answer.",
                                  value=_count(total, "cache_misses"))
        yield GaugeMetricFamily("straja_cache_entries",
                                "Answers in the cache, summed over the workers.",
                                value=_count(total, "cache_entries"))

        entries = GaugeMetricFamily("straja_list_entries",
                                    "Entries of each list's active version.", labels=["list"])
        serial = GaugeMetricFamily("straja_list_serial",
                                   "Serial of each list's active version.", labels=["list"])
        updated = GaugeMetricFamily(
            "straja_list_last_update_timestamp_seconds",
            "When each list was last activated or found current (unix time).", labels=["list"],
        )
        refusals = CounterMetricFamily(
            "straja_list_refusals", "List versions refused, by list and reason.",
            labels=["list", "reason"],
        )
        for h in lists:
            if h.entries is not None:
                entries.add_metric([h.list_id], h.entries)
            if h.serial is not None:
                serial.add_metric([h.list_id], h.serial)
            if h.last_update is not None:
                updated.add_metric([h.list_id], h.last_update)
            for reason, n in sorted(h.refusals.items()):
                refusals.add_metric([h.list_id, reason], n)
        yield from (entries, serial, updated, refusals)

        upstreams = CounterMetricFamily(
            "straja_upstream_responses", "Exchanges with each upstream, by result.",
            labels=["upstream", "result"],
        )
        for label, n in sorted(total["upstreams"].items()):
            upstreams.add_metric(list(_split(label)), n)
        yield upstreams

        yield GaugeMetricFamily(
            "straja_mandatory_deficit",
            "1 while a mandatory list has no active version (it is not enforced), else 0.",
            value=1 if health.mandatory_deficit(lists) else 0,
        )


def _count(values: Mapping[str, Any], name: str) -> int:
    value = values.get(name, 0)
    return value if isinstance(value, int) else 0


def exposition(config: Config) -> tuple[bytes, str]:
    """The Prometheus text exposition (body, content type): counters summed over the
    workers, gauges from state_dir, and this process's HTTP request histogram."""
    from prometheus_client import CollectorRegistry, exposition, generate_latest

    registry = CollectorRegistry(auto_describe=False)
    registry.register(StrajaCollector(config))
    registry.register(_http())
    # Text format 0.0.4, which every Prometheus scrapes (our names need none of 1.0.0's
    # UTF-8 escaping; prometheus_client before 0.21 calls it CONTENT_TYPE_LATEST).
    content_type = getattr(exposition, "CONTENT_TYPE_PLAIN_0_0_4", exposition.CONTENT_TYPE_LATEST)
    return generate_latest(registry), content_type


def dashboard_numbers(config: Config) -> dict[str, Any]:
    """The dashboard's numbers (and `straja stats`'): queries per second over the workers'
    last interval, the blocked share per tier, hits per list, the cache hit ratio, each
    upstream's state, and the lists' health. Shares and ratios are over everything counted
    since the counters began (they survive restarts); None while nothing was counted."""
    total = stats.totals(config.state_path)
    lists = health.list_health(config.lists, ListStore(config.state_path))
    queries = _count(total, "queries")
    hits, misses = _count(total, "cache_hits"), _count(total, "cache_misses")
    tiers = {spec.id: spec.tier for spec in config.lists}
    configured = [str(u) for u in config.upstreams]
    states = health.upstream_states(total, configured)
    results: dict[str, dict[str, int]] = {u: {} for u in states}
    for label, n in total["upstreams"].items():
        upstream, result = _split(label)
        results.setdefault(upstream, {})[result] = n
    return {
        "workers": total["workers"],
        "written_at": total["written_at"] or None,
        "qps": round(float(total["qps"]), 1),
        "queries": queries,
        "blocked": _count(total, "blocked"),
        "blocked_share": {
            tier: (_count(total, f"blocked_{tier}") / queries if queries else None)
            for tier in ("mandatory", "operator", "family")
        },
        "list_hits": {
            list_id: {"tier": tiers.get(list_id) or total["list_tiers"].get(list_id, "operator"),
                      "hits": _count(total["list_hits"], list_id)}
            for list_id in sorted(set(total["list_hits"]) | set(tiers))
        },
        "cache_hit_ratio": hits / (hits + misses) if hits + misses else None,
        "cache_entries": _count(total, "cache_entries"),
        "responses": dict(sorted(total["responses"].items())),
        "upstreams": {u: {"state": s, "results": results.get(u, {})} for u, s in states.items()},
        "lists": [h.as_dict() for h in lists],
        "mandatory_deficit": health.mandatory_deficit(lists),
    }
