"""Check a name: the `straja check` explanation for a name, a client and a time."""

from __future__ import annotations

import asyncio

from aiohttp import web

from admin.checkname import check_name
from admin.web.state import STATE
from admin.web.views import Data, FieldError, add_page, jsonable
from blocklists.errors import InvalidNameError
from resolver.groups import parse_at


async def data(request: web.Request) -> Data:
    name = request.query.get("name", "").strip()
    client = request.query.get("client", "").strip() or None
    at_text = request.query.get("at", "").strip()
    asked = {"name": name, "client": client or "", "at": at_text}
    if not name:
        return {"asked": asked, "result": None}
    try:
        at = parse_at(at_text) if at_text else None
    except ValueError as exc:
        raise FieldError("at", f"at: {exc}") from None
    config = request.app[STATE].config
    try:
        result = await asyncio.to_thread(check_name, config, name, client, at)
    except InvalidNameError as exc:
        raise FieldError("name", f"name: {exc}") from None
    except ValueError as exc:
        raise FieldError("client", f"client: {exc}") from None
    return {"asked": asked, "result": {**jsonable(result), "blocked": result.blocked}}


def register(app: web.Application) -> None:
    add_page(app, "/check", "check.html", data, title="check_title")
