"""The store on a real SQLite file and a real PostgreSQL: migrations, users and the login
throttle, sessions, tokens, and the rollups' tables."""

from __future__ import annotations

import multiprocessing
import stat
import subprocess
import sys
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import inspect

from admin.store import Store
from admin.store.errors import Conflict
from admin.store.migrate import current_revision, head_revision
from admin.store.records import ManagedGroup, RollupDelta
from tests.servers import straja_env


@pytest.fixture
def store(db_url: str) -> Iterator[Store]:
    s = Store(db_url, node_id="node-a")
    s.migrate()
    yield s
    s.close()


def _migrate(url: str) -> str | None:
    s = Store(url, node_id="x")
    try:
        s.migrate()
        return current_revision(s.engine)
    finally:
        s.close()


def test_migrations_are_idempotent(db_url: str) -> None:
    s = Store(db_url, node_id="node-a")
    s.migrate()
    s.users.add("teacher", "correct horse battery", "admin")
    s.migrate()
    assert current_revision(s.engine) == head_revision()
    assert s.users.count() == 1
    s.close()


def test_head_is_the_newest_migration() -> None:
    from admin.store.migrate import HEAD

    assert head_revision() == HEAD


def test_the_serving_process_migrates_without_loading_alembic(db_url: str) -> None:
    code = ("import sys; from admin.store import Store; s = Store(sys.argv[1], node_id='n'); "
            "s.ensure_current(); s.ensure_current(); print(s.users.count()); "
            "print('alembic' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code, db_url], capture_output=True, text=True,
                         timeout=120, env=straja_env())
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == ["0", "False"]
    s = Store(db_url, node_id="n")
    assert current_revision(s.engine) == head_revision()
    s.close()


def test_concurrent_migrations_do_not_race(db_url: str) -> None:
    ctx = multiprocessing.get_context("spawn")
    with ctx.Pool(4) as pool:
        revisions = pool.map(_migrate, [db_url] * 4)
    assert revisions == [head_revision()] * 4


def test_the_sqlite_file_is_private(tmp_path: Path) -> None:
    store = Store(f"sqlite:///{tmp_path / 'straja.db'}", node_id="n")
    store.migrate()
    store.users.add("teacher", "correct horse battery", "admin")
    for name in ("straja.db", "straja.db-wal"):
        assert stat.S_IMODE((tmp_path / name).stat().st_mode) == 0o600
    store.close()


def test_the_models_match_the_migrations(store: Store) -> None:
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext

    from admin.store.models import Base

    with store.engine.connect() as connection:
        diff = compare_metadata(MigrationContext.configure(connection), Base.metadata)
    assert diff == []


def test_every_per_node_table_carries_a_node_id(store: Store) -> None:
    columns = {t: {c["name"] for c in inspect(store.engine).get_columns(t)}
               for t in ("audit_log", "list_events", "stats_rollups", "reports", "query_log")}
    assert all("node_id" in names for names in columns.values())


def test_a_password_is_checked_and_never_stored(store: Store) -> None:
    store.users.add("teacher", "correct horse battery", "admin")
    assert store.users.check_password("teacher", "correct horse battery", "10.0.0.5") is not None
    assert store.users.check_password("teacher", "wrong", "10.0.0.5") is None
    with store.engine.connect() as connection:
        dump = "\n".join(str(r) for r in connection.exec_driver_sql("SELECT * FROM users"))
    assert "correct horse" not in dump and "scrypt$" in dump


def test_a_user_name_is_unique(store: Store) -> None:
    store.users.add("teacher", "correct horse battery", "admin")
    with pytest.raises(Conflict):
        store.users.add("teacher", "another password", "viewer")


def test_failed_logins_delay_only_that_account_from_that_address(store: Store) -> None:
    store.users.add("teacher", "correct horse battery", "admin")
    for _ in range(5):
        store.users.check_password("teacher", "guess", "10.0.0.66")
    assert store.users.login_delay("teacher", "10.0.0.66") > 0
    # Even the right password waits from the student's PC...
    assert store.users.check_password("teacher", "correct horse battery", "10.0.0.66") is None
    # ...while the teacher logs in from their own.
    assert store.users.login_delay("teacher", "10.0.0.5") == 0
    assert store.users.check_password("teacher", "correct horse battery", "10.0.0.5") is not None
    user = store.users.get("teacher")
    assert user is not None and user.locked_until is not None


def test_delays_grow_with_each_failure(store: Store) -> None:
    store.users.add("teacher", "correct horse battery", "admin")
    delays = []
    for _ in range(6):
        store.users.check_password("teacher", "guess", "10.0.0.66")
        delays.append(store.users.login_delay("teacher", "10.0.0.66"))
        with store.transaction() as s:  # let the next try be checked, as time would
            from admin.store.models import LoginFailureRow
            for row in s.query(LoginFailureRow):
                row.locked_until = datetime.now(UTC) - timedelta(seconds=1)
    from admin.store.repos.users import throttle_delay

    assert [throttle_delay(n) for n in range(1, 7)] == [0, 0, 1, 2, 4, 8]
    assert delays[0] == 0 and delays[-1] > delays[-2] > delays[-3] > 0


def test_unlock_clears_the_throttle(store: Store) -> None:
    store.users.add("teacher", "correct horse battery", "admin")
    for source in ("10.0.0.66", "10.0.0.67"):
        for _ in range(4):
            store.users.check_password("teacher", "guess", source)
    assert store.users.unlock("teacher") == 2
    assert store.users.login_delay("teacher", "10.0.0.66") == 0
    assert store.users.check_password("teacher", "correct horse battery", "10.0.0.66") is not None


