"""Rollups from the workers' counter files into the database (SQLite and PostgreSQL),
across worker restarts, a locked database and a control-process restart (the spill);
and the mirrors of the lists' history and the STOP page's reports."""

from __future__ import annotations

import json
import sqlite3
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from admin.mirror import import_reports, mirror_list_events
from admin.rollups import Rollups, flatten
from admin.store import Store
from admin.store.dbthread import DbThread
from blocklists.store import ListStore
from resolver.stoppage.reports import ReportStore

NOW = datetime(2026, 3, 1, 10, 15, 30, tzinfo=UTC)


def _write(state: Path, index: int, **snapshot: object) -> None:
    run = state / "run"
    run.mkdir(parents=True, exist_ok=True)
    (run / f"counters-{index}.json").write_text(json.dumps(snapshot))


def _wait(predicate, timeout: float = 30.0) -> bool:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.05)
    return False


def _counts(store: Store, metric: str) -> dict[tuple[str, str, str, str], int]:
    rows = store.stats.series(NOW - timedelta(hours=1), NOW + timedelta(hours=1), "minute",
                              metric=metric)
    out: dict[tuple[str, str, str, str], int] = {}
    for r in rows:
        key = (r.list_id, r.tier, r.action, r.rcode)
        out[key] = out.get(key, 0) + r.count
    return out


@pytest.fixture
def store(db_url: str) -> Iterator[Store]:
    s = Store(db_url, node_id="node-a")
    s.migrate()
    yield s
    s.close()


def test_counter_increases_arrive_in_the_database(store: Store, tmp_path: Path) -> None:
    db = DbThread(store, flush_interval=0.1)
    rollups = Rollups(tmp_path, db)
    rollups.start()
    _write(tmp_path, 0, queries=100, list_hits={"ads": 5}, list_tiers={"ads": "operator"},
           responses={"answered|NOERROR": 90})
    rollups.collect(NOW)
    _write(tmp_path, 0, queries=130, list_hits={"ads": 9}, list_tiers={"ads": "operator"},
           responses={"answered|NOERROR": 110, "blocked|NXDOMAIN": 4}, cache_entries=50,
           qps=3.5, blocked=9, written_at=1.5e9)
    _write(tmp_path, 1, queries=7)  # a worker seen for the first time: all of it is new
    rollups.collect(NOW)
    assert _wait(lambda: db.pending == 0 and bool(_counts(store, "queries")))
    assert _counts(store, "queries") == {("", "", "", ""): 137}
    assert _counts(store, "blocked") == {("ads", "operator", "", ""): 9}
    assert _counts(store, "responses") == {("", "", "answered", "NOERROR"): 110,
                                           ("", "", "blocked", "NXDOMAIN"): 4}
    assert _counts(store, "cache_entries") == {} and _counts(store, "qps") == {}
    db.close()


def test_a_restarted_worker_counts_from_zero(store: Store, tmp_path: Path) -> None:
    db = DbThread(store, flush_interval=0.1)
    rollups = Rollups(tmp_path, db)
    _write(tmp_path, 0, queries=100)
    rollups.collect(NOW)
    _write(tmp_path, 0, queries=3)  # its file was lost: it starts again from zero
    rollups.collect(NOW)
    _write(tmp_path, 0)  # an older writer without the key: reads as nothing
    rollups.collect(NOW)
    assert _wait(lambda: db.pending == 0 and bool(_counts(store, "queries")))
    assert _counts(store, "queries") == {("", "", "", ""): 103}
    db.close()


def test_flatten_ignores_what_is_not_a_count() -> None:
    flat = flatten({"queries": 5, "qps": 2, "written_at": 9, "blocked_family": 3, "on": True,
                    "upstream_health": {"a": 1}, "list_hits": {"x": "bad"}})
    assert flat == {("queries", "", "", "", ""): 5}


def test_rollups_survive_a_locked_database_and_a_restart(tmp_path: Path) -> None:
    """The database is locked while the control process stops (SIGHUP restarts it): the
    rows go to the spill file, and the next process writes them once the lock is gone."""
    db_path = tmp_path / "straja.db"
    store = Store(f"sqlite:///{db_path}", node_id="node-a")
    store.migrate()
    db = DbThread(store, flush_interval=0.1)
    rollups = Rollups(tmp_path, db)
    _write(tmp_path, 0, queries=10)
    rollups.collect(NOW)
    locker = sqlite3.connect(db_path, isolation_level=None)
    locker.execute("BEGIN EXCLUSIVE")
    _write(tmp_path, 0, queries=25)
    rollups.collect(NOW)
    rollups.stop()
    assert len(json.loads(rollups.spill_path.read_text())) == 1
    assert rollups.seen_path.exists()
    locker.execute("ROLLBACK")
    locker.close()

    _write(tmp_path, 0, queries=31)  # counted while no control process ran
    db2 = DbThread(store, flush_interval=0.1)
    again = Rollups(tmp_path, db2)
    again.start()
    assert not again.spill_path.exists()
    again.collect(NOW)
    assert _wait(lambda: db2.pending == 0 and _counts(store, "queries").get(("", "", "", ""))
                 == 31)
    db2.close()
    store.close()


def test_list_activations_and_refusals_are_mirrored_once(store: Store, tmp_path: Path) -> None:
    lists = ListStore(tmp_path)
    lists.update_status("hotline", serial=7, activated=1772000000)
    lists.record_refusal("hotline", "signature does not verify", now=1772003600)
    assert mirror_list_events(store, tmp_path, ["hotline", "never-fetched"]) == 2
    assert mirror_list_events(store, tmp_path, ["hotline"]) == 0
    events = store.list_events.list("hotline")
    assert [(e.event, e.serial, e.reason) for e in events] == [
        ("refused", None, "signature does not verify"), ("activated", 7, "")]


def test_reports_are_imported_once_and_new_ones_follow(store: Store, tmp_path: Path) -> None:
    reports = ReportStore(tmp_path)
    reports.add("ok.example.test", "ads", 1772000000)
    reports.add("fine.example.test", "ads", 1772000100)
    assert import_reports(store, tmp_path) == 2
    assert import_reports(store, tmp_path) == 0
    reports.add("third.example.test", "family", 1772000200)
    assert import_reports(store, tmp_path) == 1
    assert [r.name for r in store.reports.list()] == [
        "third.example.test", "fine.example.test", "ok.example.test"]
    assert {r.state for r in store.reports.list()} == {"open"}
