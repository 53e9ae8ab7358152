"""A real `straja serve` with its store: counters reach the database; a locked SQLite file
or a stopped PostgreSQL leaves DNS answering, and the counters arrive once the database is
back; a SIGHUP (which restarts the control process) loses no pending rollup; no password
or token ever reaches the log."""

from __future__ import annotations

import signal
import sqlite3
import subprocess
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from admin.store import Store
from tests.servers import free_port, run_dig, straja_cmd, straja_env

PASSWORD = "correct horse battery staple"


def _queries_in_db(url: str) -> int:
    store = Store(url, node_id="test")
    try:
        now = datetime.now(UTC)
        rows = store.stats.series(now - timedelta(hours=1), now + timedelta(hours=1), "minute",
                                  metric="queries")
        return sum(r.count for r in rows)
    except Exception:  # noqa: BLE001 - not there yet (not migrated, or the server is down)
        return -1
    finally:
        store.close()


def _wait_for(predicate: Any, timeout: float = 90.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.5)
    return False


def _config(unbound: Any, url: str, workers: int = 1) -> dict[str, Any]:
    return {"upstreams": [unbound.address], "dns": {"workers": workers},
            "admin": {"database": url, "listen": [f"127.0.0.1:{free_port()}"]}}


def _dig_answers(server: Any, n: int) -> int:
    answered = 0
    for _ in range(n):
        out = run_dig("@" + server.host, "-p", str(server.port), "+short", "+tries=1",
                      "+time=2", "www.example.test", "A")
        answered += out.strip() == "192.0.2.10"
    return answered


@pytest.mark.parametrize("workers", [1, 2])
def test_counters_arrive_in_the_database(straja_factory: Any, unbound: Any, db_url: str,
                                         workers: int) -> None:
    if workers == 2 and not db_url.startswith("sqlite"):
        pytest.skip("the control process on PostgreSQL is covered by the database loss test")
    server = straja_factory(_config(unbound, db_url, workers))
    assert _dig_answers(server, 10) == 10
    assert _wait_for(lambda: _queries_in_db(db_url) >= 10), server.read_log()


def test_a_locked_sqlite_file_leaves_dns_answering(straja_factory: Any, unbound: Any,
                                                   tmp_path: Path) -> None:
    db_file = tmp_path / "straja.db"
    url = f"sqlite:///{db_file}"
    server = straja_factory(_config(unbound, url))
    assert _wait_for(lambda: _queries_in_db(url) >= 0)  # migrated
    locker = sqlite3.connect(db_file, isolation_level=None)
    locker.execute("BEGIN EXCLUSIVE")
    try:
        assert _dig_answers(server, 20) == 20
        assert _wait_for(lambda: "database is locked" in server.read_log(), 60), \
            server.read_log()
        assert _dig_answers(server, 5) == 5
    finally:
        locker.execute("ROLLBACK")
        locker.close()
    assert _wait_for(lambda: _queries_in_db(url) >= 25), server.read_log()
    assert "the database is back" in server.read_log()


def test_a_stopped_postgresql_leaves_dns_answering(straja_factory: Any, unbound: Any,
                                                   own_pg: Any) -> None:
    url = own_pg.new_database()
    server = straja_factory(_config(unbound, url, workers=2))
    assert _wait_for(lambda: _queries_in_db(url) >= 0)
    own_pg.stop()
    assert _dig_answers(server, 20) == 20
    assert _wait_for(lambda: "the database is unavailable" in server.read_log(), 60)
    assert _dig_answers(server, 5) == 5
    own_pg.start()
    assert _wait_for(lambda: _queries_in_db(url) >= 25), server.read_log()


def test_a_sighup_keeps_the_pending_rollups(straja_factory: Any, unbound: Any,
                                            tmp_path: Path) -> None:
    db_file = tmp_path / "straja.db"
    url = f"sqlite:///{db_file}"
    server = straja_factory(_config(unbound, url, workers=2))
    assert _wait_for(lambda: _queries_in_db(url) >= 0)
    locker = sqlite3.connect(db_file, isolation_level=None)
    locker.execute("BEGIN EXCLUSIVE")
    try:
        assert _dig_answers(server, 15) == 15
        assert _wait_for(lambda: "database is locked" in server.read_log(), 60), \
            server.read_log()
        server.signal(signal.SIGHUP)
        assert _wait_for(lambda: "kept in" in server.read_log(), 60), server.read_log()
        assert _wait_for(lambda: "took over" in server.read_log(), 60), server.read_log()
    finally:
        locker.execute("ROLLBACK")
        locker.close()
    assert _wait_for(lambda: _queries_in_db(url) >= 15), server.read_log()


def test_no_password_or_token_reaches_the_log(straja_factory: Any, unbound: Any,
                                              tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'straja.db'}"
    server = straja_factory(_config(unbound, url))
    state = Path(server.config["state_dir"])
    assert _wait_for(lambda: (state / "setup-token").exists(), 60), server.read_log()
    setup = (state / "setup-token").read_text().strip()

    def cli(*args: str, stdin: str | None = None) -> str:
        out = subprocess.run(straja_cmd(*args, "--config", str(server.config_path)),
                             input=stdin, capture_output=True, text=True, env=straja_env(),
                             timeout=120)
        assert out.returncode == 0, out.stderr
        return out.stdout

    cli("users", "add", "teacher", "--password-stdin", stdin=PASSWORD + "\n")
    secret = cli("tokens", "create", "grafana", "--scope", "read").strip()
    server.signal(signal.SIGHUP)
    assert _dig_answers(server, 3) == 3
    server.stop()
    log = server.read_log()
    assert "setup-token" in log  # the file is named...
    for value in (setup, PASSWORD, secret, secret.removeprefix("stj_")):
        assert value not in log  # ...never a secret


def test_an_override_made_with_the_daemon_stopped_is_served(straja_factory: Any, unbound: Any,
                                                            tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'straja.db'}"
    server = straja_factory(_config(unbound, url), start=False)
    server.write_config()

    def cli(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(straja_cmd(*args, "--config", str(server.config_path)),
                              capture_output=True, text=True, env=straja_env(), timeout=120)

    added = cli("overrides", "add", "deny", "www.example.test", "--comment", "exam day")
    assert added.returncode == 0, added.stderr
    server.start()
    assert _dig_answers(server, 1) == 0  # denied from the first answer
    override_id = added.stdout.split()[1].rstrip(":")
    assert cli("overrides", "remove", override_id).returncode == 0
    assert _wait_for(lambda: _dig_answers(server, 1) == 1, 30), server.read_log()


def test_a_database_gone_at_start_leaves_dns_answering(straja_factory: Any, unbound: Any
                                                       ) -> None:
    pytest.importorskip("psycopg", reason="psycopg is not installed")
    url = f"postgresql+psycopg://straja@127.0.0.1:{free_port()}/straja"  # nobody listens
    server = straja_factory(_config(unbound, url))
    assert _dig_answers(server, 5) == 5
    assert _wait_for(lambda: "the database is unavailable" in server.read_log(), 60)
    assert _dig_answers(server, 5) == 5
