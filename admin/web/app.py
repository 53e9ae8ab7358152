"""The admin app's one factory, `build_app`, which `start_admin_ui` and the tests both call.

Middlewares, outermost first: timing (h/metrics' `observe_http`), security headers and the
language cookie, errors as JSON under /api/v1, then authentication and CSRF. The app owns
no long-lived resource: the database thread belongs to whoever passed `db`, the listening
sockets to admin.web.server.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from aiohttp import web

from admin.web import auth
from admin.web.rendering import Templates
from admin.web.state import STATE, WebState
from admin.web.texts import LANGUAGES
from admin.web.views import API, json_error, render

if TYPE_CHECKING:
    from admin.config import Config

log = logging.getLogger("straja.web")

STATIC = Path(__file__).parent / "static"
MAX_BODY = 64 * 1024
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]

# Scripts and styles only from this origin, nothing framed, nothing sent elsewhere. Charts
# are inline SVG elements with presentation attributes, which CSP does not treat as styles.
CSP = ("default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
       "connect-src 'self'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'")
SECURITY_HEADERS = {
    "Content-Security-Policy": CSP,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "X-Frame-Options": "DENY",
    "Cross-Origin-Opener-Policy": "same-origin",
    "Server": "Straja",
}


def build_app(config: Config, db: Any, *, tls: bool = False,
              clock: Callable[[], float] = time.time, memory_log: Any = None
              ) -> web.Application:
    """The admin web app over `config` and the database thread `db` (None: pages that need
    the database say it is not available)."""
    app = web.Application(
        client_max_size=MAX_BODY,
        middlewares=[_timing, _headers, _errors, auth.auth_middleware],
        handler_args={"max_field_size": 8190, "max_line_size": 8190},
    )
    state = WebState(config=config, db=db, templates=Templates(), clock=clock, tls=tls,
                     memory_log=memory_log)
    app[STATE] = state
    auth.add_routes(app)
    from admin.web.pages import register_all

    register_all(app)
    app.router.add_static("/static", STATIC, append_version=False)
    return app


def _handler_name(request: web.Request) -> str:
    resource = request.match_info.route.resource
    return resource.canonical if resource is not None else "unmatched"


@web.middleware
async def _timing(request: web.Request, handler: Handler) -> web.StreamResponse:
    started = time.perf_counter()
    code = 500
    try:
        response = await handler(request)
        code = response.status
        return response
    except web.HTTPException as exc:
        code = exc.status
        raise
    finally:
        _observe(_handler_name(request), request.method, code, time.perf_counter() - started)


def _observe(handler: str, method: str, code: int, seconds: float) -> None:
    from admin.metrics import observe_http

    observe_http(handler, method, code, seconds)


@web.middleware
async def _headers(request: web.Request, handler: Handler) -> web.StreamResponse:
    try:
        response = await handler(request)
    except web.HTTPException as exc:
        _decorate(request, exc)
        raise
    _decorate(request, response)
    return response


def _decorate(request: web.Request, response: web.StreamResponse) -> None:
    response.headers.update(SECURITY_HEADERS)
    if not request.path.startswith("/static/"):
        response.headers["Cache-Control"] = "no-store"
    if request.app[STATE].tls:
        response.headers["Strict-Transport-Security"] = "max-age=31536000"
    lang = request.query.get("lang")
    if lang in LANGUAGES and not response.prepared:
        response.set_cookie("lang", lang, samesite="Strict", path="/",
                            max_age=365 * 86400, secure=request.app[STATE].tls)


@web.middleware
async def _errors(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Errors as JSON under /api/v1 (with the field they concern), as a page elsewhere."""
    from admin.web.views import FieldError, StoreMissing

    api = request.path.startswith(API + "/")
    try:
        return await handler(request)
    except FieldError as exc:
        if api:
            return json_error(exc.field, exc.message, exc.status)
        return render(request, "error.html", {"message": exc.message}, title="error_title",
                      status=exc.status)
    except StoreMissing as exc:
        if api:
            return json_error(None, str(exc), 503)
        return render(request, "error.html", {"message": str(exc)}, title="error_title",
                      status=503)
    except web.HTTPException as exc:
        if api and exc.status >= 400:
            return json_error(None, exc.reason, exc.status)
        raise
    except Exception:
        log.exception("the admin UI failed on %s %s", request.method, _handler_name(request))
        message = "An internal error occurred; the log says more."
        if api:
            return json_error(None, message, 500)
        return render(request, "error.html", {"message": message}, title="error_title",
                      status=500)
