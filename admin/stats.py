"""Collecting the workers' counters: each worker writes its snapshot to state_dir/run, the
control plane sums them. Nothing on the query path waits for this: a worker writes from a
background task every few seconds, and a restarted worker continues from its last file.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
from dataclasses import fields
from pathlib import Path
from typing import Any

from resolver.counters import Counters

log = logging.getLogger("straja.stats")

INTERVAL = 2.0
_INT_FIELDS = {f.name for f in fields(Counters) if f.type in ("int", int)}


def run_dir(state_dir: Path) -> Path:
    return state_dir / "run"


def counter_path(state_dir: Path, index: int) -> Path:
    return run_dir(state_dir) / f"counters-{index}.json"


def restore(counters: Counters, state_dir: Path, index: int) -> None:
    """Continue from a previous worker's snapshot with the same index (after a restart)."""
    try:
        data = json.loads(counter_path(state_dir, index).read_text())
    except (OSError, ValueError):
        return
    for name, value in data.items():
        if name == "list_hits" and isinstance(value, dict):
            tiers = data.get("list_tiers", {})
            for list_id, hits in value.items():
                counters.box(list_id, tiers.get(list_id, "operator"))[0] += int(hits)
        elif isinstance(value, int) and name in _INT_FIELDS:
            setattr(counters, name, getattr(counters, name) + value)


def write(counters: Counters, state_dir: Path, index: int) -> None:
    directory = run_dir(state_dir)
    directory.mkdir(parents=True, exist_ok=True)
    snapshot = counters.snapshot()
    snapshot["list_tiers"] = dict(counters.list_tiers)
    path = counter_path(state_dir, index)
    tmp = path.with_suffix(".tmp")
    try:
        tmp.write_text(json.dumps(snapshot, sort_keys=True))
        os.replace(tmp, path)
    except OSError:
        tmp.unlink(missing_ok=True)  # a full disk: leave nothing half-written behind
        raise


async def writer(counters: Counters, state_dir: Path, index: int) -> None:
    """Write the snapshot every INTERVAL seconds until cancelled, and once more then."""
    try:
        while True:
            await asyncio.sleep(INTERVAL)
            try:
                write(counters, state_dir, index)
            except OSError as exc:
                log.warning("cannot write counters to %s: %s", state_dir, exc)
    finally:
        try:
            write(counters, state_dir, index)
        except OSError:
            pass


def totals(state_dir: Path) -> dict[str, Any]:
    """The sum of every worker's last snapshot."""
    total: dict[str, Any] = {"workers": 0, "list_hits": {}}
    for path in sorted(run_dir(state_dir).glob("counters-*.json")):
        try:
            data = json.loads(path.read_text())
        except (OSError, ValueError):
            continue
        total["workers"] += 1
        for name, value in data.items():
            if name == "list_hits":
                for list_id, hits in value.items():
                    total["list_hits"][list_id] = total["list_hits"].get(list_id, 0) + hits
            elif isinstance(value, int):
                total[name] = total.get(name, 0) + value
    return total
