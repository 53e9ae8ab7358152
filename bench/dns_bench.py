"""DNS serving benchmark: Straja beside reference servers, same load, interleaved rounds.

    .venv/bin/python bench/dns_bench.py            # the default run, under ~2 minutes
    .venv/bin/python bench/dns_bench.py --smoke    # a few seconds, for the test suite

A real Unbound on 127.0.0.2 serves a synthetic zone as the upstream. Straja (`python -m
admin serve`), a uvloop UDP echo server (the ceiling for any Python server) and Unbound as a
caching forwarder run on 127.0.0.1, pinned to the server CPUs; dnsperf runs pinned to the
load CPUs. Each round measures every server once, in rotating order (A B C, B C A, ...), so
the noise of a shared machine spreads over all of them; the table shows medians and the
ratios are taken within a round. Everything is on loopback, and every run is bounded by
time and by count.
"""

from __future__ import annotations

import argparse
import importlib.metadata
import importlib.util
import json
import math
import os
import platform
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))  # run as a script: make `bench` and `tests` importable

import dns.message  # noqa: E402
import dns.query  # noqa: E402

from bench import dnsperf  # noqa: E402
from bench.procs import (  # noqa: E402
    TASKSET,
    busy_seconds,
    cpu_seconds,
    parse_cpu_list,
    peak_rss_bytes,
    probe_query,
)
from bench.servers import (  # noqa: E402
    UNBOUND,
    Dnsmasq,
    EchoServer,
    Server,
    StrajaServer,
    UnboundForwarder,
    UpstreamUnbound,
)
from bench.workloads import CachedWorkload, Workload  # noqa: E402
from bench.zone import Zone  # noqa: E402

# The servers a run can compare, by the key used on the command line and in SUMMARY.
ServerFactory = Callable[[Path, "Options", UpstreamUnbound], Server]
SERVER_KINDS: dict[str, ServerFactory] = {
    "straja": lambda d, o, up: StrajaServer(d, o.server_cpus, up, o.workers, o.straja_tree),
    "echo": lambda d, o, up: EchoServer(d, o.server_cpus),
    "unbound": lambda d, o, up: UnboundForwarder(d, o.server_cpus, up),
    "dnsmasq": lambda d, o, up: Dnsmasq(d, o.server_cpus, up),
}
WorkloadFactory = Callable[[Zone, "Options"], Workload]
WORKLOAD_KINDS: dict[str, WorkloadFactory] = {
    "cached": lambda zone, o: CachedWorkload(zone, o.names),
}
MAX_WARM_PASSES = 30
CLEAN_WARM_PASSES = 3


@dataclass(slots=True)
class Options:
    rounds: int
    seconds: float
    latency_seconds: float
    latency_load: float
    zone_names: int
    names: int
    workers: int
    servers: list[str]
    workloads: list[str]
    server_cpus: str | None
    load_cpus: str | None
    upstream_cpus: str | None
    shape: dnsperf.LoadShape
    latency_shape: dnsperf.LoadShape
    json_path: Path | None
    workdir: Path | None
    straja_tree: Path


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


@dataclass(slots=True)
class Row:
    """One server's samples over all rounds of one workload; the table shows their medians."""

    key: str
    name: str
    startup_seconds: float | None
    warmed: bool  # every measured query should have been a cache hit
    pids: list[int]  # the server's processes while measured
    samples: list[Sample] = field(default_factory=list)
    peak_rss: int = 0

    def median(self, get: Callable[[Sample], float | None]) -> float | None:
        values = [v for v in (get(s) for s in self.samples) if v is not None and not math.isnan(v)]
        return statistics.median(values) if values else None


# -- running -----------------------------------------------------------------------------


def percentile(values: Sequence[float], fraction: float) -> float | None:
    """Nearest-rank percentile; None for no values."""
    if not values:
        return None
    ordered = sorted(values)
    return ordered[max(0, math.ceil(fraction * len(ordered)) - 1)]


