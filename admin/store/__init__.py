"""The operator's state in a SQL database (SQLite by default, PostgreSQL for fleets).

`Store` owns the engine and the repositories; its methods are synchronous and run on the
database thread (admin.store.dbthread) in the daemon, directly in the CLI. DNS workers
never import this package.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

from sqlalchemy import Engine
from sqlalchemy.orm import Session

from admin.store.engine import make_engine

if TYPE_CHECKING:
    from admin.config import Config

log = logging.getLogger("straja.store")


class Store:
    """One owner of the SQLAlchemy engine, with a repository per table family."""

    def __init__(self, url: str, *, node_id: str) -> None:
        from admin.store.repos import (
            Audit,
            Groups,
            ListEvents,
            NodeState,
            Overrides,
            Pauses,
            QueryLog,
            Reports,
            Sessions,
            Stats,
            Tokens,
            Users,
        )

        self.url = url
        self.node_id = node_id
        self.engine: Engine = make_engine(url)
        self._local = threading.local()
        self.users = Users(self)
        self.sessions = Sessions(self)
        self.tokens = Tokens(self)
        self.audit = Audit(self)
        self.overrides = Overrides(self)
        self.groups = Groups(self)
        self.pauses = Pauses(self)
        self.list_events = ListEvents(self)
        self.stats = Stats(self)
        self.reports = Reports(self)
        self.query_log = QueryLog(self)
        self.node_state = NodeState(self)

    def migrate(self) -> None:
        """Apply every migration not applied yet, under the migration lock."""
        from admin.store.migrate import upgrade

        upgrade(self.engine)

    def ensure_current(self) -> None:
        """Like migrate(), for the serving process: a schema at the newest revision is
        checked in plain SQL, and migrations run in a short-lived subprocess, so Alembic
        is never loaded here."""
        from admin.store.migrate import is_current, upgrade_in_subprocess

        if not is_current(self.engine):
            upgrade_in_subprocess(self.url)

    def close(self) -> None:
        self.engine.dispose()

    @contextmanager
    def transaction(self) -> Iterator[Session]:
        """One transaction for everything the repositories do inside the block (a change
        and its audit entry commit together or not at all). Blocks nest into the outer one."""
        current: Session | None = getattr(self._local, "session", None)
        if current is not None:
            yield current
            return
        with Session(self.engine, expire_on_commit=False) as session, session.begin():
            self._local.session = session
            try:
                yield session
            finally:
                self._local.session = None


def database_url(config: Config) -> str:
    """admin.database, or the embedded SQLite file state_dir/straja.db."""
    if config.admin.database:
        return config.admin.database
    return f"sqlite:///{Path(config.state_path).resolve() / 'straja.db'}"


def open_store(config: Config) -> Store:
    """The store named by the config, migrated to the newest schema."""
    url = database_url(config)
    if url.startswith("sqlite:///"):
        Path(url[len("sqlite:///"):]).parent.mkdir(parents=True, exist_ok=True)
    store = Store(url, node_id=config.admin.node_id)
    try:
        store.migrate()
    except BaseException:
        store.close()
        raise
    return store
