"""The wrongly-blocked queue: the STOP page's reports, each allowed, dismissed or kept."""

from __future__ import annotations

from collections.abc import Mapping

from aiohttp import web

from admin.web.auth import actor
from admin.web.state import STATE
from admin.web.views import Data, FieldError, add_action, add_page, need, store_call

ACTIONS = ("allow", "dismiss", "keep")


async def data(request: web.Request) -> Data:
    state = request.query.get("state", "open")
    if state not in ("open", "allowed", "dismissed", "kept", "all"):
        raise FieldError("state", f"state: {state!r} is not open, allowed, dismissed, kept "
                         "or all.")
    shown = None if state == "all" else state
    reports = await store_call(request, lambda s: s.reports.list(state=shown))
    return {"state": state, "reports": reports}


async def resolve(request: web.Request, fields: Mapping[str, str]) -> Data:
    from admin import changes

    raw = need(fields, "id", "the report's id")
    action = need(fields, "action", "allow, dismiss or keep")
    if not raw.isdigit():
        raise FieldError("id", f"id: {raw!r} is not a report id.")
    if action not in ACTIONS:
        raise FieldError("action", f"action: {action!r} is not allow, dismiss or keep.")
    config = request.app[STATE].config
    who = actor(request)
    await store_call(request, lambda s: changes.resolve_report(
        s, config, report_id=int(raw), action=action, actor=who))
    return {"report": int(raw), "action": action}


def register(app: web.Application) -> None:
    page = add_page(app, "/reports", "reports.html", data, title="reports_title")
    add_action(app, "/reports/resolve", resolve, page=page)