def warm(server: Server, query_file: Path, upstream: UpstreamUnbound, opts: Options) -> int:
    """Replay the query file until passes in a row send the upstream nothing; returns passes.

    With several workers each has its own cache, and the kernel picks the worker for each
    dnsperf socket, so warm-up uses many sockets and wants several clean passes in a row.
    A name that still misses shows in the table's "upstream q" column.
    """
    shape = replace(opts.shape, clients=max(opts.shape.clients, 16))
    clean = 0
    for attempt in range(1, MAX_WARM_PASSES + 1):
        before = upstream.queries_seen()
        result = dnsperf.run(server.address, query_file, shape, opts.load_cpus, 60, passes=1)
        if result.completed == 0:
            raise RuntimeError(f"{server.name} answered none of the warm-up queries")
        clean = clean + 1 if upstream.queries_seen() == before else 0
        if clean == CLEAN_WARM_PASSES:
            return attempt
    print(f"warning: {server.name} still sent queries upstream after {MAX_WARM_PASSES} passes")
    return MAX_WARM_PASSES


def check_answer(server: Server, zone: Zone) -> None:
    """A benchmark of wrong answers is worthless: ask one name and compare the address."""
    host, port = server.address
    reply = dns.query.udp(dns.message.make_query(zone.name(0), "A"), host, port=port, timeout=5)
    got = sorted(rr.address for rrset in reply.answer for rr in rrset if rr.rdtype == 1)
    if got != [zone.address(0)]:
        raise RuntimeError(f"{server.name} answered {zone.name(0)} with {got or reply.rcode()}")


def measure(
    key: str,
    server: Server,
    workload: Workload,
    query_file: Path,
    upstream: UpstreamUnbound,
    opts: Options,
    round_no: int,
) -> Sample:
    pids = server.pids()
    upstream_before = upstream.queries_seen()
    server_cpus = parse_cpu_list(opts.server_cpus)
    load_cpus = parse_cpu_list(opts.load_cpus)
    user_before, system_before = cpu_seconds(pids)
    busy_before = busy_seconds(server_cpus)
    load_busy_before = busy_seconds(load_cpus)
    load = dnsperf.run(server.address, query_file, opts.shape, opts.load_cpus, opts.seconds)
    load_busy = busy_seconds(load_cpus) - load_busy_before
    busy = busy_seconds(server_cpus) - busy_before
    user_after, system_after = cpu_seconds(pids)
    user, system = user_after - user_before, system_after - system_before
    sample = Sample(
        server=key,
        workload=workload.name,
        round=round_no,
        qps=load.qps,
        sent=load.sent,
        completed=load.completed,
        lost=load.lost,
        rcodes=load.rcodes,
        server_user_seconds=user,
        server_system_seconds=system,
        run_seconds=load.run_seconds,
        load_cpu_seconds=load.load_cpu_seconds,
        upstream_queries=0,
        other_busy_seconds=max(0.0, busy - user - system),
        load_other_busy_seconds=max(0.0, load_busy - load.load_cpu_seconds),
    )
    if opts.latency_seconds > 0 and load.qps > 0:
        # Latency under saturation is only queueing; measure it at a fraction of the max,
        # with few queries in flight: dnsperf paces -Q in bursts of up to -q queries, and
        # the last of a burst of 100 waits for the 99 before it.
        rate = load.qps * opts.latency_load
        timed = dnsperf.run(
            server.address,
            query_file,
            opts.latency_shape,
            opts.load_cpus,
            opts.latency_seconds,
            max_qps=rate,
            verbose=True,
        )
        sample.latency_qps = timed.qps
        sample.latency_avg = timed.avg_latency
        sample.latency_p50 = percentile(timed.latencies, 0.50)
        sample.latency_p99 = percentile(timed.latencies, 0.99)
        sample.latency_lost = timed.lost
    sample.upstream_queries = upstream.queries_seen() - upstream_before
    return sample


def start_server(key: str, opts: Options, workdir: Path, upstream: UpstreamUnbound) -> Server:
    server = SERVER_KINDS[key](workdir / key, opts, upstream)
    server.start(probe_query(upstream.zone.name(0)))
    print(f"started {server.name}: first answer after {server.startup_seconds:.3f} s")
    if server.resolves:
        check_answer(server, upstream.zone)
    return server