def test_old_failed_logins_are_forgotten(store: Store) -> None:
    store.users.check_password("nobody", "guess", "10.0.0.66")
    assert store.users.purge_failures(older_than=timedelta(days=1)) == 0
    assert store.users.purge_failures(older_than=timedelta(seconds=-1)) == 1


def test_sessions_hold_only_a_hash_and_expire(store: Store) -> None:
    user = store.users.add("teacher", "correct horse battery", "admin")
    token = store.sessions.create(user)
    found = store.sessions.lookup(token)
    assert found is not None and found[0].name == "teacher" and len(found[1]) >= 24
    with store.engine.connect() as connection:
        dump = "\n".join(str(r) for r in connection.exec_driver_sql("SELECT * FROM sessions"))
    assert token not in dump
    assert store.sessions.lookup(token + "x") is None
    expired = store.sessions.create(user, ttl=timedelta(seconds=-1))
    assert store.sessions.lookup(expired) is None
    store.sessions.delete(token)
    assert store.sessions.lookup(token) is None


def test_a_password_change_ends_the_sessions(store: Store) -> None:
    user = store.users.add("teacher", "correct horse battery", "admin")
    token = store.sessions.create(user)
    store.users.set_password("teacher", "a new long password")
    assert store.sessions.lookup(token) is None


def test_tokens_have_scopes_and_can_be_revoked(store: Store) -> None:
    info, secret = store.tokens.create("prometheus", {"metrics"})
    assert secret.startswith("stj_")
    found = store.tokens.lookup(secret)
    assert found is not None and found.scopes == frozenset({"metrics"})
    assert found.last_used is not None
    assert store.tokens.revoke(info.id)
    assert store.tokens.lookup(secret) is None
    assert [t.revoked for t in store.tokens.list()] == [True]


def test_groups_and_pauses(store: Store) -> None:
    group = ManagedGroup("pupils", ["10.1.0.0/16"], ["ads"], True, [])
    assert store.groups.put(group) is None
    assert store.groups.put(group) == group
    until = datetime.now(UTC) + timedelta(minutes=5)
    store.pauses.set("pupils", until, "teacher")
    store.pauses.set("pupils", until + timedelta(minutes=1), "teacher")
    assert [p.group for p in store.pauses.list()] == ["pupils"]
    assert store.pauses.remove("pupils") is not None
    assert store.pauses.list() == []


def test_list_events_are_recorded_once(store: Store) -> None:
    at = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)
    assert store.list_events.add(at, "hotline", "activated", 7)
    assert not store.list_events.add(at, "hotline", "activated", 7)
    store.list_events.add(at + timedelta(hours=1), "hotline", "refused", None, "bad signature")
    events = store.list_events.list("hotline")
    assert [(e.event, e.reason) for e in events] == [("refused", "bad signature"),
                                                     ("activated", "")]


def test_rollups_sum_into_minutes_hours_and_days(store: Store) -> None:
    minute = datetime(2026, 3, 1, 10, 15, tzinfo=UTC)
    store.stats.add([RollupDelta(minute, "blocked", 3, "hotline", "mandatory"),
                     RollupDelta(minute + timedelta(minutes=1), "blocked", 4, "hotline",
                                 "mandatory"),
                     RollupDelta(minute, "responses", 9, action="answered", rcode="NOERROR")])
    store.stats.add([RollupDelta(minute, "blocked", 1, "hotline", "mandatory")])
    day = datetime(2026, 3, 1, tzinfo=UTC)
    minutes = store.stats.series(day, day + timedelta(days=1), "minute", metric="blocked")
    assert [r.count for r in minutes] == [4, 4]
    hours = store.stats.series(day, day + timedelta(days=1), "hour")
    assert {(r.metric, r.count) for r in hours} == {("blocked", 8), ("responses", 9)}
    rows = store.stats.transparency(date(2026, 3, 1), date(2026, 3, 1))
    assert [(r.day, r.list_id, r.tier, r.blocked) for r in rows] == [
        ("2026-03-01", "hotline", "mandatory", 8)]


def test_old_rollups_are_purged_days_are_kept(store: Store) -> None:
    old = datetime(2026, 1, 1, tzinfo=UTC)
    store.stats.add([RollupDelta(old, "queries", 5)])
    store.stats.purge(now=old + timedelta(days=3))
    far = datetime(2100, 1, 1, tzinfo=UTC)
    assert store.stats.series(old, far, "minute") == []
    assert len(store.stats.series(old, far, "hour")) == 1
    store.stats.purge(now=old + timedelta(days=91))
    assert store.stats.series(old, far, "hour") == []
    assert [r.count for r in store.stats.series(old, far, "day")] == [5]


def test_nodes_share_a_database_without_mixing_their_rows(db_url: str) -> None:
    a, b = Store(db_url, node_id="node-a"), Store(db_url, node_id="node-b")
    a.migrate()
    b.migrate()
    minute = datetime(2026, 3, 1, 10, 15, tzinfo=UTC)
    a.stats.add([RollupDelta(minute, "queries", 2)])
    b.stats.add([RollupDelta(minute, "queries", 3)])
    since, until = minute, minute + timedelta(minutes=1)
    assert [r.count for r in a.stats.series(since, until)] == [5]
    assert [r.count for r in a.stats.series(since, until, node_id="node-b")] == [3]
    a.close()
    b.close()
