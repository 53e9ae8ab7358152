"""Rollups: the workers' counters (state_dir/run/counters-N.json) turned into per-minute
deltas for the database, on the control side (the control process, or the single
process with `workers: 1`).

Every INTERVAL seconds the snapshots are read and compared with the last values seen per
worker; the increases are handed to the database thread's bounded buffer, which never
blocks. A value that went down means the worker started from zero: its value is the
delta. A key missing from a snapshot reads as zero (either side may be older).

The values already handed over are kept in state_dir/run/rollups-seen.json after every
collection, so a new control process continues where the last one stopped (with no such
file, every count in the snapshots is new: the first run with a store). The supervisor
restarts the control process on every SIGHUP, so `stop()` also spills what the buffer
could not write to state_dir/run/rollups-spill.json, and `start()` takes it over and
deletes it. Nothing is counted twice; a crash loses at most what was in the buffer.
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from admin.stats import run_dir
from admin.store.dbthread import DbThread
from admin.store.records import RollupDelta

log = logging.getLogger("straja.rollups")

INTERVAL = 5.0
SPILL_NAME = "rollups-spill.json"  # rows the database did not take before a stop
SEEN_NAME = "rollups-seen.json"  # per worker, the values already handed over
# Snapshot numbers that are not counts (or are sums of other counts): never rolled up.
NOT_COUNTS = frozenset({"blocked", "blocked_mandatory", "blocked_operator", "blocked_family",
                        "cache_entries", "written_at", "qps"})

# (metric, list, tier, action, rcode) -> value
Flat = dict[tuple[str, str, str, str, str], int]


def flatten(snapshot: Mapping[str, Any]) -> Flat:
    """The counts of one worker's snapshot: every plain counter, blocked hits per list
    (with its tier) and responses per action and rcode."""
    flat: Flat = {}
    for name, value in snapshot.items():
        if name in NOT_COUNTS or isinstance(value, bool) or not isinstance(value, int):
            continue
        flat[(name, "", "", "", "")] = value
    tiers = snapshot.get("list_tiers")
    tiers = tiers if isinstance(tiers, dict) else {}
    hits = snapshot.get("list_hits")
    for list_id, n in (hits.items() if isinstance(hits, dict) else ()):
        if isinstance(n, int):
            flat[("blocked", str(list_id), str(tiers.get(list_id, "")), "", "")] = n
    responses = snapshot.get("responses")
    for label, n in (responses.items() if isinstance(responses, dict) else ()):
        action, _, rcode = str(label).partition("|")
        if isinstance(n, int):
            flat[("responses", "", "", action, rcode)] = n
    return flat


def deltas(previous: Flat, current: Flat) -> Flat:
    """Increases since `previous`; a value below its previous one restarted from zero."""
    out: Flat = {}
    for key, value in current.items():
        before = previous.get(key, 0)
        delta = value - before if value >= before else value
        if delta > 0:
            out[key] = delta
    return out


def _key(text: str) -> tuple[str, str, str, str, str]:
    metric, list_id, tier, action, rcode = text.split("\t")
    return metric, list_id, tier, action, rcode


def read_snapshots(state_dir: Path) -> dict[str, Flat]:
    """Worker index -> flattened counts, for every snapshot that can be read now."""
    found: dict[str, Flat] = {}
    for path in sorted(run_dir(state_dir).glob("counters-*.json")):
        try:
            data = json.loads(path.read_text())
        except (OSError, ValueError):
            continue  # being replaced, or damaged: read it next time
        if isinstance(data, dict):
            found[path.stem.removeprefix("counters-")] = flatten(data)
    return found


class Rollups:
    """Collects counter deltas into the database thread's buffer."""

    def __init__(self, state_dir: Path, db: DbThread) -> None:
        self.state_dir = state_dir
        self.db = db
        self.seen: dict[str, Flat] = {}  # worker index -> the values already handed over

    @property
    def spill_path(self) -> Path:
        return run_dir(self.state_dir) / SPILL_NAME

    @property
    def seen_path(self) -> Path:
        return run_dir(self.state_dir) / SEEN_NAME

    def start(self) -> None:
        """Continue from the values the previous control process handed over, and take
        over the rows it could not write."""
        seen = _read_json(self.seen_path)
        if isinstance(seen, dict):
            self.seen = {index: {_key(k): int(v) for k, v in values.items()}
                         for index, values in seen.items() if isinstance(values, dict)}
        spilled = _read_json(self.spill_path)
        if isinstance(spilled, list):
            pending = [RollupDelta(datetime.fromisoformat(m), metric, int(n), list_id, tier,
                                   action, rcode)
                       for m, metric, list_id, tier, action, rcode, n in spilled]
            self.db.submit_rollups(pending)
            log.info("rollups: took over %d pending rows from %s", len(pending),
                     self.spill_path)
        self.spill_path.unlink(missing_ok=True)

    def collect(self, now: datetime | None = None) -> int:
        """Hand the increases since the last call to the database thread; returns the rows."""
        current = read_snapshots(self.state_dir)
        minute = (now or datetime.now(UTC)).replace(second=0, microsecond=0)
        rows = []
        for index, flat in current.items():
            for (metric, list_id, tier, action, rcode), n in deltas(
                    self.seen.get(index, {}), flat).items():
                rows.append(RollupDelta(minute, metric, n, list_id, tier, action, rcode))
            self.seen[index] = flat
        if rows:
            self.db.submit_rollups(rows)
            _write_json(self.seen_path, {index: {"\t".join(k): v for k, v in flat.items()}
                                         for index, flat in self.seen.items()})
        return len(rows)

    def stop(self) -> None:
        """The last collection, the database thread's last write, then the spill file for
        whatever the database did not take."""
        try:
            self.collect()
        except OSError as exc:
            log.warning("rollups: the last collection failed: %s", exc)
        self.db.close()
        self.spill(self.db.take_pending())

    def spill(self, pending: Iterable[RollupDelta]) -> None:
        rows = [[d.minute.isoformat(), d.metric, d.list_id, d.tier, d.action, d.rcode, d.count]
                for d in pending]
        if not rows:
            return
        try:
            _write_json(self.spill_path, rows)
        except OSError as exc:
            log.error("rollups: %d pending rows are lost, %s cannot be written: %s",
                      len(rows), self.spill_path, exc)
            return
        log.warning("rollups: the database could not take %d rows; kept in %s for the next "
                    "start", len(rows), self.spill_path)


def _read_json(path: Path) -> Any:
    try:
        return json.loads(path.read_text())
    except FileNotFoundError:
        return None
    except (OSError, ValueError) as exc:
        log.warning("rollups: %s cannot be read, ignored: %s", path, exc)
        return None


def _write_json(path: Path, data: Any) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(data))
    os.replace(tmp, path)
