"""Every change an operator makes, from the web UI, the API or the CLI.

Each change validates its input, writes the store and an audit entry (who, when, the value
before and after) in one transaction, then publishes the operator state that workers read
(admin.publish, through state_dir and a generation bump, never the database). Bad input
raises ChangeRefused(field, message) with a sentence, and changes nothing.

Secrets never reach the audit log: a password change records that it happened, a token
records its name and scopes, never its secret.
"""

from __future__ import annotations

import logging
import re
from dataclasses import asdict
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from admin.store.errors import Conflict
from admin.store.records import (
    ROLES,
    SCOPES,
    ManagedGroup,
    Override,
    Pause,
    TokenInfo,
    User,
)

if TYPE_CHECKING:
    from admin.config import Config
    from admin.store import Store

log = logging.getLogger("straja.changes")

OVERRIDE_KINDS = ("allow", "deny")
PAUSE_MINUTES = (5, 30, 60)
REPORT_ACTIONS = {"allow": "allowed", "dismiss": "dismissed", "keep": "kept"}
MIN_PASSWORD = 10
_USER_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._@-]{0,63}$")
_GROUP_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9 ._-]{0,63}$")


class ChangeRefused(Exception):
    """A change that was not made; `field` names the input at fault."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field
        self.message = message


# -- overrides ------------------------------------------------------------------------------

def add_override(store: Store, config: Config, *, kind: str, name: str, comment: str = "",
                 expires: datetime | None = None, actor: str) -> Override:
    """Allow or deny `name` (and its subdomains) for every client. An allow for a name a
    mandatory list blocks is refused: the mandatory tier cannot be weakened."""
    if kind not in OVERRIDE_KINDS:
        raise ChangeRefused("kind", f"{kind!r} is not allow or deny")
    name = _domain(name)
    if expires is not None:
        if expires.tzinfo is None:
            raise ChangeRefused("expires", "give the expiry with a time zone (UTC)")
        if expires <= datetime.now(UTC):
            raise ChangeRefused("expires", "the expiry is in the past")
    if len(comment) > 500:
        raise ChangeRefused("comment", "keep the comment under 500 characters")
    if kind == "allow":
        blocking = mandatory_conflict(config, name)
        if blocking is not None:
            raise ChangeRefused("name", f"{name} is blocked by the mandatory list {blocking}; "
                                "mandatory lists cannot be overridden")
    with store.transaction():
        try:
            override = store.overrides.add(kind, name, comment=comment, expires=expires,
                                           created_by=actor)
        except Conflict as exc:
            raise ChangeRefused("name", str(exc)) from None
        store.audit.record(actor, "override.add", f"{kind} {name}", None, _jsonable(override))
    publish(store, config, "overrides")
    return override


def remove_override(store: Store, config: Config, *, override_id: int, actor: str) -> None:
    with store.transaction():
        before = store.overrides.remove(override_id)
        if before is None:
            raise ChangeRefused("override_id", f"there is no override with id {override_id}")
        store.audit.record(actor, "override.remove", f"{before.kind} {before.name}",
                           _jsonable(before), None)
    publish(store, config, "overrides")


# -- groups and pauses ----------------------------------------------------------------------

def put_group(store: Store, config: Config, group: ManagedGroup, *, actor: str) -> None:
    """Create or replace a group managed from the UI."""
    from resolver.groups import parse_client

    if not _GROUP_NAME.match(group.name):
        raise ChangeRefused("name", f"{group.name!r} must be letters, digits, ' ', '.', '_' "
                            "or '-', at most 64")
    if any(g.name == group.name for g in config.groups):
        raise ChangeRefused("name", f"the group {group.name!r} comes from the config file "
                            f"{config.source} and can be changed only there")
    clients = []
    for i, client in enumerate(group.clients):
        try:
            clients.append(str(parse_client(client)))
        except ValueError as exc:
            raise ChangeRefused(f"clients[{i}]", str(exc)) from None
    tiers = {spec.id: spec.tier for spec in config.lists}
    wanted = list(group.lists) + [i for s in group.schedules for i in s.get("lists", [])]
    for list_id in wanted:
        if list_id not in tiers:
            raise ChangeRefused("lists", f"{list_id!r} is not a configured list")
        if tiers[list_id] == "mandatory":
            raise ChangeRefused("lists", f"{list_id!r} is mandatory: it applies to every "
                                "client and is not assigned to groups")
    clean = ManagedGroup(group.name, clients, list(group.lists), bool(group.safe_search),
                         [dict(s) for s in group.schedules])
    with store.transaction():
        before = store.groups.put(clean)
        store.audit.record(actor, "group.put", clean.name,
                           None if before is None else _jsonable(before), _jsonable(clean))
    publish(store, config, "groups")


def remove_group(store: Store, config: Config, *, name: str, actor: str) -> None:
    with store.transaction():
        before = store.groups.remove(name)
        if before is None:
            raise ChangeRefused("name", f"there is no managed group named {name!r}")
        store.audit.record(actor, "group.remove", name, _jsonable(before), None)
    publish(store, config, "groups")


def pause(store: Store, config: Config, *, group: str | None, minutes: int, actor: str
          ) -> Pause:
    """Pause the operator and family tiers for `group` (None: every group) for 5, 30 or
    60 minutes. Mandatory lists keep blocking; the published pause carries no tier that
    could say otherwise."""
    if minutes not in PAUSE_MINUTES:
        raise ChangeRefused("minutes", "a pause lasts 5, 30 or 60 minutes")
    if group is not None and not _group_exists(store, config, group):
        raise ChangeRefused("group", f"there is no group named {group!r}")
    until = datetime.now(UTC).replace(microsecond=0) + timedelta(minutes=minutes)
    with store.transaction():
        before = [p for p in store.pauses.list() if p.group == group]
        paused = store.pauses.set(group, until, actor)
        store.audit.record(actor, "pause.start", group or "*",
                           _jsonable(before[0]) if before else None, _jsonable(paused))
    publish(store, config, "pauses")
    return paused


def resume(store: Store, config: Config, *, group: str | None, actor: str) -> None:
    with store.transaction():
        before = store.pauses.remove(group)
        if before is None:
            raise ChangeRefused("group", f"{group or 'every group'} is not paused")
        store.audit.record(actor, "pause.end", group or "*", _jsonable(before), None)
    publish(store, config, "pauses")


# -- reports --------------------------------------------------------------------------------

def resolve_report(store: Store, config: Config, *, report_id: int, action: str, actor: str
                   ) -> None:
    """allow (adds an allow override for the name, refused for a mandatory list's name),
    dismiss or keep a wrongly-blocked report."""
    state = REPORT_ACTIONS.get(action)
    if state is None:
        raise ChangeRefused("action", f"{action!r} is not allow, dismiss or keep")
    report = store.reports.get(report_id)
    if report is None:
        raise ChangeRefused("report_id", f"there is no report with id {report_id}")
    if action == "allow" and not any(o.kind == "allow" and o.name == report.name
                                     for o in store.overrides.list()):
        add_override(store, config, kind="allow", name=report.name,
                     comment=f"report {report_id}", actor=actor)
    with store.transaction():
        store.reports.set_state(report_id, state)
        store.audit.record(actor, "report." + action, report.name,
                           {"state": report.state}, {"state": state})


# -- users and tokens -----------------------------------------------------------------------

def add_user(store: Store, config: Config | None = None, *, name: str, password: str,
             role: str, actor: str) -> User:
    if not _USER_NAME.match(name):
        raise ChangeRefused("name", f"{name!r} must be letters, digits, '.', '_', '@' or '-', "
                            "at most 64")
    if role not in ROLES:
        raise ChangeRefused("role", f"{role!r} is not admin or viewer")
    _check_password(password)
    with store.transaction():
        try:
            user = store.users.add(name, password, role)
        except Conflict as exc:
            raise ChangeRefused("name", str(exc)) from None
        store.audit.record(actor, "user.add", name, None, {"name": name, "role": role})
    return user


def set_password(store: Store, config: Config | None = None, *, name: str, password: str,
                 actor: str) -> None:
    """Change a password; the user's sessions end. The audit says only that it changed."""
    _check_password(password)
    with store.transaction():
        if not store.users.set_password(name, password):
            raise ChangeRefused("name", f"there is no user named {name!r}")
        store.audit.record(actor, "user.password", name, None, {"password": "changed"})


def remove_user(store: Store, config: Config | None = None, *, name: str, actor: str) -> None:
    """Remove a user; the last admin cannot be removed (nobody could change anything)."""
    with store.transaction():
        user = store.users.get(name)
        if user is None:
            raise ChangeRefused("name", f"there is no user named {name!r}")
        admins = [u for u in store.users.list() if u.role == "admin"]
        if user.role == "admin" and len(admins) == 1:
            raise ChangeRefused("name", f"{name} is the last admin; add another admin first")
        store.users.remove(name)
        store.audit.record(actor, "user.remove", name, {"name": name, "role": user.role}, None)


def unlock_user(store: Store, config: Config | None = None, *, name: str, actor: str) -> int:
    """Clear the login throttle of `name` for every source; returns how many were waiting."""
    with store.transaction():
        if store.users.get(name) is None:
            raise ChangeRefused("name", f"there is no user named {name!r}")
        cleared = store.users.unlock(name)
        store.audit.record(actor, "user.unlock", name, {"throttled_sources": cleared}, None)
    return cleared


def create_token(store: Store, config: Config | None = None, *, name: str,
                 scopes: set[str] | frozenset[str] | tuple[str, ...], actor: str
                 ) -> tuple[TokenInfo, str]:
    """A new API token; the secret is returned once and stored only as a hash."""
    if not name.strip() or len(name) > 64:
        raise ChangeRefused("name", "give the token a name of 1 to 64 characters")
    unknown = sorted(set(scopes) - set(SCOPES))
    if unknown or not scopes:
        raise ChangeRefused("scopes", f"scopes are {', '.join(SCOPES)}; got "
                            f"{', '.join(unknown) or 'none'}")
    with store.transaction():
        info, secret = store.tokens.create(name, frozenset(scopes))
        store.audit.record(actor, "token.create", f"{info.id} {name}", None,
                           {"id": info.id, "name": name, "scopes": sorted(info.scopes)})
    return info, secret


def revoke_token(store: Store, config: Config | None = None, *, token_id: int, actor: str
                 ) -> None:
    with store.transaction():
        info = store.tokens.get(token_id)
        if info is None or not store.tokens.revoke(token_id):
            raise ChangeRefused("token_id", f"there is no live token with id {token_id}")
        store.audit.record(actor, "token.revoke", f"{info.id} {info.name}",
                           {"revoked": False}, {"revoked": True})


# -- publishing -----------------------------------------------------------------------------

SECTIONS = ("overrides", "groups", "pauses")


def publish(store: Store, config: Config, *sections: str) -> None:
    """Write the operator state workers read (state_dir/operator/), from the store.
    With no sections named, all of them (as the control process does at start)."""
    try:
        from admin import publish as writer
    except ImportError:  # a build without the publisher: nothing reaches the workers
        log.warning("admin.publish is not part of this build; the change is stored but "
                    "not published to the DNS workers")
        return
    state_dir = config.state_path
    for section in sections or SECTIONS:
        if section == "overrides":
            writer.publish_overrides(state_dir, [
                writer.PublishedOverride(o.kind, o.name,
                                         o.expires.timestamp() if o.expires else None)
                for o in store.overrides.list()])
        elif section == "groups":
            writer.publish_groups(state_dir, [
                writer.PublishedGroup(g.name, tuple(g.clients), tuple(g.lists), g.safe_search,
                                      tuple(g.schedules))
                for g in store.groups.list()])
        elif section == "pauses":
            writer.publish_pauses(state_dir, [
                writer.PublishedPause(p.group, p.until.timestamp())
                for p in store.pauses.list()])
        else:
            raise ValueError(f"unknown section {section!r}")


def mandatory_conflict(config: Config, name: str) -> str | None:
    """The id of a mandatory list whose active version blocks `name`, or None."""
    try:
        from admin.publish import mandatory_conflict as check
    except ImportError:
        return _mandatory_conflict(config, name)
    return check(config, name)


def _mandatory_conflict(config: Config, name: str) -> str | None:
    from blocklists.store import ListStore, open_active
    from blocklists.trie import name_to_labels

    specs = [s for s in config.lists if s.tier == "mandatory"]
    opened = open_active(ListStore(config.state_path), specs)
    try:
        labels = name_to_labels(name)
        for list_id, compiled in opened.items():
            if compiled.lookup(labels) is not None:
                return list_id
    finally:
        for compiled in opened.values():
            compiled.close()
    return None


# -- helpers --------------------------------------------------------------------------------

def _domain(name: str) -> str:
    from blocklists.errors import ListError
    from blocklists.names import normalise_name

    try:
        normalised = normalise_name(name)
    except ListError as exc:
        raise ChangeRefused("name", str(exc)) from None
    if not normalised:
        raise ChangeRefused("name", "give a domain name, e.g. example.org")
    return normalised


def _check_password(password: str) -> None:
    if len(password) < MIN_PASSWORD:
        raise ChangeRefused("password", f"a password has at least {MIN_PASSWORD} characters")


def _group_exists(store: Store, config: Config, name: str) -> bool:
    return any(g.name == name for g in config.groups) or store.groups.get(name) is not None


def _jsonable(record: Any) -> Any:
    """A record as JSON-able data for the audit log (datetimes as ISO 8601 text)."""
    data = asdict(record)
    for key, value in data.items():
        if isinstance(value, datetime):
            data[key] = value.isoformat()
        elif isinstance(value, frozenset):
            data[key] = sorted(value)
    return data
