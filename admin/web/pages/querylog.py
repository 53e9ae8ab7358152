"""The query log, when `query_log.enabled` is on; otherwise the page says none exists.
From the database, or with `query_log.storage: memory` from the control process's ring."""

from __future__ import annotations

from aiohttp import web

from admin.web.pages.audit import PAGE_SIZE, page_number
from admin.web.state import STATE
from admin.web.views import Data, add_page, store_call


async def data(request: web.Request) -> Data:
    section = getattr(request.app[STATE].config, "query_log", None)
    if not getattr(section, "enabled", False):
        return {"enabled": False, "entries": [], "page": 1, "more": False}
    number = page_number(request)
    offset = (number - 1) * PAGE_SIZE
    ring = request.app[STATE].memory_log
    if ring is not None:
        entries = ring.list(limit=PAGE_SIZE + 1, offset=offset)
    else:
        entries = list(await store_call(
            request, lambda s: s.query_log.list(limit=PAGE_SIZE + 1, offset=offset)))
    return {"enabled": True, "entries": entries[:PAGE_SIZE], "page": number,
            "more": len(entries) > PAGE_SIZE}


def register(app: web.Application) -> None:
    add_page(app, "/querylog", "querylog.html", data, title="querylog_title")
