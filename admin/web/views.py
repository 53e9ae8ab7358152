"""Pages with their JSON twins, and actions (form posts) with theirs, from one handler each.

A page is a data function `async (request) -> dict`; `add_page` serves it as HTML at `path`
(through its Jinja template) and as JSON at `/api/v1<api>`, so the two never disagree. An
action is `async (request, fields) -> dict`; as a form post it redirects back to its page
(303) or re-renders the page with the error beside the field (400); as an API write it
answers the result, or `{"error": {"field": ..., "message": ...}}` with 400.
"""

from __future__ import annotations

import dataclasses
import json
import logging
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from datetime import date, datetime
from enum import Enum
from pathlib import Path
from typing import Any

from aiohttp import web

from admin.web.state import STATE, WebState

log = logging.getLogger("straja.web")

API = "/api/v1"
Data = dict[str, Any]
PageFn = Callable[[web.Request], Awaitable[Data]]
ActionFn = Callable[[web.Request, Mapping[str, str]], Awaitable[Data]]


class FieldError(Exception):
    """Bad input to a page or an action: `field` names the input, `message` is a sentence."""

    def __init__(self, field: str | None, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.field = field
        self.message = message
        self.status = status


class StoreMissing(Exception):
    """The page needs the database and this process has none connected."""


@dataclass(frozen=True)
class Rule:
    """Who may call a route: `public` needs no sign-in; `any_role` lets a viewer post."""

    public: bool = False
    any_role: bool = False


@dataclass(frozen=True)
class Page:
    path: str
    template: str
    data: PageFn
    title: str  # a text key


def rules(app: web.Application) -> dict[tuple[str, str], Rule]:
    return app[STATE].rules


def route(app: web.Application, method: str, path: str, handler: Any, rule: Rule = Rule(),
          name: str | None = None) -> None:
    """Add a route and record who may call it (the auth middleware reads the record)."""
    app.router.add_route(method, path, handler, name=name)
    app[STATE].rules[(method, path)] = rule


def add_page(app: web.Application, path: str, template: str, data: PageFn, *, title: str,
             api: str | None = None, rule: Rule = Rule()) -> Page:
    """Serve `data` as the HTML page `path` and as JSON at /api/v1 + (`api` or `path`)."""
    page = Page(path, template, data, title)

    async def html(request: web.Request) -> web.StreamResponse:
        return await render_page(request, page)

    async def as_json(request: web.Request) -> web.StreamResponse:
        return json_response(await data(request))

    route(app, "GET", path, html, rule)
    route(app, "GET", API + (api or (path if path != "/" else "/dashboard")), as_json, rule)
    return page


def add_action(app: web.Application, path: str, fn: ActionFn, *, page: Page,
               api: str | None = None, rule: Rule = Rule()) -> None:
    """Serve `fn` as the form post `path` (back to `page`) and as POST /api/v1 + (`api`
    or `path`), which takes a JSON object or a form body."""

    async def form(request: web.Request) -> web.StreamResponse:
        fields = await form_fields(request)
        try:
            await call_action(request, fn, fields)
        except FieldError as exc:
            return await render_page(request, page, error=exc, form=fields, status=exc.status)
        raise web.HTTPSeeOther(page.path + "?done=1")

    async def as_json(request: web.Request) -> web.StreamResponse:
        fields = await api_fields(request)
        return json_response(await call_action(request, fn, fields))

    route(app, "POST", path, form, rule)
    route(app, "POST", API + (api or path), as_json, rule)


async def call_action(request: web.Request, fn: ActionFn, fields: Mapping[str, str]) -> Data:
    """Run an action, turning the changes service's refusals into a FieldError."""
    try:
        return await fn(request, fields)
    except FieldError:
        raise
    except Exception as exc:
        refused = _as_field_error(exc)
        if refused is None:
            raise
        raise refused from None


def _as_field_error(exc: Exception) -> FieldError | None:
    if type(exc).__name__ == "ChangeRefused":  # admin.changes: imported only when present
        return FieldError(getattr(exc, "field", None), getattr(exc, "message", str(exc)))
    if isinstance(exc, StoreMissing):
        return FieldError(None, str(exc), status=503)
    return None


async def form_fields(request: web.Request) -> dict[str, str]:
    """A form's fields; a repeated field (checkboxes) joined with commas."""
    post = await request.post()
    fields: dict[str, str] = {}
    for key, value in post.items():
        if isinstance(value, str):
            fields[key] = f"{fields[key]},{value}" if key in fields else value
    return fields


async def api_fields(request: web.Request) -> dict[str, str]:
    """An API body's fields as text. Bodies that are not a flat JSON object of text,
    numbers, booleans or lists of those are refused with a sentence (never a 500: a
    nesting deep enough to exhaust the parser's recursion, text that is not valid UTF-8)."""
    if request.content_type == "application/json":
        try:
            body = await request.json()
        except (ValueError, RecursionError):
            raise FieldError(None, "The request body is not valid JSON (UTF-8, nested at "
                             "most a few levels).") from None
        if not isinstance(body, dict):
            raise FieldError(None, "The request body must be a JSON object.")
        return {str(k): _field_text(str(k), v) for k, v in body.items()}
    return await form_fields(request)


def _field_text(name: str, value: object) -> str:
    if isinstance(value, bool):
        text = "1" if value else ""
    elif isinstance(value, list):
        if any(isinstance(v, (dict, list)) for v in value):
            raise FieldError(name, f"{name}: a list of text or numbers is expected.")
        text = ",".join(str(v) for v in value)
    elif isinstance(value, dict):
        raise FieldError(name, f"{name}: text, a number or a list is expected, not an object.")
    else:
        text = "" if value is None else str(value)
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        raise FieldError(name, f"{name}: the text is not valid Unicode.") from None
    return text


def id_field(fields: Mapping[str, str], name: str, what: str) -> int:
    """A required positive whole-number id (at most 18 digits, what the database holds)."""
    raw = need(fields, name, what)
    if not raw.isdigit() or len(raw) > 18 or int(raw) < 1:
        raise FieldError(name, f"{name}: {raw[:40]!r} is not {what}.")
    return int(raw)


def need(fields: Mapping[str, str], name: str, what: str) -> str:
    """A required field's value, stripped; a FieldError naming it when empty."""
    value = (fields.get(name) or "").strip()
    if not value:
        raise FieldError(name, f"{name}: {what} is required.")
    return value


async def render_page(request: web.Request, page: Page, *, error: FieldError | None = None,
                      form: Mapping[str, str] | None = None, status: int = 200
                      ) -> web.Response:
    try:
        data = await page.data(request)
    except FieldError as exc:
        data, error, status = {}, exc, exc.status
    return render(request, page.template, data, title=page.title, error=error, form=form,
                  status=status)


def render(request: web.Request, template: str, data: Data, *, title: str,
           error: FieldError | None = None, form: Mapping[str, str] | None = None,
           status: int = 200) -> web.Response:
    state: WebState = request.app[STATE]
    body = state.templates.render(request, template, data, title=title, error=error,
                                  form=form or {})
    return web.Response(text=body, content_type="text/html", charset="utf-8", status=status)


def json_response(data: object, status: int = 200) -> web.Response:
    return web.Response(text=json.dumps(jsonable(data), ensure_ascii=False),
                        content_type="application/json", charset="utf-8", status=status)


def json_error(field: str | None, message: str, status: int) -> web.Response:
    return json_response({"error": {"field": field, "message": message}}, status)


def jsonable(value: object) -> Any:
    """Plain JSON data from records: dataclasses, datetimes (ISO 8601), sets (sorted)."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: jsonable(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, Mapping):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [jsonable(v) for v in value]
    if isinstance(value, set | frozenset):
        return sorted(jsonable(v) for v in value)
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, Enum):
        return value.value
    if isinstance(value, Path):
        return str(value)
    if hasattr(value, "_asdict"):
        return jsonable(value._asdict())
    return value


async def store_call(request: web.Request, fn: Callable[..., Any], *args: Any) -> Any:
    """Run `fn(store, *args)` on the database thread; StoreMissing (503) when there is none
    or it cannot be reached now. A change's refusal passes through as it is."""
    db = request.app[STATE].db
    if db is None:
        raise StoreMissing("The database is not connected in this process, so this part of "
                           "the UI is not available.")
    from sqlalchemy.exc import SQLAlchemyError

    from admin.store.dbthread import describe_error

    try:
        return await db.call(fn, *args)
    except (SQLAlchemyError, RuntimeError) as exc:
        raise StoreMissing(f"The database cannot be reached now ({describe_error(exc)}); "
                           "DNS keeps answering. Try again in a moment.") from None


def has_store(request: web.Request) -> bool:
    return request.app[STATE].db is not None
