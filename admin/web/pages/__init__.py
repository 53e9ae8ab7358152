"""One module per page of the admin UI (each with its /api/v1 twin and its actions)."""

from __future__ import annotations

from aiohttp import web

from admin.web.pages import (
    audit,
    check,
    dashboard,
    groups,
    health,
    lists,
    metrics,
    overrides,
    querylog,
    reports,
    transparency,
)

MODULES = (dashboard, health, lists, check, overrides, groups, reports, audit, querylog,
           transparency, metrics)


def register_all(app: web.Application) -> None:
    for module in MODULES:
        module.register(app)
