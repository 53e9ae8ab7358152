"""The "looks wrongly blocked" reports: an append-only JSON-lines file in state_dir.

A report holds the name, the list and the time, and nothing about who sent it: no client
address, no User-Agent. One line per report, so several worker processes can append to the
same file (each write is a single O_APPEND write of a short line).
"""

from __future__ import annotations

import builtins
import json
import logging
import os
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

log = logging.getLogger("straja.stoppage")

_TIME_FORMAT = "%Y-%m-%dT%H:%M:%SZ"


@dataclass(frozen=True, slots=True)
class Report:
    """One report: which name, blocked by which list, when (Unix time, whole seconds)."""

    time: float
    name: str
    list_id: str

    def as_dict(self) -> dict[str, str]:
        """The stored form: {"time": ISO 8601 UTC, "name": ..., "list": ...}."""
        stamp = datetime.fromtimestamp(self.time, UTC).strftime(_TIME_FORMAT)
        return {"time": stamp, "name": self.name, "list": self.list_id}


class ReportStore:
    """Reports in `state_dir/reports/reports.jsonl`, readable by the operator and the CLI."""

    def __init__(self, state_dir: str | Path) -> None:
        self.path = Path(state_dir) / "reports" / "reports.jsonl"

    def add(self, name: str, list_id: str, when: float) -> Report:
        """Append one report; creates the folder (0750) and the file (0640) when missing."""
        report = Report(float(int(when)), name, list_id)
        line = json.dumps(report.as_dict(), ensure_ascii=False, separators=(",", ":")) + "\n"
        self.path.parent.mkdir(mode=0o750, parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o640)
        try:
            if os.fstat(fd).st_size == 0:
                os.fchmod(fd, 0o640)  # whatever the umask, the file is not world-readable
            os.write(fd, line.encode("utf-8"))
        finally:
            os.close(fd)
        return report

    def list(self) -> builtins.list[Report]:
        """Every stored report, newest first. Lines that cannot be read are skipped with a
        warning naming the file and line."""
        try:
            data = self.path.read_bytes()
        except FileNotFoundError:
            return []
        reports = []
        for number, raw in enumerate(data.splitlines(), 1):
            if not raw.strip():
                continue
            report = _parse(raw)
            if report is None:
                log.warning("%s:%d: not a report, skipped", self.path, number)
                continue
            reports.append(report)
        reports.sort(key=lambda r: r.time, reverse=True)
        return reports

    def since(self, start: float) -> builtins.list[Report]:
        """The reports stored at or after `start` (Unix time), newest first."""
        return [r for r in self.list() if r.time >= start]


def _parse(raw: bytes) -> Report | None:
    try:
        item = json.loads(raw)
        when = datetime.strptime(item["time"], _TIME_FORMAT).replace(tzinfo=UTC)
        name, list_id = item["name"], item["list"]
    except (ValueError, KeyError, TypeError):
        return None
    if not isinstance(name, str) or not isinstance(list_id, str):
        return None
    return Report(when.timestamp(), name, list_id)
