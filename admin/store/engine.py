"""Creating the engine: SQLite in WAL mode with a short busy timeout, PostgreSQL as given.

A short busy timeout matters more than it seems: the database thread would rather fail
fast and keep the rollups in its buffer than sit on a lock for the default five seconds.
"""

from __future__ import annotations

import os
from typing import Any

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import URL, make_url

BUSY_TIMEOUT_MS = 500
CONNECT_TIMEOUT_S = 3


def make_engine(url: str) -> Engine:
    """An engine for `url`; for SQLite, WAL journal, foreign keys on, 500 ms busy timeout.
    Statement parameters are hidden from error messages: they can hold password hashes."""
    parsed = make_url(url)
    if parsed.get_backend_name() != "sqlite":
        return create_engine(url, pool_pre_ping=True, pool_size=2, max_overflow=2,
                             hide_parameters=True, connect_args=_connect_args(parsed))
    _create_private(parsed.database)
    engine = create_engine(url, hide_parameters=True,
                           connect_args={"timeout": BUSY_TIMEOUT_MS / 1000})

    @event.listens_for(engine, "connect")
    def _pragmas(dbapi_connection: Any, record: Any) -> None:
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.close()

    return engine


def _create_private(database: str | None) -> None:
    """Create a missing SQLite file as 0600 (SQLite gives its -wal and -shm files the same
    mode): it holds password hashes, and the umask would leave it world-readable."""
    if not database or database == ":memory:" or database.startswith("file:"):
        return
    try:
        os.close(os.open(database, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
    except FileExistsError:
        pass
    except FileNotFoundError:
        pass  # its folder is missing: SQLite will say so when connecting


def _connect_args(url: URL) -> dict[str, Any]:
    # A server that is gone should fail a connection in seconds, not hang the DB thread.
    if url.get_backend_name() == "postgresql" and "connect_timeout" not in url.query:
        return {"connect_timeout": CONNECT_TIMEOUT_S}
    return {}


def is_sqlite(engine: Engine) -> bool:
    return engine.dialect.name == "sqlite"
