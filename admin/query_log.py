"""The opt-in query log, control side: ingest the workers' spool files
(state_dir/run/querylog-N.jsonl, see resolver/querylog.py) into the database, on the
database thread. A file is renamed before it is read, so a worker starts a new one, and
removed only once its entries are stored; a database that is down leaves it for later.

The level is applied once more here (it may have been raised since the worker wrote),
and an entry of the mandatory tier never keeps a client, whatever the file says. With
the log off, spool files left from when it was on are deleted, not stored.
"""

from __future__ import annotations

import fcntl
import json
import logging
import os
from datetime import UTC, datetime
from pathlib import Path

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


def ingest(store: Store, state_dir: Path, *, enabled: bool, level: int) -> int:
    """Store (or, with the log off, delete) every spool file; returns the entries stored."""
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
        store.query_log.add(entries)
        taken.unlink(missing_ok=True)
        stored += len(entries)
    return stored
