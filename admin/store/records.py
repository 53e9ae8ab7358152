"""The shapes the store's repositories return: frozen dataclasses, no database types."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal

Role = Literal["admin", "viewer"]
ROLES: tuple[str, ...] = ("admin", "viewer")
SCOPES: tuple[str, ...] = ("read", "write", "metrics")
REPORT_STATES: tuple[str, ...] = ("open", "allowed", "dismissed", "kept")


@dataclass(frozen=True, slots=True)
class User:
    name: str
    role: str  # admin | viewer
    created: datetime
    locked_until: datetime | None = None  # the latest throttle on this account, any source


@dataclass(frozen=True, slots=True)
class TokenInfo:
    id: int
    name: str
    scopes: frozenset[str]
    created: datetime
    last_used: datetime | None
    revoked: bool


@dataclass(frozen=True, slots=True)
class AuditEntry:
    id: int
    at: datetime
    actor: str
    action: str
    target: str
    before: Any
    after: Any


@dataclass(frozen=True, slots=True)
class Override:
    id: int
    kind: str  # allow | deny
    name: str
    comment: str
    expires: datetime | None
    created_by: str
    created: datetime


@dataclass(frozen=True, slots=True)
class ManagedGroup:
    name: str
    clients: list[str] = field(default_factory=list)
    lists: list[str] = field(default_factory=list)
    safe_search: bool = False
    schedules: list[dict[str, Any]] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class Pause:
    group: str | None  # None: every group
    until: datetime
    by: str


@dataclass(frozen=True, slots=True)
class ListEvent:
    at: datetime
    list_id: str
    event: str  # activated | refused
    serial: int | None
    reason: str


@dataclass(frozen=True, slots=True)
class Report:
    id: int
    at: datetime
    name: str
    list_id: str
    comment: str
    state: str  # open | allowed | dismissed | kept


@dataclass(frozen=True, slots=True)
class RollupDelta:
    """A counter's increase in one minute: what the rollups hand to the database thread."""

    minute: datetime
    metric: str
    count: int
    list_id: str = ""
    tier: str = ""
    action: str = ""
    rcode: str = ""


@dataclass(frozen=True, slots=True)
class SeriesRow:
    bucket: datetime
    metric: str
    list_id: str
    tier: str
    action: str
    rcode: str
    count: int


@dataclass(frozen=True, slots=True)
class TransparencyRow:
    day: str  # YYYY-MM-DD, UTC
    list_id: str
    tier: str
    blocked: int


@dataclass(frozen=True, slots=True)
class QueryLogEntry:
    at: datetime
    client: str | None
    name: str
    qtype: str
    action: str
    rcode: str
    list_id: str | None
    tier: str | None
