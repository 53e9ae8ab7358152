"""Dashboard: queries per second, blocked share per tier, hits per list, cache hit ratio, and
the 24-hour chart (`GET /api/v1/dashboard`, which the page's script polls to redraw)."""

from __future__ import annotations

import asyncio
import math
import time
from dataclasses import dataclass
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
    rows = await store_call(request, _series, request.app[STATE].db, now - DAY, now)
    return _bucketed(rows)


def _series(store: Any, db: Any, since: float, until: float) -> list[Any]:
    """The stored minutes and, read on the database thread in the same turn (so no count
    is in both or in neither), the ones still waiting for admin.flush_interval: the chart
    is as fresh with `flush_interval: 10m` as with the default."""
    from datetime import UTC, datetime

    start, end = datetime.fromtimestamp(since, UTC), datetime.fromtimestamp(until, UTC)
    rows: list[Any] = list(store.stats.series(start, end, "minute"))
    rows += [_Pending(d.minute, d.metric, d.list_id, d.count) for d in db.pending_rows()
             if start <= d.minute < end]
    return rows


@dataclass(frozen=True, slots=True)
class _Pending:
    bucket: Any
    metric: str
    list_id: str
    count: int


def _bucketed(rows: list[Any]) -> list[dict[str, float]]:
    buckets: dict[float, list[float]] = {}
    for row in rows:
        if row.metric not in ("queries", "blocked") or (row.metric == "queries" and row.list_id):
            continue
        stamp = row.bucket.timestamp()
        box = buckets.setdefault(stamp - stamp % BUCKET, [0.0, 0.0])
        box[row.metric == "blocked"] += row.count
    return [{"t": t, "queries": q, "blocked": b} for t, (q, b) in sorted(buckets.items())]


def chart(points: list[dict[str, float]], now: float) -> Data:
    """The chart's geometry: one bar per BUCKET (queries, with the blocked part over it),
    over the last day, or the last hour while there is less history. The page's script
    draws updates the same way from the same numbers."""
    end = math.ceil(now / BUCKET) * BUCKET  # the current bucket's end: its bar fits
    first = min((p["t"] for p in points), default=end)
    start = max(end - DAY, min(first, end - 3600.0))
    span = max(end - start, 1.0)
    top = max([p["queries"] for p in points] + [1.0])
    width = max(BUCKET / span * CHART_W - 1.0, 1.5)
    scale = (CHART_H - 4) / top
    bars = [{"x": round((p["t"] - start) / span * CHART_W, 1), "w": round(width, 1),
             "q": round(p["queries"] * scale, 1), "b": round(p["blocked"] * scale, 1)}
            for p in points]
    return {"points": points, "start": start, "end": end, "top": top, "bucket": BUCKET,
            "bars": bars, "width": CHART_W, "height": CHART_H,
            "from": time.strftime("%a %H:%M", time.gmtime(start)),
            "to": time.strftime("%a %H:%M", time.gmtime(end))}


async def data(request: web.Request) -> Data:
    state = request.app[STATE]
    now = state.clock()
    from admin.web.pages.health import mandatory_problems

    figures = await asyncio.to_thread(numbers, state)
    problems = mandatory_problems(figures["lists"])
    points = await chart_points(request, now)
    return {**figures, "mandatory_problems": problems, "chart": chart(points, now)}


def register(app: web.Application) -> None:
    add_page(app, "/", "dashboard.html", data, title="dash_title", api="/dashboard")
