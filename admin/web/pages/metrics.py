"""Prometheus at /metrics on the admin listener: h/metrics' exposition, summed over the
workers. It needs a token with the `metrics` scope unless `admin.metrics_auth: none`."""

from __future__ import annotations

import asyncio

from aiohttp import web

from admin.web.state import STATE
from admin.web.views import Rule, json_error, route


async def metrics(request: web.Request) -> web.StreamResponse:
    try:
        from admin.metrics import exposition
    except ImportError:
        return json_error(None, "Metrics are not available in this build.", 503)
    body, content_type = await asyncio.to_thread(exposition, request.app[STATE].config)
    response = web.Response(body=body)
    response.headers["Content-Type"] = content_type
    return response


def register(app: web.Application) -> None:
    section = getattr(app[STATE].config, "admin", None)
    public = getattr(section, "metrics_auth", "token") == "none"
    route(app, "GET", "/metrics", metrics, Rule(public=public))
