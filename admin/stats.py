"""Collecting the workers' counters: each worker writes its snapshot to state_dir/run, the
control plane sums them. Nothing on the query path waits for this: a worker writes from a
background task every few seconds, and a restarted worker continues from its last file.

A snapshot (`counters-N.json`) holds the integer counters of resolver.counters.Counters,
`blocked` and `blocked_<tier>`, and the labelled counts `responses` ("action|RCODE"),
`proto` ("udp", "tcp"), `upstreams` ("upstream|result"), `list_hits` (list id) with
`list_tiers`; beside them `cache_entries`, `upstream_health` (upstream -> consecutive
failures), `qps` (queries per second since its previous snapshot) and `written_at` (unix
time). A missing key reads as empty.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import time
from dataclasses import fields
from pathlib import Path
from typing import Any

from resolver.counters import Counters

log = logging.getLogger("straja.stats")

INTERVAL = 2.0
_INT_FIELDS = {f.name for f in fields(Counters) if f.type in ("int", int)}
_LABELLED = ("responses", "proto", "upstreams", "list_hits")  # {label: count}, summed


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
    if not isinstance(data, dict):
        return
    carried: dict[str, Any] = {
        name: value for name, value in data.items()
        if name in _INT_FIELDS and isinstance(value, int)
    }
    for name in ("responses", "upstreams", "list_hits", "list_tiers"):
        if isinstance(data.get(name), dict):
            carried[name] = data[name]
    counters.carried = carried


def write(counters: Counters, state_dir: Path, index: int) -> None:
    directory = run_dir(state_dir)
    directory.mkdir(parents=True, exist_ok=True)
    snapshot = counters.snapshot()
    path = counter_path(state_dir, index)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(snapshot, sort_keys=True))
    os.replace(tmp, path)


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
    """The sum of every worker's last snapshot: counts and labelled counts added up,
    `list_tiers` merged, `upstream_health` the fewest failures any worker saw (an upstream
    is up when one worker's last exchange with it worked), `written_at` the latest, `qps`
    the sum over the workers that wrote within the last three intervals."""
    total: dict[str, Any] = {name: {} for name in _LABELLED}
    total.update(workers=0, list_tiers={}, upstream_health={}, written_at=0.0, qps=0.0)
    now = time.time()
    for path in sorted(run_dir(state_dir).glob("counters-*.json")):
        try:
            data = json.loads(path.read_text())
        except (OSError, ValueError):
            continue
        if not isinstance(data, dict):
            continue
        total["workers"] += 1
        for name, value in data.items():
            if name in _LABELLED and isinstance(value, dict):
                into = total[name]
                for label, n in value.items():
                    if isinstance(n, int):
                        into[label] = into.get(label, 0) + n
            elif name == "list_tiers" and isinstance(value, dict):
                total["list_tiers"].update(value)
            elif name == "upstream_health" and isinstance(value, dict):
                health = total["upstream_health"]
                for upstream, failures in value.items():
                    if isinstance(failures, int):
                        health[upstream] = min(failures, health.get(upstream, failures))
            elif name == "written_at" and isinstance(value, (int, float)):
                total["written_at"] = max(total["written_at"], float(value))
            elif name == "qps" and isinstance(value, (int, float)):
                written = data.get("written_at")
                # A worker that stopped writing (stopped, or gone with a smaller
                # dns.workers) answers nothing now, whatever its last rate was.
                if isinstance(written, (int, float)) and now - written <= 3 * INTERVAL:
                    total["qps"] += float(value)
            elif isinstance(value, int) and not isinstance(value, bool):
                total[name] = total.get(name, 0) + value
    return total
