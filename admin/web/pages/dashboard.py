"""Dashboard: queries per second, blocked share per tier, hits per list, cache hit ratio, and
the 24-hour chart (`GET /api/v1/dashboard`, which the page's script polls to redraw)."""

from __future__ import annotations

import asyncio
import time
from typing import Any

from aiohttp import web

from admin.web.state import STATE, WebState
from admin.web.views import Data, add_page, has_store, store_call

TIERS = ("mandatory", "operator", "family")
DAY = 86400.0
CHART_W, CHART_H = 720, 160
BUCKET = 300.0  # the chart's interval: 288 points a day, light enough for a router


def numbers(state: WebState) -> Data:
    """The dashboard's figures: h/metrics' `dashboard_numbers` when present, else the same
    figures from the workers' summed snapshots."""
    try:
        from admin.metrics import dashboard_numbers
    except ImportError:
        dashboard_numbers = None
    total = state.sampler.samples[-1][1] if state.sampler.samples else state.sampler.sample()
    base = _from_totals(state, total)
    if dashboard_numbers is not None:
        theirs = dashboard_numbers(state.config)
        base.update({k: v for k, v in theirs.items() if v is not None and k in base})
        if base["qps"] is None and "qps" in theirs:
            base["qps"] = theirs["qps"]
    return base


def _from_totals(state: WebState, total: dict[str, Any]) -> Data:
    queries = int(total.get("queries", 0))
    hits, misses = int(total.get("cache_hits", 0)), int(total.get("cache_misses", 0))
    tiers = {spec.id: spec.tier for spec in state.config.lists}
    per_list = [
        {"list": list_id, "tier": tiers.get(list_id, "operator"), "hits": int(n)}
        for list_id, n in sorted((total.get("list_hits") or {}).items(),
                                 key=lambda item: (-int(item[1]), item[0]))
    ]
    return {
        "qps": state.sampler.rate("queries"),
        "queries": queries,
        "blocked": int(total.get("blocked", 0)),
        "blocked_share": {
            tier: (int(total.get(f"blocked_{tier}", 0)) / queries if queries else 0.0)
            for tier in TIERS
        },
        "hits_per_list": per_list,
        "cache_hit_ratio": hits / (hits + misses) if hits + misses else None,
        "workers": int(total.get("workers", 0)),
    }


async def chart_points(request: web.Request, now: float) -> list[dict[str, float]]:
    """(time, queries, blocked) per BUCKET over the last day: the database's per-minute
    rollups when connected, else the sampler's last minutes."""
    points: list[dict[str, float]] = []
    if has_store(request):
        rows = await store_call(request, _series, now - DAY, now)
        points = _bucketed(rows)
    if not points:
        points = _from_samples(request.app[STATE])
    return points


def _series(store: Any, since: float, until: float) -> list[Any]:
    from datetime import UTC, datetime

    return list(store.stats.series(datetime.fromtimestamp(since, UTC),
                                   datetime.fromtimestamp(until, UTC), "minute"))


def _field(row: Any, name: str, default: Any = 0) -> Any:
    if isinstance(row, dict):
        return row.get(name, default)
    return getattr(row, name, default)


def _bucketed(rows: list[Any]) -> list[dict[str, float]]:
    buckets: dict[float, list[float]] = {}
    for row in rows:
        at = _field(row, "at", None) or _field(row, "start", None)
        if at is None:
            continue
        stamp = at.timestamp() if hasattr(at, "timestamp") else float(at)
        key = stamp - stamp % BUCKET
        box = buckets.setdefault(key, [0.0, 0.0])
        box[0] += float(_field(row, "queries", 0) or 0)
        box[1] += float(_field(row, "blocked", 0) or 0)
    return [{"t": t, "queries": q, "blocked": b} for t, (q, b) in sorted(buckets.items())]


def _from_samples(state: WebState) -> list[dict[str, float]]:
    samples = list(state.sampler.samples)
    points = []
    for (_t0, a), (t1, b) in zip(samples, samples[1:], strict=False):
        points.append({"t": t1,
                       "queries": max(int(b.get("queries", 0)) - int(a.get("queries", 0)), 0),
                       "blocked": max(int(b.get("blocked", 0)) - int(a.get("blocked", 0)), 0)})
    return points


def polyline(points: list[dict[str, float]], key: str, top: float, start: float,
             span: float) -> str:
    """SVG polyline points for one series (the page's script draws updates the same way)."""
    if not points:
        return ""
    scale = (CHART_H - 4) / top if top else 0.0
    return " ".join(
        f"{(p['t'] - start) / span * CHART_W:.1f},{CHART_H - 2 - p[key] * scale:.1f}"
        for p in points)


async def data(request: web.Request) -> Data:
    state = request.app[STATE]
    now = state.clock()
    from admin.web.pages.health import mandatory_problems

    figures = await asyncio.to_thread(numbers, state)
    problems = await asyncio.to_thread(mandatory_problems, state, now)
    points = await chart_points(request, now)
    start = now - DAY if points and points[0]["t"] < now - 3600 else (
        points[0]["t"] if points else now)
    span = max(now - start, 1.0)
    top = max([p["queries"] for p in points] + [1.0])
    return {
        **figures,
        "mandatory_problems": problems,
        "chart": {
            "points": points, "start": start, "end": now, "top": top,
            "queries_line": polyline(points, "queries", top, start, span),
            "blocked_line": polyline(points, "blocked", top, start, span),
            "width": CHART_W, "height": CHART_H,
            "from": time.strftime("%H:%M", time.gmtime(start)),
            "to": time.strftime("%H:%M", time.gmtime(now)),
        },
    }


def register(app: web.Application) -> None:
    add_page(app, "/", "dashboard.html", data, title="dash_title", api="/dashboard")
