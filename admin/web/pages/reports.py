"""The wrongly-blocked queue: the STOP page's reports, each allowed, dismissed or kept."""

from __future__ import annotations

from collections.abc import Mapping

from aiohttp import web

from admin.web.auth import actor
from admin.web.state import STATE
from admin.web.views import Data, FieldError, add_action, add_page, id_field, need, store_call

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

    report_id = id_field(fields, "id", "a report id")
    action = need(fields, "action", "allow, dismiss or keep")
    if action not in ACTIONS:
        raise FieldError("action", f"action: {action!r} is not allow, dismiss or keep.")
    config = request.app[STATE].config
    who = actor(request)
    await store_call(request, lambda s: changes.resolve_report(
        s, config, report_id=report_id, action=action, actor=who))
    return {"report": report_id, "action": action}


def register(app: web.Application) -> None:
    page = add_page(app, "/reports", "reports.html", data, title="reports_title")
    add_action(app, "/reports/resolve", resolve, page=page)
