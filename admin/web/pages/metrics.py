"""Prometheus at /metrics on the admin listener: h/metrics' exposition, summed over the
workers. It needs a token with the `metrics` scope unless `admin.metrics_auth: none`."""

from __future__ import annotations

import asyncio

from aiohttp import web

from admin.web.state import STATE
from admin.web.views import Rule, route


async def metrics(request: web.Request) -> web.StreamResponse:
    from admin.metrics import exposition

    body, content_type = await asyncio.to_thread(exposition, request.app[STATE].config)
    response = web.Response(body=body)
    response.headers["Content-Type"] = content_type
    return response


def register(app: web.Application) -> None:
    section = getattr(app[STATE].config, "admin", None)
    public = getattr(section, "metrics_auth", "token") == "none"
    route(app, "GET", "/metrics", metrics, Rule(public=public))
