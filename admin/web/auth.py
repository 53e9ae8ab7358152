"""Who is asking: session cookies, API tokens, roles, CSRF; and the sign-in, sign-out and
first-run setup pages.

Every route needs a principal unless its Rule says `public` (sign-in, setup, static files,
and /metrics with `admin.metrics_auth: none`). A session (cookie `straja_session`,
HttpOnly, SameSite=Strict, Secure over TLS) carries a CSRF token that every post must echo
(form field `csrf` or header `X-CSRF-Token`); an API token (`Authorization: Bearer`) stands
in for it. Roles: `admin` changes, `viewer` reads. Token scopes: `read` for GET, `write`
for POST, `metrics` for /metrics.
"""

from __future__ import annotations

import hmac
import logging
import secrets
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from aiohttp import web

from admin.web.state import STATE, WebState
from admin.web.texts import text
from admin.web.views import API, FieldError, Rule, json_error, render, route, store_call

log = logging.getLogger("straja.web")

SESSION_COOKIE = "straja_session"
LOGIN_CSRF_COOKIE = "straja_login_csrf"
CSRF_FIELD = "csrf"
CSRF_HEADER = "X-CSRF-Token"
PRINCIPAL = "straja_principal"
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


@dataclass(frozen=True)
class Principal:
    """A signed-in user (via "session", with its CSRF token) or an API token (via "token")."""

    name: str
    role: str  # "admin" or "viewer"; a token with the write scope acts as admin
    via: str
    csrf: str = ""
    scopes: frozenset[str] = frozenset()

    def may(self, scope: str) -> bool:
        if self.via == "token":
            return scope in self.scopes
        return scope == "read" or self.role == "admin"

    @property
    def is_admin(self) -> bool:
        return self.may("write")


def principal_of(request: web.Request) -> Principal | None:
    value = request.get(PRINCIPAL)
    return value if isinstance(value, Principal) else None


def actor(request: web.Request) -> str:
    """The name the audit log records for this request's change."""
    me = principal_of(request)
    if me is None:
        return "anonymous"
    return me.name if me.via == "session" else f"token:{me.name}"


def _wants_json(request: web.Request) -> bool:
    return request.path.startswith(API + "/") or request.path == "/metrics"


def _rule_for(request: web.Request) -> Rule | None:
    resource = request.match_info.route.resource
    if resource is None:
        return None  # 404 or 405: the handler raises it
    canonical = resource.canonical
    if canonical.startswith("/static"):
        return Rule(public=True)
    method = "GET" if request.method == "HEAD" else request.method
    return request.app[STATE].rules.get((method, canonical), Rule())


async def _lookup(state: WebState, request: web.Request) -> Principal | None:
    if state.db is None:
        return None
    header = request.headers.get("Authorization", "")
    if header.startswith("Bearer "):
        secret = header[7:].strip()
        info = await store_call(request, lambda store: store.tokens.lookup(secret))
        if info is None or getattr(info, "revoked", None):
            return None
        scopes = frozenset(info.scopes)
        return Principal(info.name, "admin" if "write" in scopes else "viewer", "token",
                         scopes=scopes)
    token = request.cookies.get(SESSION_COOKIE)
    if not token:
        return None
    found = await store_call(request, lambda store: store.sessions.lookup(token))
    if found is None:
        return None
    user, csrf = found
    return Principal(user.name, user.role, "session", csrf=csrf)


