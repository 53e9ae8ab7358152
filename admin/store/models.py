"""The database schema as typed SQLAlchemy models. Alembic revisions under migrations/
create exactly these tables; a test checks the two agree.

Tables whose rows belong to one node (a Straja instance with its own state_dir) carry
`node_id`, so several nodes of an ISP's fleet can share one database. Times are stored as
UTC and always read back timezone-aware.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column
from sqlalchemy.types import TypeDecorator


class UtcDateTime(TypeDecorator[datetime]):
    """A datetime stored as naive UTC (SQLite keeps no zone) and read back aware in UTC."""

    impl = DateTime
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("a naive datetime reached the database; use datetime.now(UTC)")
        return value.astimezone(UTC).replace(tzinfo=None)

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        return None if value is None else value.replace(tzinfo=UTC)


NODE = 64  # the length of a node id
NAME = 255  # a domain name in presentation form


class Base(DeclarativeBase):
    # JSON columns name their type: SQLAlchemy 2.0.0 to 2.0.20 cannot look up list[Any]
    # in this map under `from __future__ import annotations` (scripts/test-minimums).
    type_annotation_map = {datetime: UtcDateTime}


class UserRow(Base):
    __tablename__ = "users"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(64), unique=True)
    role: Mapped[str] = mapped_column(String(16))
    password_hash: Mapped[str] = mapped_column(String(255))
    created: Mapped[datetime]


class LoginFailureRow(Base):
    """Failed logins per account and source address: the throttle's memory."""

    __tablename__ = "login_failures"
    __table_args__ = (UniqueConstraint("name", "source"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(64))
    source: Mapped[str] = mapped_column(String(64))
    failures: Mapped[int] = mapped_column(Integer)
    last_failure: Mapped[datetime]
    locked_until: Mapped[datetime]


class SessionRow(Base):
    __tablename__ = "sessions"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    csrf: Mapped[str] = mapped_column(String(64))
    created: Mapped[datetime]
    expires: Mapped[datetime]


class TokenRow(Base):
    __tablename__ = "api_tokens"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(64))
    secret_hash: Mapped[str] = mapped_column(String(64), unique=True)
    scopes: Mapped[str] = mapped_column(String(64))  # space-separated: read write metrics
    created: Mapped[datetime]
    last_used: Mapped[datetime | None]
    revoked: Mapped[datetime | None]


class AuditRow(Base):
    __tablename__ = "audit_log"
    __table_args__ = (Index("ix_audit_log_at", "at"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    node_id: Mapped[str] = mapped_column(String(NODE))
    at: Mapped[datetime]
    actor: Mapped[str] = mapped_column(String(128))
    action: Mapped[str] = mapped_column(String(64))
    target: Mapped[str] = mapped_column(String(NAME))
    before: Mapped[Any | None] = mapped_column(JSON)
    after: Mapped[Any | None] = mapped_column(JSON)


class OverrideRow(Base):
    __tablename__ = "overrides"
    __table_args__ = (UniqueConstraint("kind", "name"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    kind: Mapped[str] = mapped_column(String(8))
    name: Mapped[str] = mapped_column(String(NAME))
    comment: Mapped[str] = mapped_column(Text, default="")
    expires: Mapped[datetime | None]
    created_by: Mapped[str] = mapped_column(String(128))
    created: Mapped[datetime]


class GroupRow(Base):
    __tablename__ = "managed_groups"

    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    clients: Mapped[list[Any]] = mapped_column(JSON)
    lists: Mapped[list[Any]] = mapped_column(JSON)
    safe_search: Mapped[bool] = mapped_column(Boolean)
    schedules: Mapped[list[Any]] = mapped_column(JSON)


class PauseRow(Base):
    __tablename__ = "pauses"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    group: Mapped[str | None] = mapped_column(String(64))  # None: every group
    until: Mapped[datetime]
    by: Mapped[str] = mapped_column(String(128))
    created: Mapped[datetime]


class ListEventRow(Base):
    """Activations and refusals of list versions, mirrored from state_dir (the truth)."""

    __tablename__ = "list_events"
    __table_args__ = (
        UniqueConstraint("node_id", "list_id", "event", "at"),
        Index("ix_list_events_list_at", "list_id", "at"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    node_id: Mapped[str] = mapped_column(String(NODE))
    at: Mapped[datetime]
    list_id: Mapped[str] = mapped_column(String(64))
    event: Mapped[str] = mapped_column(String(16))  # activated | refused
    serial: Mapped[int | None] = mapped_column(BigInteger)
    reason: Mapped[str] = mapped_column(Text, default="")


class RollupRow(Base):
    """Counter deltas per bucket: `resolution` minute (kept 2 days), hour (90 days) or day
    (forever). Empty strings stand for a dimension a metric does not have."""

    __tablename__ = "stats_rollups"

    node_id: Mapped[str] = mapped_column(String(NODE), primary_key=True)
    resolution: Mapped[str] = mapped_column(String(8), primary_key=True)
    bucket: Mapped[datetime] = mapped_column(primary_key=True)
    metric: Mapped[str] = mapped_column(String(32), primary_key=True)
    list_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    tier: Mapped[str] = mapped_column(String(16), primary_key=True)
    action: Mapped[str] = mapped_column(String(16), primary_key=True)
    rcode: Mapped[str] = mapped_column(String(16), primary_key=True)
    count: Mapped[int] = mapped_column(BigInteger)


class ReportRow(Base):
    """A "looks wrongly blocked" report from the STOP page; never who sent it."""

    __tablename__ = "reports"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    node_id: Mapped[str] = mapped_column(String(NODE))
    at: Mapped[datetime]
    name: Mapped[str] = mapped_column(String(NAME))
    list_id: Mapped[str] = mapped_column(String(64))
    comment: Mapped[str] = mapped_column(Text, default="")
    state: Mapped[str] = mapped_column(String(16), default="open")


class NodeStateRow(Base):
    """Small per-node bookmarks, e.g. how far reports.jsonl has been imported."""

    __tablename__ = "node_state"

    node_id: Mapped[str] = mapped_column(String(NODE), primary_key=True)
    key: Mapped[str] = mapped_column(String(64), primary_key=True)
    value: Mapped[str] = mapped_column(Text)


class QueryLogRow(Base):
    """The opt-in query log. `client` is NULL at level 2 and for every mandatory hit."""

    __tablename__ = "query_log"
    __table_args__ = (Index("ix_query_log_node_at", "node_id", "at"),)

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"),
                                    primary_key=True)
    node_id: Mapped[str] = mapped_column(String(NODE))
    at: Mapped[datetime]
    client: Mapped[str | None] = mapped_column(String(64))
    name: Mapped[str] = mapped_column(String(NAME))
    qtype: Mapped[str] = mapped_column(String(16))
    action: Mapped[str] = mapped_column(String(16))
    rcode: Mapped[str] = mapped_column(String(16))
    list_id: Mapped[str | None] = mapped_column(String(64))
    tier: Mapped[str | None] = mapped_column(String(16))
