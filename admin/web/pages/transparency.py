"""The transparency report: queries blocked per list and category, per day, aggregated and
with no personal data; shown, and downloaded as CSV or JSON (what `straja report
transparency` prints)."""

from __future__ import annotations

import csv
import io
import json
from datetime import UTC, date, datetime, timedelta
from typing import Any

from aiohttp import web

from admin.web.state import STATE
from admin.web.views import API, Data, FieldError, add_page, jsonable, route, store_call

DEFAULT_DAYS = 30


def _day(request: web.Request, field: str, default: date) -> date:
    raw = request.query.get(field, "").strip()
    if not raw:
        return default
    try:
        return date.fromisoformat(raw)
    except ValueError:
        raise FieldError(field, f"{field}: {raw!r} is not a day; write it like 2026-11-23."
                         ) from None


def period(request: web.Request) -> tuple[date, date]:
    today = datetime.now(UTC).date()
    start = _day(request, "from", today - timedelta(days=DEFAULT_DAYS - 1))
    end = _day(request, "to", today)
    if end < start:
        raise FieldError("to", "to: the period ends before it starts.")
    return start, end


async def rows(request: web.Request) -> tuple[date, date, list[dict[str, Any]]]:
    """The report's rows: day, list, its category (from the config), tier, blocked."""
    start, end = period(request)
    found = await store_call(request, lambda s: s.stats.transparency(start, end))
    categories = {spec.id: spec.category for spec in request.app[STATE].config.lists}
    out = []
    for row in found:
        item = jsonable(row)
        out.append({"day": item["day"], "list_id": item["list_id"],
                    "category": categories.get(item["list_id"]) or "", "tier": item["tier"],
                    "blocked": item["blocked"]})
    return start, end, out


async def data(request: web.Request) -> Data:
    start, end, found = await rows(request)
    return {"from": start.isoformat(), "to": end.isoformat(), "rows": found}


async def download(request: web.Request) -> web.StreamResponse:
    kind = request.query.get("format", "csv")
    if kind not in ("csv", "json"):
        raise FieldError("format", f"format: {kind!r} is neither csv nor json.")
    start, end, found = await rows(request)
    filename = f"straja-transparency-{start}-{end}.{kind}"
    if kind == "json":
        body = json.dumps({"from": start.isoformat(), "to": end.isoformat(), "rows": found},
                          ensure_ascii=False, indent=1)
        content_type = "application/json"
    else:
        out = io.StringIO()
        columns = ["day", "list_id", "category", "tier", "blocked"]
        writer = csv.DictWriter(out, fieldnames=columns, lineterminator="\n")
        writer.writeheader()
        writer.writerows(found)
        body, content_type = out.getvalue(), "text/csv"
    return web.Response(text=body, content_type=content_type, charset="utf-8", headers={
        "Content-Disposition": f'attachment; filename="{filename}"'})


def register(app: web.Application) -> None:
    add_page(app, "/transparency", "transparency.html", data, title="transparency_title")
    route(app, "GET", API + "/transparency/download", download)
