"""Running dnsperf as the load generator and reading what it prints."""

from __future__ import annotations

import re
import resource
import shutil
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

from bench.procs import pinned

DNSPERF = shutil.which("dnsperf") or "/usr/bin/dnsperf"

_NUMBERS = {
    "sent": re.compile(r"Queries sent:\s+(\d+)"),
    "completed": re.compile(r"Queries completed:\s+(\d+)"),
    "lost": re.compile(r"Queries lost:\s+(\d+)"),
    "qps": re.compile(r"Queries per second:\s+([\d.]+)"),
    "run_seconds": re.compile(r"Run time \(s\):\s+([\d.]+)"),
    "avg_latency": re.compile(r"Average Latency \(s\):\s+([\d.]+)"),
}
_RCODES = re.compile(r"Response codes:\s+(.*)")
_RCODE_ITEM = re.compile(r"([A-Z]+) (\d+)")
# With -v, one line per answered query: "> NOERROR n000001.bench.test. A 0.000123".
_VERBOSE = re.compile(r"^> \S+ .* ([\d.]+)$", re.MULTILINE)


class DnsperfError(Exception):
    """dnsperf failed or printed no statistics."""


@dataclass(slots=True)
class DnsperfResult:
    sent: int = 0
    completed: int = 0
    lost: int = 0
    qps: float = 0.0
    run_seconds: float = 0.0
    avg_latency: float = 0.0  # seconds
    rcodes: dict[str, int] = field(default_factory=dict)
    latencies: list[float] = field(default_factory=list)  # seconds, only with verbose
    load_cpu_seconds: float = 0.0  # dnsperf's own user + system time


@dataclass(frozen=True, slots=True)
class LoadShape:
    """How dnsperf drives the server; the same for every server of a comparison."""

    clients: int = 4  # sockets (distinct source ports, so SO_REUSEPORT spreads them)
    outstanding: int = 100  # queries in flight at once
    timeout: float = 2.0  # seconds before an unanswered query counts as lost
    edns: bool = False
    threads: int = 1  # dnsperf -T: one per load CPU to drive several server cores


def version() -> str:
    out = subprocess.run([DNSPERF, "-h"], capture_output=True, text=True)
    m = re.search(r"Version (\S+)", out.stdout + out.stderr)
    return m.group(1) if m else "unknown"


def run(
    address: tuple[str, int],
    query_file: Path,
    shape: LoadShape,
    cpus: str | None,
    seconds: float,
    max_qps: float | None = None,
    passes: int | None = None,
    verbose: bool = False,
) -> DnsperfResult:
    """One dnsperf run against `address`, bounded by `seconds` (and `passes` if given)."""
    host, port = address
    cmd = [
        DNSPERF,
        "-s", host, "-p", str(port), "-d", str(query_file),
        "-l", f"{seconds:g}", "-t", f"{shape.timeout:g}",
        "-c", str(shape.clients), "-q", str(shape.outstanding), "-T", str(shape.threads),
    ]  # fmt: skip
    if max_qps is not None:
        cmd += ["-Q", str(max(1, int(max_qps)))]
    if passes is not None:
        cmd += ["-n", str(passes)]
    if verbose:
        cmd.append("-v")
    if shape.edns:
        cmd.append("-e")
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    try:
        proc = subprocess.run(
            pinned(cmd, cpus),
            capture_output=True,
            text=True,
            timeout=seconds + shape.timeout + 30,
        )
    except subprocess.TimeoutExpired:
        raise DnsperfError(f"dnsperf did not finish: {' '.join(cmd)}") from None
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return parse(proc.stdout, proc.stderr, proc.returncode, after, before, verbose)


def parse(
    stdout: str,
    stderr: str,
    returncode: int,
    after: resource.struct_rusage,
    before: resource.struct_rusage,
    verbose: bool,
) -> DnsperfResult:
    result = DnsperfResult()
    for attr, pattern in _NUMBERS.items():
        m = pattern.search(stdout)
        if m is None:
            raise DnsperfError(
                f"dnsperf exited with {returncode} and printed no '{attr}':\n"
                f"{stdout[-2000:]}\n{stderr[-2000:]}"
            )
        setattr(result, attr, type(getattr(result, attr))(m.group(1)))
    m = _RCODES.search(stdout)
    if m:
        result.rcodes = {code: int(n) for code, n in _RCODE_ITEM.findall(m.group(1))}
    if verbose:
        result.latencies = [float(x) for x in _VERBOSE.findall(stdout)]
    result.load_cpu_seconds = (after.ru_utime - before.ru_utime) + (
        after.ru_stime - before.ru_stime
    )
    return result
