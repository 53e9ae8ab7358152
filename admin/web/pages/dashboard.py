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
    """The dashboard's figures, from h/metrics' `dashboard_numbers` (what `straja stats`
    shows too), with hits per list as rows, busiest first."""
    from admin.metrics import dashboard_numbers

    figures = dashboard_numbers(state.config)
    rows = [{"list": list_id, "tier": v["tier"], "hits": v["hits"]}
            for list_id, v in figures.get("list_hits", {}).items()]
    rows.sort(key=lambda r: (-r["hits"], r["list"]))
    share = {tier: figures["blocked_share"].get(tier) or 0.0 for tier in TIERS}
    return {"qps": figures["qps"], "queries": figures["queries"], "blocked": figures["blocked"],
            "blocked_share": share, "hits_per_list": rows,
            "cache_hit_ratio": figures["cache_hit_ratio"], "workers": figures["workers"],
            "upstreams": figures["upstreams"], "lists": figures["lists"],
            "mandatory_deficit": figures["mandatory_deficit"]}


async def chart_points(request: web.Request, now: float) -> list[dict[str, float]]:
    """(time, queries, blocked) per BUCKET over the last day, from the per-minute rollups."""
    if not has_store(request):
        return []
    rows = await store_call(request, _series, now - DAY, now)
    return _bucketed(rows)


def _series(store: Any, since: float, until: float) -> list[Any]:
    from datetime import UTC, datetime

    return list(store.stats.series(datetime.fromtimestamp(since, UTC),
                                   datetime.fromtimestamp(until, UTC), "minute"))


def _bucketed(rows: list[Any]) -> list[dict[str, float]]:
    buckets: dict[float, list[float]] = {}
    for row in rows:
        if row.metric not in ("queries", "blocked") or (row.metric == "queries" and row.list_id):
            continue
        stamp = row.bucket.timestamp()
        box = buckets.setdefault(stamp - stamp % BUCKET, [0.0, 0.0])
        box[row.metric == "blocked"] += row.count
    return [{"t": t, "queries": q, "blocked": b} for t, (q, b) in sorted(buckets.items())]


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
    problems = mandatory_problems(figures["lists"])
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
