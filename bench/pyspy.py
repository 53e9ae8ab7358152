"""Profiling Straja under load with py-spy, and the few lines of it worth reading.

py-spy samples the running process from outside (reading its memory, without pausing it:
--nonblocking; --native pauses it for each sample to unwind C frames too). Samples of a
thread waiting in epoll are left out (idle), so the counts are the worker's busy time:
Python and the system calls it makes, attributed to the Python frame that called them (or
with --native to the C frame inside uvloop).
"""

from __future__ import annotations

import re
import shutil
import subprocess
from collections import Counter
from pathlib import Path

from bench.procs import pinned

PY_SPY = shutil.which("py-spy") or str(Path(__file__).resolve().parent.parent / ".venv/bin/py-spy")
_FRAME_FILE = re.compile(r"^(?P<func>.*?) \((?P<file>[^()]*?)(?::\d+)?\)$")
# Stack prefixes py-spy adds with --subprocesses or --threads; not frames.
_LABELS = ("process ", "thread ")
# Frames from these source folders count as Straja's own.
OUR_PACKAGES = ("resolver/", "blocklists/")


def start(
    pid: int, seconds: float, output: Path, cpus: str | None, native: bool = False, rate: int = 500
) -> subprocess.Popen[bytes]:
    """Start sampling `pid` for `seconds` into `output` (collapsed stacks, one per line)."""
    cmd = [
        PY_SPY, "record", "--pid", str(pid), "--duration", str(max(1, round(seconds))),
        "--rate", str(rate), "--format", "raw", "--output", str(output), "--function",
    ]  # fmt: skip
    # --native needs the process paused for each sample, which slows it while profiled.
    cmd.append("--native" if native else "--nonblocking")
    return subprocess.Popen(pinned(cmd, cpus), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)


def _short(frame: str) -> str:
    """`func (resolver/core.py:12)` as `func (resolver/core.py)`."""
    m = _FRAME_FILE.match(frame)
    if m is None:
        return frame
    return f"{m.group('func')} ({m.group('file')})"


def read(path: Path) -> list[tuple[list[str], int]]:
    """The stacks of a raw py-spy file, outermost frame first, with their sample counts.

    A coroutine resumed from uvloop's C code may show only its own frames, not the loop's.
    """
    stacks = []
    for line in path.read_text().splitlines():
        body, _, count = line.rpartition(" ")
        if count.isdigit():
            frames = [_short(f) for f in body.split(";") if f and not f.startswith(_LABELS)]
            stacks.append((frames, int(count)))
    return stacks


def summarize(path: Path, top: int = 12, ours: tuple[str, ...] = OUR_PACKAGES) -> list[str]:
    """The frames that take the most samples themselves (self), and Straja's functions with
    what they call (total), as shares of all samples."""
    stacks = read(path)
    total = sum(count for _, count in stacks)
    if not total:
        return [f"  (no samples in {path})"]
    own: Counter[str] = Counter()
    inclusive: Counter[str] = Counter()
    for frames, count in stacks:
        own[frames[-1] if frames else "(no Python frame)"] += count
        for frame in set(frames):
            if any(f"({package}" in frame for package in ours):
                inclusive[frame] += count
    lines = [f"  {total} samples; self, then total (self + callees) of Straja's functions:"]
    lines += [f"    self  {n / total:6.1%}  {frame}" for frame, n in own.most_common(top)]
    lines += [f"    total {n / total:6.1%}  {frame}" for frame, n in inclusive.most_common(top)]
    return lines
