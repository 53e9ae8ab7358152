"""Overrides: allow and deny entries managed here (through admin.changes, audited and
published to the workers), beside the config file's local.allow/local.deny (read-only).
An allow that a mandatory list overrides is refused by the changes service, with why."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime

from aiohttp import web

from admin.web.auth import actor
from admin.web.state import STATE
from admin.web.views import (
    Data,
    FieldError,
    add_action,
    add_page,
    has_store,
    id_field,
    need,
    store_call,
)


def parse_expiry(text: str, field: str = "expires") -> datetime | None:
    """An optional ISO 8601 time (`2026-12-24T18:00`, UTC unless it names a zone)."""
    text = text.strip()
    if not text:
        return None
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise FieldError(field, f"{field}: {text!r} is not a time; write it like "
                         "2026-12-24T18:00.") from None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


async def data(request: web.Request) -> Data:
    local = request.app[STATE].config.local
    managed = await store_call(request, lambda s: s.overrides.list()) if has_store(
        request) else None
    return {"config": {"allow": list(local.allow), "deny": list(local.deny)},
            "overrides": managed, "store": has_store(request)}


async def add(request: web.Request, fields: Mapping[str, str]) -> Data:
    from admin import changes

    kind = need(fields, "kind", "allow or deny")
    if kind not in ("allow", "deny"):
        raise FieldError("kind", f"kind: {kind!r} is neither allow nor deny.")
    name = need(fields, "name", "a domain name")
    expires = parse_expiry(fields.get("expires", ""))
    config = request.app[STATE].config
    who = actor(request)
    override = await store_call(
        request, lambda s: changes.add_override(s, config, kind=kind, name=name,
                                                comment=fields.get("comment", "").strip(),
                                                expires=expires, actor=who))
    return {"override": override}


async def remove(request: web.Request, fields: Mapping[str, str]) -> Data:
    from admin import changes

    override_id = id_field(fields, "id", "an override id")
    config = request.app[STATE].config
    who = actor(request)
    await store_call(request, lambda s: changes.remove_override(
        s, config, override_id=override_id, actor=who))
    return {"removed": override_id}


def register(app: web.Application) -> None:
    page = add_page(app, "/overrides", "overrides.html", data, title="overrides_title")
    add_action(app, "/overrides/add", add, page=page)
    add_action(app, "/overrides/remove", remove, page=page)


