"""A real PostgreSQL for the tests: Debian's server binaries, started on 127.0.0.1 at a
free port in a temporary data directory, with fsync off. initdb refuses to run as root
(and CI runs as root), so as root the server runs as the `postgres` user via runuser.

`db_url` is parametrized over SQLite and PostgreSQL, so a store test runs on both. Tests
are skipped, with the reason, only when the binaries or the driver are missing.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.servers import free_port

USER = "straja"


def _server_bin() -> Path:
    """The newest installed major version's binaries (Debian keeps each under its number:
    15 in bookworm, 17 in trixie)."""
    versions = [p for p in Path("/usr/lib/postgresql").glob("*/bin")
                if p.parent.name.isdigit() and (p / "initdb").exists()]
    if not versions:
        return Path("/usr/lib/postgresql/VERSION/bin")
    return max(versions, key=lambda p: int(p.parent.name))


PG_BIN = _server_bin()


def _skip_reason() -> str | None:
    if not (PG_BIN / "initdb").exists():
        return "PostgreSQL is not installed (/usr/lib/postgresql/*/bin); apt-get install postgresql"
    try:
        import psycopg  # noqa: F401
    except ImportError:
        return "psycopg is not installed; pip install -e '.[postgres]'"
    if os.geteuid() == 0 and shutil.which("runuser") is None:
        return "running as root without runuser, so initdb cannot run as postgres"
    return None


class Postgres:
    """One PostgreSQL server; stop() and start() again keep its data (database loss tests)."""

    def __init__(self) -> None:
        self.root = Path(tempfile.mkdtemp(prefix="straja-pg-"))
        self.data = self.root / "data"
        self.port = free_port()
        self.proc: subprocess.Popen[bytes] | None = None
        self.log_path = self.root / "postgres.log"
        self._databases = 0
        self._as = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []
        if self._as:
            shutil.chown(self.root, "postgres")
        self._run(str(PG_BIN / "initdb"), "-D", str(self.data), "-U", USER, "-A", "trust",
                  "--no-sync", "-E", "UTF8")

    def _run(self, *cmd: str) -> None:
        out = subprocess.run([*self._as, *cmd], capture_output=True, text=True, timeout=120)
        if out.returncode != 0:
            raise RuntimeError(f"{cmd[0]} failed: {out.stderr or out.stdout}")

    def start(self) -> Postgres:
        log = open(self.log_path, "ab")  # noqa: SIM115 - lives as long as the server
        self.proc = subprocess.Popen(
            [*self._as, str(PG_BIN / "postgres"), "-D", str(self.data), "-p", str(self.port),
             "-c", "listen_addresses=127.0.0.1", "-c", f"unix_socket_directories={self.root}",
             "-c", "fsync=off", "-c", "full_page_writes=off", "-c", "max_connections=50"],
            stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        log.close()
        self._wait_ready()
        return self

    def _wait_ready(self, timeout: float = 60.0) -> None:
        import psycopg

        deadline = time.monotonic() + timeout
        while True:
            try:
                psycopg.connect(self.dsn("postgres"), connect_timeout=2).close()
                return
            except psycopg.OperationalError:
                if self.proc is not None and self.proc.poll() is not None:
                    raise RuntimeError(f"postgres exited:\n{self.log_path.read_text()}") from None
                if time.monotonic() > deadline:
                    raise RuntimeError(f"postgres did not start:\n{self.log_path.read_text()}"
                                       ) from None
                time.sleep(0.2)

    def stop(self) -> None:
        """A fast shutdown by pg_ctl, which returns once the server is gone (signalling
        runuser instead would kill postgres and leave its postmaster.pid behind)."""
        if self.proc is None:
            return
        try:
            self._run(str(PG_BIN / "pg_ctl"), "stop", "-D", str(self.data), "-m", "fast",
                      "-w", "-t", "60")
        except RuntimeError:
            if self.proc.poll() is None:
                raise
        try:
            self.proc.wait(30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        self.proc = None

    def dsn(self, database: str) -> str:
        return f"host=127.0.0.1 port={self.port} user={USER} dbname={database}"

    def url(self, database: str) -> str:
        return f"postgresql+psycopg://{USER}@127.0.0.1:{self.port}/{database}"

    def new_database(self) -> str:
        """A fresh empty database; returns its SQLAlchemy URL."""
        import psycopg

        self._databases += 1
        name = f"straja_{os.getpid()}_{self._databases}"
        with psycopg.connect(self.dsn("postgres"), autocommit=True) as connection:
            connection.execute(f'CREATE DATABASE "{name}"')
        return self.url(name)

    def destroy(self) -> None:
        self.stop()
        shutil.rmtree(self.root, ignore_errors=True)


@pytest.fixture(scope="session")
def pg_server() -> Iterator[Postgres]:
    """One PostgreSQL for the session (skipped, with the reason, when unavailable)."""
    reason = _skip_reason()
    if reason:
        pytest.skip(reason)
    server = Postgres().start()
    yield server
    server.destroy()


@pytest.fixture
def own_pg() -> Iterator[Postgres]:
    """A PostgreSQL this test may stop and start again."""
    reason = _skip_reason()
    if reason:
        pytest.skip(reason)
    server = Postgres().start()
    yield server
    server.destroy()


@pytest.fixture(params=["sqlite", "postgresql"])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A fresh, empty database: an SQLite file, then a PostgreSQL database."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'straja.db'}"
    server: Postgres = request.getfixturevalue("pg_server")
    return server.new_database()
