"""The database thread: calls from an event loop, rollups buffered while the database is
locked, overflow counted, and everything written once it is back."""

from __future__ import annotations

import asyncio
import sqlite3
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from admin.store import Store
from admin.store.dbthread import DbThread
from admin.store.records import RollupDelta

MINUTE = datetime(2026, 3, 1, 10, 15, tzinfo=UTC)


def _wait(predicate, timeout: float = 30.0) -> bool:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.05)
    return False


def _total(store: Store) -> int:
    rows = store.stats.series(MINUTE, MINUTE + timedelta(minutes=5), "minute")
    return sum(r.count for r in rows)


@pytest.fixture
def sqlite_store(tmp_path: Path) -> Store:
    store = Store(f"sqlite:///{tmp_path / 'straja.db'}", node_id="n")
    store.migrate()
    return store


def test_calls_run_on_the_thread_and_return(sqlite_store: Store) -> None:
    db = DbThread(sqlite_store)

    async def main() -> tuple[int, str]:
        import threading

        count = await db.call(lambda s: s.users.count())
        name = await db.call(lambda s: threading.current_thread().name)
        return count, name

    assert asyncio.run(main()) == (0, "straja-db")
    db.close()


def test_errors_reach_the_caller(sqlite_store: Store) -> None:
    db = DbThread(sqlite_store)

    def boom(store: Store) -> None:
        raise ValueError("no")

    with pytest.raises(ValueError):
        asyncio.run(db.call(boom))
    db.close()


def test_rollups_wait_while_the_file_is_locked(sqlite_store: Store, tmp_path: Path) -> None:
    db = DbThread(sqlite_store, flush_interval=0.1)
    locker = sqlite3.connect(tmp_path / "straja.db", isolation_level=None)
    locker.execute("BEGIN EXCLUSIVE")
    try:
        assert db.submit_rollups([RollupDelta(MINUTE, "queries", 5)])
        assert _wait(lambda: not db.healthy)
        assert db.pending == 1 and "locked" in (db.last_error or "")
        assert db.unhealthy_since is not None
        db.submit_rollups([RollupDelta(MINUTE, "queries", 2)])
    finally:
        locker.execute("ROLLBACK")
        locker.close()
    assert _wait(lambda: db.healthy and db.pending == 0)
    assert _total(sqlite_store) == 7
    db.close()


def test_what_does_not_fit_is_counted(sqlite_store: Store, tmp_path: Path) -> None:
    db = DbThread(sqlite_store, max_pending=2, flush_interval=3600)
    rows = [RollupDelta(MINUTE + timedelta(minutes=i), "queries", 1) for i in range(3)]
    assert not db.submit_rollups(rows)
    assert db.overflowed == 1 and db.pending == 2
    assert db.submit_rollups(rows[:1])  # the same key sums into its slot
    assert sorted(r.count for r in db.take_pending()) == [1, 2]
    db.close()


def test_close_writes_what_is_pending(sqlite_store: Store) -> None:
    db = DbThread(sqlite_store, flush_interval=3600)
    db.submit_rollups([RollupDelta(MINUTE, "queries", 4)])
    db.close()
    assert db.pending == 0 and _total(sqlite_store) == 4


def test_a_long_flush_interval_holds_rollups_but_not_the_periodic_jobs(
        sqlite_store: Store) -> None:
    db = DbThread(sqlite_store, flush_interval=3600)
    ran = threading.Event()
    db.every(0.1, lambda store: ran.set(), "probe", first=0)
    db.submit_rollups([RollupDelta(MINUTE, "queries", 3)])
    assert ran.wait(30)  # on the thread's own tick, not the hour's flush
    assert db.pending == 1 and _total(sqlite_store) == 0
    assert [(r.metric, r.count) for r in db.pending_rows()] == [("queries", 3)]
    db.close()  # a clean stop writes what the hour held back
    assert _total(sqlite_store) == 3