def run_workload(
    workload: Workload,
    servers: dict[str, Server],
    upstream: UpstreamUnbound,
    opts: Options,
    workdir: Path,
) -> list[Row]:
    """Warm every server if the workload wants it, then the interleaved rounds."""
    query_file = workload.write(workdir / f"{workload.name}.queries")
    print(f"workload {workload.describe()}")
    if workload.warm:
        for server in servers.values():
            passes = warm(server, query_file, upstream, opts)
            print(f"  warmed {server.name} in {passes} pass(es)")
    rows = {
        key: Row(key, server.name, server.startup_seconds, workload.warm, server.pids())
        for key, server in servers.items()
    }
    keys = list(servers)
    for round_no in range(1, opts.rounds + 1):
        shift = (round_no - 1) % len(keys)  # A B C, then B C A, then C A B ...
        for key in keys[shift:] + keys[:shift]:
            sample = measure(key, servers[key], workload, query_file, upstream, opts, round_no)
            rows[key].samples.append(sample)
            print(
                f"  round {round_no}/{opts.rounds} {servers[key].name:<12}"
                f" {sample.qps:9.0f} q/s {sample.cpu_us_per_query:7.2f} CPU us/q"
                f" lost {sample.lost}"
            )
    for key, server in servers.items():
        rows[key].peak_rss = peak_rss_bytes(server.pids())
    return list(rows.values())


def run(opts: Options, workdir: Path) -> dict[str, list[Row]]:
    """Start the upstream and the servers, run every workload, stop everything."""
    zone = Zone(opts.zone_names)
    upstream = UpstreamUnbound(workdir / "upstream", opts.upstream_cpus, zone)
    servers: dict[str, Server] = {}
    try:
        upstream.start(probe_query(zone.name(0)))
        for key in opts.servers:
            servers[key] = start_server(key, opts, workdir, upstream)
        return {
            name: run_workload(WORKLOAD_KINDS[name](zone, opts), servers, upstream, opts, workdir)
            for name in opts.workloads
        }
    finally:
        for server in servers.values():
            server.stop()
        upstream.stop()


# -- reporting ---------------------------------------------------------------------------


def source_version(tree: Path) -> str:
    """The commit a source tree is at, with -dirty when it has uncommitted changes."""
    out = subprocess.run(
        ["git", "-C", str(tree), "describe", "--always", "--dirty"],
        capture_output=True,
        text=True,
    )
    return out.stdout.strip() or "unknown"


