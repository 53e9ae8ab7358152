"""What a run measured: samples per server, workload and round, and start-up times."""

from __future__ import annotations

import math
import statistics
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field


@dataclass(slots=True)
class Sample:
    """One server measured once in one round: a throughput pass, then a latency pass."""

    server: str
    workload: str
    round: int
    qps: float
    sent: int
    completed: int
    lost: int
    rcodes: dict[str, int]
    server_user_seconds: float
    server_system_seconds: float
    run_seconds: float
    load_cpu_seconds: float
    upstream_queries: int
    # Busy time of the server's (and of dnsperf's) CPUs that was not the server's (dnsperf's):
    # other processes, interrupts (the loopback traffic's softirqs too) and hypervisor steal.
    # High means a disturbed round.
    other_busy_seconds: float
    load_other_busy_seconds: float
    names_in_file: int = 0  # unique-name workloads: names the pass could ask, read once
    latency_qps: float = 0.0
    latency_avg: float | None = None
    latency_p50: float | None = None
    latency_p99: float | None = None
    latency_lost: int = 0

    @property
    def server_cpu_seconds(self) -> float:
        return self.server_user_seconds + self.server_system_seconds

    @property
    def cpu_us_per_query(self) -> float:
        return self.server_cpu_seconds / self.completed * 1e6 if self.completed else math.nan

    @property
    def user_us_per_query(self) -> float:
        return self.server_user_seconds / self.completed * 1e6 if self.completed else math.nan

    @property
    def system_us_per_query(self) -> float:
        return self.server_system_seconds / self.completed * 1e6 if self.completed else math.nan


@dataclass(slots=True)
class Row:
    """One server's samples over all rounds of one workload; the table shows their medians."""

    key: str
    name: str
    warmed: bool  # every measured query should have been answered without the upstream
    pids: list[int]  # the server's processes while measured
    samples: list[Sample] = field(default_factory=list)
    # VmHWM, VmRSS, RssAnon, RssFile summed over the server's processes after the workload
    memory: dict[str, int] = field(default_factory=dict)

    def median(self, get: Callable[[Sample], float | None]) -> float | None:
        values = [v for v in (get(s) for s in self.samples) if v is not None and not math.isnan(v)]
        return statistics.median(values) if values else None


@dataclass(slots=True)
class Startup:
    """One server's start-to-first-answer times over the start rounds, and its memory then."""

    key: str
    name: str
    seconds: list[float] = field(default_factory=list)
    memory: dict[str, int] = field(default_factory=dict)

    @property
    def median(self) -> float | None:
        return statistics.median(self.seconds) if self.seconds else None


@dataclass(slots=True)
class Results:
    workloads: dict[str, list[Row]]
    startups: dict[str, Startup]
    list_names: int  # names on the blocklist every DNS server carries (0: none)
    # Extra text per workload (a py-spy profile of Straja, when asked for).
    notes: dict[str, list[str]] = field(default_factory=dict)
    setup: dict[str, float] = field(default_factory=dict)  # seconds each setup step took


def percentile(values: Sequence[float], fraction: float) -> float | None:
    """Nearest-rank percentile; None for no values."""
    if not values:
        return None
    ordered = sorted(values)
    return ordered[max(0, math.ceil(fraction * len(ordered)) - 1)]


def paired_ratio(
    rows: Sequence[Row], top: str, bottom: str, get: Callable[[Sample], float]
) -> float | None:
    """Median over rounds of get(top) / get(bottom), both taken in the same round."""
    by_key = {r.key: r for r in rows}
    if top not in by_key or bottom not in by_key:
        return None
    below = {s.round: get(s) for s in by_key[bottom].samples}
    ratios = [
        get(s) / below[s.round]
        for s in by_key[top].samples
        if below.get(s.round) and not math.isnan(below[s.round]) and not math.isnan(get(s))
    ]
    return statistics.median(ratios) if ratios else None


def qps(s: Sample) -> float:
    return s.qps


def per_core(s: Sample) -> float:
    """Queries one core could answer at this sample's CPU cost per query."""
    cost = s.cpu_us_per_query
    return 1e6 / cost if cost and not math.isnan(cost) else math.nan
