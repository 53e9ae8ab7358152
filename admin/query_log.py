"""The opt-in query log, control side: ingest the workers' spool files
(state_dir/run/querylog-N.jsonl, see resolver/querylog.py) into the database, on the
database thread, or with `query_log.storage: memory` into a bounded ring in the control
process (MemoryQueryLog), which no disk ever sees: routers keep their flash for lists.
A file is renamed before it is read, so a worker starts a new one, and removed only once
its entries are stored; a database that is down leaves it for later.

The level is applied once more here (it may have been raised since the worker wrote),
and an entry of the mandatory tier never keeps a client, whatever the file says. With
the log off, spool files left from when it was on are deleted, not stored.
"""

from __future__ import annotations

import builtins
import fcntl
import json
import logging
import os
import threading
from collections import deque
from collections.abc import Iterable
from dataclasses import asdict
from datetime import UTC, datetime
from pathlib import Path
from typing import Protocol

from admin.store import Store
from admin.store.records import QueryLogEntry
from resolver.querylog import anonymise

log = logging.getLogger("straja.querylog")

_TAKEN = ".ingest"


def _client(client: object, tier: object, level: int) -> str | None:
    """The client as stored: never for the mandatory tier; at most what `level` keeps."""
    if not isinstance(client, str) or tier == "mandatory" or level >= 2:
        return None
    if level == 1 and "/" not in client:
        return anonymise(client, 1)
    return client


def _entry(item: dict[str, object], level: int) -> QueryLogEntry | None:
    try:
        at = datetime.fromtimestamp(float(item["at"]), UTC)  # type: ignore[arg-type]
        tier = item.get("tier")
        return QueryLogEntry(at, _client(item.get("client"), tier, level), str(item["name"]),
                             str(item["qtype"]), str(item["action"]), str(item["rcode"]),
                             str(item["list"]) if item.get("list") else None,
                             str(tier) if tier else None)
    except (KeyError, TypeError, ValueError):
        return None


class Sink(Protocol):
    def add(self, entries: Iterable[QueryLogEntry]) -> int: ...


class MemoryQueryLog:
    """The newest `capacity` entries, newest first, in the control process. Lost with it:
    a SIGHUP's restart hands them over through a file in state_dir/run (RAM on routers),
    a stop or a reboot does not keep them, as `query_log.storage: memory` promises."""

    HANDOVER = "querylog-memory.json"

    def __init__(self, capacity: int) -> None:
        self._entries: deque[QueryLogEntry] = deque(maxlen=capacity)
        self._lock = threading.Lock()  # ingest runs on a thread; pages read on the loop

    def add(self, entries: Iterable[QueryLogEntry]) -> int:
        new = sorted(entries, key=lambda e: e.at)
        with self._lock:
            self._entries.extend(new)
        return len(new)

    def list(self, limit: int = 100, offset: int = 0) -> builtins.list[QueryLogEntry]:
        """Newest first, like the database's QueryLog.list."""
        with self._lock:
            newest = builtins.list(reversed(self._entries))
        return newest[offset:offset + limit]

    def purge(self, before: datetime) -> int:
        with self._lock:
            kept = [e for e in self._entries if e.at >= before]
            dropped = len(self._entries) - len(kept)
            self._entries.clear()
            self._entries.extend(kept)
        return dropped

    def __len__(self) -> int:
        return len(self._entries)

    def hand_over(self, state_dir: Path) -> None:
        """Keep the entries for the next control process (the supervisor restarts it on
        every SIGHUP); `take_over` reads them back and deletes the file."""
        with self._lock:
            rows = [{**asdict(e), "at": e.at.timestamp()} for e in self._entries]
        if not rows:
            return
        path = state_dir / "run" / self.HANDOVER
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(json.dumps(rows))
            path.chmod(0o600)
        except OSError as exc:
            log.warning("query log: %d entries in memory are lost, %s cannot be written: %s",
                        len(rows), path, exc)

    def take_over(self, state_dir: Path, level: int) -> None:
        path = state_dir / "run" / self.HANDOVER
        try:
            rows = json.loads(path.read_text())
        except FileNotFoundError:
            return
        except (OSError, ValueError) as exc:
            log.warning("query log: %s cannot be read, ignored: %s", path, exc)
            rows = []
        finally:
            path.unlink(missing_ok=True)
        if isinstance(rows, list):
            self.add(e for row in rows if isinstance(row, dict)
                     and (e := _entry({**row, "list": row.get("list_id")}, level)))


def ingest(store: Store | Sink, state_dir: Path, *, enabled: bool, level: int) -> int:
    """Store (or, with the log off, delete) every spool file; returns the entries stored.
    `store` is the database's Store or any Sink (a MemoryQueryLog)."""
    run = state_dir / "run"
    stored = 0
    for path in sorted(run.glob("querylog-*.jsonl")):
        taken = path.with_name(path.name + _TAKEN)
        if not taken.exists():
            try:
                os.replace(path, taken)
            except FileNotFoundError:
                continue
    for taken in sorted(run.glob(f"querylog-*.jsonl{_TAKEN}")):
        if not enabled:
            taken.unlink(missing_ok=True)
            continue
        with open(taken, "rb") as f:
            fcntl.flock(f, fcntl.LOCK_EX)  # a worker's write in flight finishes first
            data = f.read()
        entries = []
        for raw in data.splitlines():
            try:
                item = json.loads(raw)
            except ValueError:
                continue
            entry = _entry(item, level) if isinstance(item, dict) else None
            if entry is not None:
                entries.append(entry)
        (store.query_log if isinstance(store, Store) else store).add(entries)
        taken.unlink(missing_ok=True)
        stored += len(entries)
    return stored
