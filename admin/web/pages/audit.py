"""The audit log: every change, who made it, when, the value before and after."""

from __future__ import annotations

from aiohttp import web

from admin.web.views import Data, FieldError, add_page, store_call

PAGE_SIZE = 50


def page_number(request: web.Request) -> int:
    raw = request.query.get("page", "1")
    if not raw.isdigit() or int(raw) < 1:
        raise FieldError("page", f"page: {raw!r} is not a page number (1, 2, ...).")
    return int(raw)


async def data(request: web.Request) -> Data:
    number = page_number(request)
    offset = (number - 1) * PAGE_SIZE
    entries = await store_call(request, lambda s: s.audit.list(PAGE_SIZE + 1, offset))
    return {"page": number, "entries": list(entries)[:PAGE_SIZE],
            "more": len(entries) > PAGE_SIZE}


def register(app: web.Application) -> None:
    add_page(app, "/audit", "audit.html", data, title="audit_title")
