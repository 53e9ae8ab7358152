"""Mirroring state_dir into the database: the lists' activations and refusals (state_dir
stays the truth; the CLI changes it with no daemon and no database), and the STOP page's
reports.jsonl (imported once, line by line, from where the last import stopped).

Both run on the database thread and are idempotent: an event or a line is stored once.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterable
from datetime import UTC, datetime
from pathlib import Path

from admin.store import Store
from blocklists.store import ListStore

log = logging.getLogger("straja.mirror")

REPORTS_OFFSET = "reports_offset"  # node_state key: bytes of reports.jsonl imported
_REPORT_TIME = "%Y-%m-%dT%H:%M:%SZ"


def _when(value: object) -> datetime | None:
    if isinstance(value, int | float) and not isinstance(value, bool) and value > 0:
        return datetime.fromtimestamp(value, UTC)
    return None


def mirror_list_events(store: Store, state_dir: Path, list_ids: Iterable[str]) -> int:
    """Record each list's last activation and last refusal (with its reason) not yet in
    the database; returns how many were new."""
    lists = ListStore(state_dir)
    added = 0
    ids = set(list_ids) | {p.parent.name for p in lists.root.glob("*/status.json")}
    with store.transaction():
        for list_id in sorted(ids):
            status = lists.status(list_id)
            activated = _when(status.get("activated"))
            if activated is not None:
                serial = status.get("serial")
                added += store.list_events.add(activated, list_id, "activated",
                                               serial if isinstance(serial, int) else None)
            refusal = status.get("last_refusal")
            if isinstance(refusal, dict):
                at = _when(refusal.get("time"))
                if at is not None:
                    added += store.list_events.add(at, list_id, "refused", None,
                                                   str(refusal.get("reason", "")))
    return added


def import_reports(store: Store, state_dir: Path) -> int:
    """Store the reports appended to state_dir/reports/reports.jsonl since the last import;
    returns how many. A file shorter than the bookmark was replaced: read from its start."""
    path = state_dir / "reports" / "reports.jsonl"
    try:
        size = path.stat().st_size
    except FileNotFoundError:
        return 0
    offset = int(store.node_state.get(REPORTS_OFFSET) or 0)
    if size < offset:
        offset = 0
    if size == offset:
        return 0
    with open(path, "rb") as f:
        f.seek(offset)
        data = f.read(size - offset)
    complete = data[: data.rfind(b"\n") + 1]  # a line still being written waits
    imported = 0
    with store.transaction():
        for number, raw in enumerate(complete.splitlines(), 1):
            try:
                item = json.loads(raw)
                at = datetime.strptime(item["time"], _REPORT_TIME).replace(tzinfo=UTC)
                name, list_id = str(item["name"]), str(item["list"])
            except (ValueError, KeyError, TypeError):
                if raw.strip():
                    log.warning("%s: a line after byte %d is not a report, skipped (%d)",
                                path, offset, number)
                continue
            store.reports.add(at, name, list_id)
            imported += 1
        store.node_state.set(REPORTS_OFFSET, str(offset + len(complete)))
    if imported:
        log.info("imported %d wrongly-blocked reports from %s", imported, path)
    return imported