def machine_facts() -> dict[str, str]:
    model = "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    uvloop = "no (asyncio's loop)"
    if importlib.util.find_spec("uvloop") is not None:
        uvloop = f"yes, {importlib.metadata.version('uvloop')}"
    unbound = subprocess.run([UNBOUND, "-V"], capture_output=True, text=True).stdout
    return {
        "nproc": str(os.cpu_count()),
        "cpu": model,
        "kernel": platform.release(),
        "python": platform.python_version(),
        "uvloop": uvloop,
        "dnsperf": dnsperf.version(),
        "unbound": (unbound.splitlines() or ["?"])[0].replace("Version ", ""),
    }


def _fmt(value: float | None, spec: str) -> str:
    return "-" if value is None else format(value, spec)


def _ms(value: float | None) -> str:
    return "-" if value is None else f"{value * 1000:.3f}"


def table(rows: Sequence[Row]) -> list[str]:
    head = [
        "server", "q/s", "q/s min-max", "server CPU", "load CPU", "CPU us/q", "user us/q",
        "q/s per core", "other busy srv/load", "avg ms", "p50 ms", "p99 ms", "lost", "upstream q",
        "peak RSS MiB", "start->answer ms",
    ]  # fmt: skip
    body = []
    for row in rows:
        qps = [s.qps for s in row.samples]
        lost = sum(s.lost + s.latency_lost for s in row.samples)
        sent = sum(s.sent for s in row.samples)
        cpu_us = row.median(lambda s: s.cpu_us_per_query)
        body.append([
            row.name,
            _fmt(row.median(lambda s: s.qps), ".0f"),
            f"{min(qps):.0f}-{max(qps):.0f}" if qps else "-",
            _fmt(row.median(lambda s: s.server_cpu_seconds / s.run_seconds * 100), ".0f") + "%",
            _fmt(row.median(lambda s: s.load_cpu_seconds / s.run_seconds * 100), ".0f") + "%",
            _fmt(cpu_us, ".2f"),
            _fmt(row.median(lambda s: s.user_us_per_query), ".2f"),
            _fmt(1e6 / cpu_us if cpu_us else None, ".0f"),
            _fmt(row.median(lambda s: s.other_busy_seconds / s.run_seconds * 100), ".0f")
            + "%/"
            + _fmt(row.median(lambda s: s.load_other_busy_seconds / s.run_seconds * 100), ".0f")
            + "%",
            _ms(row.median(lambda s: s.latency_avg)),
            _ms(row.median(lambda s: s.latency_p50)),
            _ms(row.median(lambda s: s.latency_p99)),
            f"{lost}" + (f" ({lost / sent:.2%})" if lost and sent else ""),
            str(sum(s.upstream_queries for s in row.samples)),
            f"{row.peak_rss / 2**20:.1f}",
            _fmt(row.startup_seconds * 1000 if row.startup_seconds is not None else None, ".0f"),
        ])  # fmt: skip
    widths = [max(len(r[i]) for r in [head, *body]) for i in range(len(head))]

    def line(cells: Sequence[str]) -> str:
        return "| " + " | ".join(c.rjust(w) for c, w in zip(cells, widths, strict=True)) + " |"

    rule = "|" + "|".join("-" * (w + 1) + ":" for w in widths) + "|"
    return [line(head), rule, *(line(r) for r in body)]


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


def _qps(s: Sample) -> float:
    return s.qps


def _per_core(s: Sample) -> float:
    """Queries one core could answer at this sample's CPU cost per query."""
    cost = s.cpu_us_per_query
    return 1e6 / cost if cost and not math.isnan(cost) else math.nan


def ratios(rows: Sequence[Row]) -> list[tuple[str, str, float]]:
    """(other server, measure, straja / other) for every reference server in the run."""
    found = []
    for other in [r.key for r in rows if r.key != "straja"]:
        for measure, get in (("qps", _qps), ("per_core", _per_core)):
            ratio = paired_ratio(rows, "straja", other, get)
            if ratio is not None:
                found.append((other, measure, ratio))
    return found


def summary(workload: str, rows: Sequence[Row], opts: Options) -> str:
    """One line that stays comparable across runs (and greppable in CI logs)."""
    parts = [f"SUMMARY {workload}", f"workers={opts.workers}", f"rounds={opts.rounds}"]
    for row in rows:
        parts.append(f"{row.key}_qps={_fmt(row.median(_qps), '.0f')}")
        parts.append(f"{row.key}_cpu_us={_fmt(row.median(lambda s: s.cpu_us_per_query), '.2f')}")
    straja = next((r for r in rows if r.key == "straja"), None)
    if straja is not None:
        parts.append(f"straja_p99_ms={_ms(straja.median(lambda s: s.latency_p99))}")
    for other, measure, ratio in ratios(rows):
        # ratio= is Straja over the echo ceiling in q/s; cpu_ratio= the same per core.
        prefix = "" if other == "echo" else f"{other}_"
        name = "ratio" if measure == "qps" else "cpu_ratio"
        parts.append(f"{prefix}{name}={ratio:.3f}")
    return " ".join(parts)


def report(results: dict[str, list[Row]], opts: Options, facts: dict[str, str]) -> list[str]:
    shape, lat = opts.shape, opts.latency_shape
    lines = [
        "",
        "Machine: " + ", ".join(f"{k} {v}" for k, v in facts.items()),
        f"Load: {opts.rounds} interleaved round(s); per server and round {opts.seconds:g} s of"
        f" dnsperf -c {shape.clients} -q {shape.outstanding}{' -e' if shape.edns else ''}"
        f" at full speed, then {opts.latency_seconds:g} s at {opts.latency_load:.0%} of that"
        f" rate (-c {lat.clients} -q {lat.outstanding}) for latency.",
        f"CPUs: servers {opts.server_cpus or 'any'}, dnsperf {opts.load_cpus or 'any'},"
        f" upstream {opts.upstream_cpus or 'any'}. Columns: medians over rounds;"
        " CPU = user+system time of the server's processes (or dnsperf's) over the run;"
        " user us/q is the part spent outside the kernel;"
        " other busy = time of the server's / dnsperf's CPUs spent in neither (other"
        " processes, interrupts, steal);"
        " q/s per core = 1e6 / CPU us per query.",
    ]
    for wname, rows in results.items():
        lines += ["", f"Workload {wname}:", *table(rows)]
        for other, measure, ratio in ratios(rows):
            what = "q/s" if measure == "qps" else "q/s per core"
            lines.append(f"straja / {other}, {what}, median of per-round ratios: {ratio:.3f}")
    lines.append("")
    lines += [summary(wname, rows, opts) for wname, rows in results.items()]
    return lines


def write_json(
    path: Path, results: dict[str, list[Row]], opts: Options, facts: dict[str, str]
) -> None:
    """Every sample, for comparing runs beyond the SUMMARY line."""
    data = {
        "facts": facts,
        "options": {k: str(v) for k, v in asdict(opts).items()},
        "servers": {
            f"{wname}/{r.key}": {
                "name": r.name,
                "pids": r.pids,
                "peak_rss": r.peak_rss,
                "startup_seconds": r.startup_seconds,
            }
            for wname, rows in results.items()
            for r in rows
        },
        "samples": [asdict(s) for rows in results.values() for r in rows for s in r.samples],
    }
    path.write_text(json.dumps(data, indent=2) + "\n")


def problems(results: dict[str, list[Row]]) -> tuple[list[str], list[str]]:
    """(fatal, worth a warning): a server that answered nothing, or lost every query, is fatal."""
    fatal, warnings = [], []
    for wname, rows in results.items():
        for row in rows:
            for s in row.samples:
                where = f"{wname}: {row.name}, round {s.round}"
                if s.completed == 0:
                    fatal.append(f"{where}: answered nothing")
                elif s.lost >= s.sent:
                    fatal.append(f"{where}: lost every query")
                bad = {k: v for k, v in s.rcodes.items() if k != "NOERROR"}
                if bad:
                    warnings.append(f"{where}: answered {bad}")
                if s.upstream_queries and row.warmed:
                    warnings.append(f"{where}: {s.upstream_queries} queries missed the cache")
    return fatal, warnings


# -- command line ------------------------------------------------------------------------


def default_cpus() -> tuple[str | None, str | None]:
    """Servers on the first CPU, dnsperf on the second; no pinning on a single CPU."""
    cpus = sorted(os.sched_getaffinity(0))
    if len(cpus) < 2 or TASKSET is None:
        return None, None
    half = len(cpus) // 2
    return ",".join(map(str, cpus[:half])), ",".join(map(str, cpus[half:]))


def parse_args(argv: Sequence[str]) -> Options:
    server_cpus, load_cpus = default_cpus()
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--rounds", type=int, default=5, help="interleaved rounds (default 5)")
    p.add_argument(
        "-l",
        "--seconds",
        type=float,
        default=4.0,
        help="seconds of full load per server per round (default 4)",
    )
    p.add_argument(
        "--latency-seconds",
        type=float,
        default=2.0,
        help="seconds of the rate-limited latency pass; 0 skips it (default 2)",
    )
    p.add_argument(
        "--latency-load",
        type=float,
        default=0.5,
        help="latency pass rate as a fraction of the server's max q/s (default 0.5)",
    )
    p.add_argument(
        "--zone-names",
        type=int,
        default=10_000,
        help="names in the upstream's zone (default 10000)",
    )
    p.add_argument(
        "--names",
        type=int,
        default=1000,
        help="distinct names in the cached workload (default 1000)",
    )
    p.add_argument("--workers", type=int, default=1, help="Straja's dns.workers (default 1)")
    p.add_argument(
        "--servers",
        default="straja,echo,unbound",
        help=f"comma-separated, from {','.join(SERVER_KINDS)} (default straja,echo,unbound)",
    )
    p.add_argument(
        "--workloads",
        default="cached",
        help=f"comma-separated, from {','.join(WORKLOAD_KINDS)} (default cached)",
    )
    p.add_argument(
        "--server-cpus",
        default=server_cpus,
        help=f"taskset CPU list for the servers (default {server_cpus})",
    )
    p.add_argument(
        "--load-cpus", default=load_cpus, help=f"taskset CPU list for dnsperf (default {load_cpus})"
    )
    p.add_argument(
        "--upstream-cpus",
        default=None,
        help="taskset CPU list for the upstream Unbound (default: the load CPUs)",
    )
    p.add_argument("--no-pin", action="store_true", help="do not pin anything")
    p.add_argument("--clients", type=int, default=4, help="dnsperf -c (default 4)")
    p.add_argument("--outstanding", type=int, default=100, help="dnsperf -q (default 100)")
    p.add_argument(
        "--latency-outstanding",
        type=int,
        default=10,
        help="dnsperf -q of the latency pass (default 10, with -c 1)",
    )
    p.add_argument("--edns", action="store_true", help="queries carry EDNS0 (dnsperf -e)")
    p.add_argument("--json", type=Path, help="also write every sample to this JSON file")
    p.add_argument("--workdir", type=Path, help="keep configs and logs here (default: temp)")
    p.add_argument(
        "--straja-tree",
        type=Path,
        default=REPO,
        help="run Straja from this source tree, e.g. a git worktree (default: this checkout)",
    )
    p.add_argument(
        "--smoke",
        action="store_true",
        help="a few seconds: 1 round of 2 s, a small zone (for the test suite)",
    )
    a = p.parse_args(argv)
    if a.smoke:
        a.rounds, a.seconds, a.latency_seconds = 1, 2.0, 1.0
        a.zone_names, a.names = min(a.zone_names, 200), min(a.names, 100)
    servers = [s for s in a.servers.split(",") if s]
    workloads = [w for w in a.workloads.split(",") if w]
    for given, known, what in ((servers, SERVER_KINDS, "server"),
                               (workloads, WORKLOAD_KINDS, "workload")):  # fmt: skip
        unknown = [x for x in given if x not in known]
        if unknown or not given:
            p.error(f"unknown {what} {unknown}; choose from {', '.join(known)}")
    if a.rounds < 1 or a.seconds <= 0:
        p.error("--rounds must be at least 1 and --seconds above 0")
    if not 0 < a.latency_load <= 1:
        p.error("--latency-load is a fraction between 0 and 1")
    if not 1 <= a.names <= a.zone_names:
        p.error("--names must be between 1 and --zone-names")
    if a.no_pin:
        a.server_cpus = a.load_cpus = a.upstream_cpus = None
    return Options(
        rounds=a.rounds,
        seconds=a.seconds,
        latency_seconds=a.latency_seconds,
        latency_load=a.latency_load,
        zone_names=a.zone_names,
        names=a.names,
        workers=a.workers,
        servers=servers,
        workloads=workloads,
        server_cpus=a.server_cpus or None,
        load_cpus=a.load_cpus or None,
        upstream_cpus=(a.upstream_cpus or a.load_cpus) or None,
        shape=dnsperf.LoadShape(clients=a.clients, outstanding=a.outstanding, edns=a.edns),
        latency_shape=dnsperf.LoadShape(clients=1, outstanding=a.latency_outstanding, edns=a.edns),
        json_path=a.json,
        workdir=a.workdir,
        straja_tree=a.straja_tree.resolve(),
    )


def _on_sigterm(signum: int, frame: object) -> None:
    raise SystemExit(128 + signum)  # unwinds through `finally`, which stops the servers


def main(argv: Sequence[str] | None = None) -> int:
    opts = parse_args(sys.argv[1:] if argv is None else argv)
    signal.signal(signal.SIGTERM, _on_sigterm)
    facts = machine_facts()
    facts["straja"] = f"{source_version(opts.straja_tree)} ({opts.straja_tree})"
    started = time.monotonic()
    if opts.workdir is not None:
        opts.workdir.mkdir(parents=True, exist_ok=True)
        results = run(opts, opts.workdir)
    else:
        with tempfile.TemporaryDirectory(prefix="straja-bench-") as tmp:
            results = run(opts, Path(tmp))
    for line in report(results, opts, facts):
        print(line)
    print(f"(took {time.monotonic() - started:.0f} s)")
    if opts.json_path is not None:
        write_json(opts.json_path, results, opts, facts)
    fatal, warnings = problems(results)
    for text in warnings:
        print(f"warning: {text}", file=sys.stderr)
    for text in fatal:
        print(f"error: {text}", file=sys.stderr)
    return 1 if fatal else 0


if __name__ == "__main__":
    sys.exit(main())
