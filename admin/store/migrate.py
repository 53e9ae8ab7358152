"""Applying the Alembic migrations shipped in admin/store/migrations, under a lock so that
two processes (or two nodes on one PostgreSQL) never migrate at once.

PostgreSQL: a session-level advisory lock held on the migrating connection. SQLite: an
flock on a file beside the database (in state_dir by default). Alembic is imported here
only, by the control process and the CLI; DNS workers never load it.
"""

from __future__ import annotations

import fcntl
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from sqlalchemy import Connection, Engine, text

MIGRATIONS = Path(__file__).parent / "migrations"
ADVISORY_LOCK_KEY = 0x5354524A  # "STRJ": the same on every node sharing a database


def upgrade(engine: Engine) -> None:
    """Bring the schema to the newest revision; a no-op when it is there already."""
    from alembic import command
    from alembic.config import Config as AlembicConfig

    with _migration_lock(engine) as connection:
        cfg = AlembicConfig()
        cfg.set_main_option("script_location", str(MIGRATIONS))
        cfg.attributes["connection"] = connection
        command.upgrade(cfg, "head")
        connection.commit()


def current_revision(engine: Engine) -> str | None:
    from alembic.migration import MigrationContext

    with engine.connect() as connection:
        return MigrationContext.configure(connection).get_current_revision()


def head_revision() -> str | None:
    from alembic.config import Config as AlembicConfig
    from alembic.script import ScriptDirectory

    cfg = AlembicConfig()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    return ScriptDirectory.from_config(cfg).get_current_head()


@contextmanager
def _migration_lock(engine: Engine) -> Iterator[Connection]:
    if engine.dialect.name == "postgresql":
        with engine.connect() as connection:
            connection.execute(text("SELECT pg_advisory_lock(:k)"), {"k": ADVISORY_LOCK_KEY})
            connection.commit()
            try:
                yield connection
            finally:
                connection.rollback()
                connection.execute(text("SELECT pg_advisory_unlock(:k)"),
                                   {"k": ADVISORY_LOCK_KEY})
                connection.commit()
        return
    database = engine.url.database
    if not database or database == ":memory:":
        with engine.connect() as connection:
            yield connection
        return
    lock_path = Path(database).with_name(Path(database).name + ".migrate.lock")
    fd = os.open(lock_path, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        with engine.connect() as connection:
            yield connection
    finally:
        os.close(fd)  # closing the descriptor releases the lock


# The newest revision. The serving process compares it with the database's
# alembic_version in plain SQL, so it never loads Alembic (about 11 MB of memory it would
# keep for nothing); a test checks it against the migrations folder.
HEAD = "0007"


class MigrationError(Exception):
    """The migrations could not be applied; the message is the migrating process's."""


def is_current(engine: Engine) -> bool:
    """True when the database's schema is at HEAD (no Alembic involved)."""
    from sqlalchemy.exc import DBAPIError

    try:
        with engine.connect() as connection:
            version = connection.execute(text("SELECT version_num FROM alembic_version")
                                         ).scalar()
    except DBAPIError as exc:
        if "alembic_version" in str(getattr(exc, "orig", exc)):
            return False  # a new, empty database
        raise
    return version == HEAD


def upgrade_in_subprocess(url: str, timeout: float = 300.0) -> None:
    """Apply the migrations in a short-lived `python -m admin.store.migrate`, under the
    same lock; the URL goes over stdin, not the command line (it may hold a password)."""
    import subprocess
    import sys

    package_root = str(Path(__file__).resolve().parents[2])
    env = dict(os.environ)
    env["PYTHONPATH"] = package_root + os.pathsep + env.get("PYTHONPATH", "")
    done = subprocess.run([sys.executable, "-m", "admin.store.migrate"], input=url,
                          capture_output=True, text=True, timeout=timeout, env=env)
    if done.returncode != 0:
        lines = [line for line in done.stderr.strip().splitlines() if line.strip()]
        raise MigrationError(lines[-1] if lines else f"exit status {done.returncode}")


def main() -> int:
    import sys

    from admin import importtrace
    from admin.store.engine import make_engine

    importtrace.install()  # STRAJA_IMPORT_TRACE (inherited): Alembic's imports count too

    engine = make_engine(sys.stdin.readline().strip())
    try:
        upgrade(engine)
    finally:
        engine.dispose()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