@web.middleware
async def auth_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    rule = _rule_for(request)
    if rule is None or rule.public:
        return await handler(request)
    state = request.app[STATE]
    me = await _lookup(state, request)
    if me is None:
        if _wants_json(request) or request.method != "GET":
            return json_error(None, "Sign in first, or send an API token as "
                              "'Authorization: Bearer TOKEN'.", 401)
        raise web.HTTPSeeOther("/login?next=" + request.path)
    request[PRINCIPAL] = me
    scope = "metrics" if request.path == "/metrics" else (
        "read" if request.method in ("GET", "HEAD") else "write")
    if not me.may(scope) and not (rule.any_role and scope == "write"):
        message = ("This needs an administrator; your account is read-only."
                   if me.via == "session" else f"This needs a token with the {scope} scope.")
        return _forbidden(request, None, message)
    if scope == "write" and me.via == "session":
        sent = request.headers.get(CSRF_HEADER)
        if sent is None and request.content_type in ("application/x-www-form-urlencoded",
                                                     "multipart/form-data"):
            sent = str((await request.post()).get(CSRF_FIELD, ""))
        if not sent or not hmac.compare_digest(sent, me.csrf):
            return _forbidden(request, CSRF_FIELD, "The form's CSRF token is missing or "
                              "wrong; reload the page and try again.")
    return await handler(request)


def _forbidden(request: web.Request, field: str | None, message: str) -> web.Response:
    if _wants_json(request):
        return json_error(field, message, 403)
    return render(request, "error.html", {"message": message}, title="error_title", status=403)


# -- sign-in, sign-out, setup ------------------------------------------------------------

def _login_csrf(request: web.Request) -> str:
    token = request.cookies.get(LOGIN_CSRF_COOKIE) or secrets.token_urlsafe(24)
    request["login_csrf"] = token
    return token


def _check_login_csrf(request: web.Request, fields: dict[str, Any]) -> None:
    cookie = request.cookies.get(LOGIN_CSRF_COOKIE, "")
    sent = str(fields.get(CSRF_FIELD, ""))
    if not cookie or not sent or not hmac.compare_digest(cookie, sent):
        raise FieldError(CSRF_FIELD, "The form's CSRF token is missing or wrong; reload the "
                         "page and try again.", status=403)


def _public_page(request: web.Request, template: str, title: str, data: dict[str, Any], *,
                 error: FieldError | None = None, form: dict[str, str] | None = None,
                 status: int = 200) -> web.Response:
    token = _login_csrf(request)
    response = render(request, template, data, title=title, error=error, form=form,
                      status=status)
    response.set_cookie(LOGIN_CSRF_COOKIE, token, httponly=True, samesite="Strict",
                        secure=request.app[STATE].tls, path="/")
    return response


def _set_session(request: web.Request, response: web.StreamResponse, token: str) -> None:
    response.set_cookie(SESSION_COOKIE, token, httponly=True, samesite="Strict",
                        secure=request.app[STATE].tls, path="/")
    response.del_cookie(LOGIN_CSRF_COOKIE, path="/")


def _safe_next(value: str | None) -> str:
    if value and value.startswith("/") and not value.startswith("//") and "\\" not in value:
        return value
    return "/"


async def login_page(request: web.Request) -> web.StreamResponse:
    data = {"next": _safe_next(request.query.get("next")), "setup": await _needs_setup(request)}
    return _public_page(request, "login.html", "login_title", data)


async def login_post(request: web.Request) -> web.StreamResponse:
    state = request.app[STATE]
    post = await request.post()
    fields = {k: v for k, v in post.items() if isinstance(v, str)}
    target = _safe_next(fields.get("next"))
    data: dict[str, Any] = {"next": target, "setup": False}
    lang = _lang(request)
    shown = {"name": fields.get("name", ""), "next": target}  # never echo a password
    try:
        _check_login_csrf(request, fields)
        if state.db is None:
            raise FieldError(None, text(lang, "not_available",
                                        what=text(lang, "storage_missing")), status=503)
        name = fields.get("name", "").strip()
        password = fields.get("password", "")
        source = request.remote or "-"
        delay = await store_call(request, lambda store: store.users.login_delay(name, source))
        if delay > 0:
            seconds = int(delay + 0.999)
            raise FieldError("password", text(lang, "login_throttled", seconds=seconds),
                             status=429)
        user = await state.db.call(
            lambda store: store.users.check_password(name, password, source))
        if user is None:
            log.info("failed sign-in for user %r", name[:64])
            raise FieldError("password", text(lang, "login_failed"), status=401)
        token = await store_call(request, lambda store: store.sessions.create(user))
    except FieldError as exc:
        return _public_page(request, "login.html", "login_title", data, error=exc, form=shown,
                            status=exc.status)
    log.info("user %s signed in", user.name)
    response = web.HTTPSeeOther(target)
    _set_session(request, response, token)
    raise response


