"""Typed config sections of the control plane: `admin:` (the UI, API and database) and
`query_log:` (the opt-in query log). admin.config builds them from YAML like every section."""

from __future__ import annotations

import socket
from dataclasses import dataclass, field
from typing import Literal

from resolver.settings import HostPort, duration

FLUSH_INTERVAL = 2.0  # seconds between database writes, admin.flush_interval's default
MIN_FLUSH, MAX_FLUSH = 1.0, 3600.0


def _parse_listen(text: str) -> HostPort:
    return HostPort.parse(text)


@dataclass(slots=True)
class AdminSettings:
    """`admin:` where the UI listens, which database holds the operator's state, and who
    this node is when several nodes share one database."""

    enabled: bool = True
    listen: list[HostPort] = field(
        default_factory=lambda: [HostPort("127.0.0.1", 8053)],
        metadata={"parse": _parse_listen},
    )
    database: str | None = None  # a SQLAlchemy URL; None: sqlite:///<state_dir>/straja.db
    tls_cert: str | None = None
    tls_key: str | None = None
    metrics_auth: Literal["token", "none"] = "token"
    node_id: str = field(default_factory=socket.gethostname)
    # How often rollups (and the other periodic writes: list events, the query log) reach
    # the database. Routers set 10m so flash is written six times an hour, not thirty.
    flush_interval: float = duration(FLUSH_INTERVAL)

    def validate(self) -> None:
        if self.enabled and not self.listen:
            raise ValueError("listen is empty; name at least one address as host:port, "
                             "or set enabled: false")
        if self.database is not None and "://" not in self.database:
            raise ValueError(f"database {self.database!r} is not a SQLAlchemy URL; write it "
                             "like sqlite:////var/lib/straja/straja.db or "
                             "postgresql+psycopg://straja@localhost/straja")
        if (self.tls_cert is None) != (self.tls_key is None):
            raise ValueError("tls_cert and tls_key go together; set both or neither")
        if not MIN_FLUSH <= self.flush_interval <= MAX_FLUSH:
            raise ValueError(f"flush_interval {self.flush_interval:g}s is out of range; write "
                             "between 1s and 1h, e.g. 2s (the default) or 10m on a router")
        if not self.node_id.strip() or len(self.node_id) > 64:
            raise ValueError(f"node_id {self.node_id!r} must be 1 to 64 characters")


@dataclass(slots=True)
class QueryLogSettings:
    """`query_log:` off by default. level 0 keeps the client, 1 keeps its /24 (IPv4) or /48
    (IPv6), 2 keeps no client at all; mandatory-tier hits never keep one at any level."""

    enabled: bool = False
    level: Literal[0, 1, 2] = 1
    retention: float = duration(7 * 86400)
    # database: entries are stored (and survive restarts); memory: a ring of the newest
    # memory_entries in the control process, never written to disk (routers' flash).
    storage: Literal["database", "memory"] = "database"
    memory_entries: int = 10000

    def validate(self) -> None:
        if isinstance(self.level, bool):
            raise ValueError("level is 0 (full client), 1 (client anonymised) or 2 (no client)")
        if self.retention <= 0:
            raise ValueError("retention must be longer than 0, e.g. 7d")
        if isinstance(self.memory_entries, bool) or not 1 <= self.memory_entries <= 1_000_000:
            raise ValueError(f"memory_entries {self.memory_entries!r} must be a whole number "
                             "from 1 to 1000000, e.g. 10000")