async def logout_post(request: web.Request) -> web.StreamResponse:
    state = request.app[STATE]
    token = request.cookies.get(SESSION_COOKIE)
    if token and state.db is not None:
        await store_call(request, lambda store: store.sessions.delete(token))
    response = web.HTTPSeeOther("/login")
    response.del_cookie(SESSION_COOKIE, path="/")
    raise response


async def _needs_setup(request: web.Request) -> bool:
    if request.app[STATE].db is None:
        return False
    count = await store_call(request, lambda store: store.users.count())
    return bool(count == 0)


def _setup_file(state: WebState) -> str:
    return str(state.config.state_path / "setup-token")


async def setup_page(request: web.Request) -> web.StreamResponse:
    state = request.app[STATE]
    data = {"needed": await _needs_setup(request), "file": _setup_file(state),
            "token": request.query.get("token", "")}
    return _public_page(request, "setup.html", "setup_title", data)


async def setup_post(request: web.Request) -> web.StreamResponse:
    from admin import setup_token

    state = request.app[STATE]
    post = await request.post()
    fields = {k: v for k, v in post.items() if isinstance(v, str)}
    lang = _lang(request)
    data = {"needed": True, "file": _setup_file(state), "token": fields.get("token", "")}
    try:
        _check_login_csrf(request, fields)
        if not await _needs_setup(request):
            raise FieldError(None, text(lang, "setup_done"), status=409)
        stored = setup_token.read_setup_token(state.config.state_path)
        sent = fields.get("token", "").strip()
        if not stored or not sent or not hmac.compare_digest(stored, sent):
            raise FieldError("token", text(lang, "setup_bad_token"), status=403)
        name = fields.get("name", "").strip()
        password = fields.get("password", "")
        if password != fields.get("password2", ""):
            raise FieldError("password2", text(lang, "passwords_differ"))
        user = await store_call(request, _create_first_admin, state.config, name, password)
        setup_token.consume_setup_token(state.config.state_path, sent)
        token = await store_call(request, lambda store: store.sessions.create(user))
    except FieldError as exc:
        shown = {"name": fields.get("name", "")}
        return _public_page(request, "setup.html", "setup_title", data, error=exc, form=shown,
                            status=exc.status)
    except Exception as exc:
        if type(exc).__name__ != "ChangeRefused":
            raise
        error = FieldError(getattr(exc, "field", None), getattr(exc, "message", str(exc)))
        return _public_page(request, "setup.html", "setup_title", data, error=error,
                            form={"name": fields.get("name", "")}, status=400)
    log.info("first-run setup: administrator %s created; the setup token is used up", name)
    response = web.HTTPSeeOther("/")
    _set_session(request, response, token)
    raise response


def _create_first_admin(store: Any, config: Any, name: str, password: str) -> Any:
    from admin import changes

    return changes.add_user(store, config, name=name, password=password, role="admin",
                            actor="setup")


def _lang(request: web.Request) -> str:
    from admin.web.rendering import language

    return language(request)


def add_routes(app: web.Application) -> None:
    public = Rule(public=True)
    route(app, "GET", "/login", login_page, public)
    route(app, "POST", "/login", login_post, public)
    route(app, "GET", "/setup", setup_page, public)
    route(app, "POST", "/setup", setup_post, public)
    route(app, "POST", "/logout", logout_post, Rule(any_role=True))
