"""Side-by-side DNS benchmark: Straja, dnsmasq, Unbound and a uvloop echo server, one run.

    .venv/bin/python bench/dns_bench.py            # the default run, about 9 minutes
    .venv/bin/python bench/dns_bench.py --smoke    # ~30 s, for the test suite

All three DNS servers carry the same seeded synthetic blocklist (1M names by default) and
forward to the same upstream: a real Unbound on 127.0.0.2 answering the allowed names from
local data. The uvloop echo server answers everything without DNS work, the ceiling for any
Python server. The servers are pinned to the server CPUs and run side by side; dnsperf,
pinned to the load CPUs, measures each workload (blocked, cached, mixed, cold-unique) in
interleaved rounds (A B C D, B C D A, ...), so the noise of a shared machine spreads over
all of them; the tables show medians and ratios are taken within a round. Start to first
answer is measured over interleaved restarts with the list loaded. Everything is on
loopback, and every run is bounded by time and by count.
"""

from __future__ import annotations

import argparse
import importlib.metadata
import importlib.util
import json
import os
import platform
import re
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, replace
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))  # run as a script: make `bench` and `tests` importable

import dns.message  # noqa: E402
import dns.query  # noqa: E402

from bench import corpus as corpus_mod  # noqa: E402
from bench import dnsperf, pyspy  # noqa: E402
from bench.blocklist import SINKHOLE, Blocklist, write_blocklist  # noqa: E402
from bench.procs import (  # noqa: E402
    TASKSET,
    busy_seconds,
    cpu_seconds,
    memory_bytes,
    parse_cpu_list,
    probe_query,
    rcode_of,
)
from bench.report import report, straja_workers, summary  # noqa: E402
from bench.results import Results, Row, Sample, Startup, percentile  # noqa: E402
from bench.servers import (  # noqa: E402
    DNSMASQ,
    UNBOUND,
    Dnsmasq,
    EchoServer,
    Server,
    StrajaServer,
    UnboundForwarder,
    UpstreamUnbound,
)
from bench.workloads import (  # noqa: E402
    BlockedWorkload,
    CachedWorkload,
    ColdUniqueWorkload,
    MixedWorkload,
    Workload,
)
from bench.zone import Zone  # noqa: E402

SERVER_KINDS = ("straja", "dnsmasq", "unbound", "echo")
WORKLOAD_KINDS = ("blocked", "cached", "mixed", "cold-unique")
NEEDS_LIST = ("blocked", "mixed")
MAX_WARM_PASSES = 30
CLEAN_WARM_PASSES = 3


@dataclass(slots=True)
class Options:
    rounds: int
    seconds: float
    latency_seconds: float
    latency_load: float
    start_rounds: int
    list_names: int
    zone_names: int
    names: int
    blocked_names: int
    mixed_names: int
    mixed_queries: int
    zipf: float
    cold_domains: int
    cold_qps: int
    cache_entries: int
    workers: list[int]
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
    baseline_tree: Path | None
    profile: Path | None
    profile_native: bool
    seed: int


# -- servers -----------------------------------------------------------------------------


def cpu_subset(cpus: str | None, count: int) -> str | None:
    """The first `count` CPUs of a taskset list (all of them if it has fewer)."""
    if cpus is None:
        return None
    chosen = sorted(parse_cpu_list(cpus))[:count]
    return ",".join(map(str, chosen))


def make_servers(
    opts: Options, workdir: Path, upstream: UpstreamUnbound, blocklist: Blocklist | None
) -> dict[str, Server]:
    """The servers by key: `straja` (one worker), `straja-xN` per extra worker count, and the
    references. Single-threaded servers get the first server CPU; Straja with N workers the
    first N."""
    one_cpu = cpu_subset(opts.server_cpus, 1)
    servers: dict[str, Server] = {}
    for kind in opts.servers:
        if kind == "straja":
            for n in opts.workers:
                key = "straja" if n == 1 else f"straja-x{n}"
                if opts.server_cpus and n > len(parse_cpu_list(opts.server_cpus)):
                    print(f"warning: {key} has more workers than server CPUs ({opts.server_cpus})")
                servers[key] = StrajaServer(
                    workdir / key, cpu_subset(opts.server_cpus, n), upstream, blocklist,
                    opts.cache_entries, n, opts.straja_tree,
                )  # fmt: skip
            if opts.baseline_tree is not None:
                # Before/after a change in one run: the same harness, rounds interleaved.
                before = StrajaServer(
                    workdir / "straja-before", one_cpu, upstream, blocklist,
                    opts.cache_entries, 1, opts.baseline_tree,
                )  # fmt: skip
                before.name = "straja before"
                servers["straja-before"] = before
        elif kind == "dnsmasq":
            servers[kind] = Dnsmasq(
                workdir / kind, one_cpu, upstream, blocklist, opts.cache_entries
            )
        elif kind == "unbound":
            servers[kind] = UnboundForwarder(workdir / kind, one_cpu, upstream, blocklist)
        elif kind == "echo":
            servers[kind] = EchoServer(workdir / kind, one_cpu)
    return servers


def answer_is_block(rcode: int) -> Callable[[bytes], bool]:
    """Whether a reply is the server's blocked answer: NXDOMAIN, or A 0.0.0.0."""

    def accept(reply: bytes) -> bool:
        if rcode_of(reply) != rcode:
            return False
        if rcode != 0:
            return True
        message = dns.message.from_wire(reply)
        return any(rr.address == SINKHOLE for rrset in message.answer for rr in rrset)

    return accept


def start_all(
    servers: dict[str, Server], opts: Options, zone: Zone, blocked_name: str | None
) -> dict[str, Startup]:
    """Start every server `start_rounds` times in rotating order, keep the last start
    running. A blocking server counts as started once it gives the blocked answer, so the
    time includes loading the list."""
    keys = list(servers)
    startups = {key: Startup(key, servers[key].name) for key in keys}
    for round_no in range(opts.start_rounds):
        shift = round_no % len(keys)
        for key in keys[shift:] + keys[:shift]:
            server = servers[key]
            if server.blocks and blocked_name is not None:
                server.start(probe_query(blocked_name), answer_is_block(server.block_rcode))
            else:
                server.start(probe_query(zone.name(0)))
            assert server.startup_seconds is not None
            startups[key].seconds.append(server.startup_seconds)
            print(f"started {server.name}: first answer after {server.startup_seconds:.3f} s")
            if round_no < opts.start_rounds - 1:
                server.stop()
            else:
                startups[key].memory = memory_bytes(server.pids())
    return startups


def check_answers(server: Server, zone: Zone, blocked_name: str | None) -> None:
    """A benchmark of wrong answers is worthless: ask an allowed and a blocked name."""
    if not server.resolves:
        return
    host, port = server.address
    reply = dns.query.udp(dns.message.make_query(zone.name(0), "A"), host, port=port, timeout=5)
    got = sorted(rr.address for rrset in reply.answer for rr in rrset if rr.rdtype == 1)
    if got != [zone.address(0)]:
        raise RuntimeError(f"{server.name} answered {zone.name(0)} with {got or reply.rcode()}")
    if server.blocks and blocked_name is not None:
        query = dns.message.make_query(blocked_name, "A")
        wire = dns.query.udp(query, host, port=port, timeout=5).to_wire()
        if not answer_is_block(server.block_rcode)(wire):
            raise RuntimeError(f"{server.name} did not block {blocked_name}")


# -- measuring ---------------------------------------------------------------------------


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


def pass_file(workload: Workload, workdir: Path, tag: str, seconds: float, rate: float) -> Path:
    """The query file of one pass; for unique names, enough for `seconds` at `rate`."""
    return workload.query_file(workdir, tag, int(rate * seconds * 1.1) + 100)


def measure(
    key: str,
    index: int,
    server: Server,
    workload: Workload,
    workdir: Path,
    upstream: UpstreamUnbound,
    opts: Options,
    round_no: int,
) -> Sample:
    pids = server.pids()
    # Fresh names are read once; the echo server keeps no cache, so its file may wrap.
    passes = 1 if workload.unique and server.resolves else None
    query_file = pass_file(workload, workdir, f"r{round_no}s{index}t", opts.seconds, opts.cold_qps)
    names_in_file = sum(1 for _ in query_file.open()) if workload.unique else 0
    upstream_before = upstream.queries_seen()
    server_cpus = parse_cpu_list(server.cpus)
    load_cpus = parse_cpu_list(opts.load_cpus)
    user_before, system_before = cpu_seconds(pids)
    busy_before = busy_seconds(server_cpus)
    load_busy_before = busy_seconds(load_cpus)
    load = dnsperf.run(
        server.address, query_file, opts.shape, opts.load_cpus, opts.seconds, passes=passes
    )
    load_busy = busy_seconds(load_cpus) - load_busy_before
    busy = busy_seconds(server_cpus) - busy_before
    user_after, system_after = cpu_seconds(pids)
    user, system = user_after - user_before, system_after - system_before
    if workload.unique:
        query_file.unlink()
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
        names_in_file=names_in_file,
    )
    if opts.latency_seconds > 0 and load.qps > 0:
        # Latency under saturation is only queueing; measure it at a fraction of the max,
        # with few queries in flight: dnsperf paces -Q in bursts of up to -q queries, and
        # the last of a burst of 100 waits for the 99 before it.
        rate = load.qps * opts.latency_load
        latency_file = pass_file(workload, workdir, f"r{round_no}s{index}l", opts.latency_seconds,
                                 rate)  # fmt: skip
        timed = dnsperf.run(
            server.address,
            latency_file,
            opts.latency_shape,
            opts.load_cpus,
            opts.latency_seconds,
            max_qps=rate,
            passes=passes,
            verbose=True,
        )
        if workload.unique:
            latency_file.unlink()
        sample.latency_qps = timed.qps
        sample.latency_avg = timed.avg_latency
        sample.latency_p50 = percentile(timed.latencies, 0.50)
        sample.latency_p99 = percentile(timed.latencies, 0.99)
        sample.latency_lost = timed.lost
    sample.upstream_queries = upstream.queries_seen() - upstream_before
    return sample


def profile_straja(
    servers: dict[str, Server], workload: Workload, workdir: Path, opts: Options
) -> list[str]:
    """One more full-speed pass on Straja (not measured) with py-spy attached to a worker."""
    key = next((k for k in servers if straja_workers(k) is not None), None)
    if key is None or opts.profile is None:
        return []
    server = servers[key]
    pids = server.pids()
    pid = pids[1] if len(pids) > 1 else pids[0]  # with workers, the first worker
    opts.profile.mkdir(parents=True, exist_ok=True)
    output = opts.profile / f"{key}-{workload.name}.txt"
    query_file = pass_file(workload, workdir, "p0", opts.seconds + 1, opts.cold_qps)
    spy = pyspy.start(pid, opts.seconds, output, opts.load_cpus, native=opts.profile_native)
    time.sleep(0.3)  # let py-spy attach before the load starts
    user_before, system_before = cpu_seconds(pids)
    load = dnsperf.run(
        server.address, query_file, opts.shape, opts.load_cpus, opts.seconds + 0.5,
        passes=1 if workload.unique else None,
    )  # fmt: skip
    user_after, system_after = cpu_seconds(pids)
    _, err = spy.communicate(timeout=opts.seconds + 30)
    if workload.unique:
        query_file.unlink()
    done = max(load.completed, 1)
    head = (
        f"py-spy profile of {server.name} ({output}), one extra pass, not measured:"
        f" {load.qps:.0f} q/s while sampled, user {(user_after - user_before) / done * 1e6:.2f}"
        f" + system {(system_after - system_before) / done * 1e6:.2f} us/q"
    )
    if not output.exists():
        return [head, f"  py-spy wrote nothing: {err.decode(errors='replace')[-500:]}"]
    return [head, *pyspy.summarize(output)]


def run_workload(
    workload: Workload,
    servers: dict[str, Server],
    upstream: UpstreamUnbound,
    opts: Options,
    workdir: Path,
) -> tuple[list[Row], list[str]]:
    """Warm every server if the workload wants it, then the interleaved rounds."""
    print(f"workload {workload.describe()}")
    if workload.warm:
        warm_file = workload.warm_file(workdir)
        for server in servers.values():
            passes = warm(server, warm_file, upstream, opts)
            print(f"  warmed {server.name} in {passes} pass(es)")
    rows = {
        key: Row(key, server.name, workload.warm, server.pids()) for key, server in servers.items()
    }
    keys = list(servers)
    for round_no in range(1, opts.rounds + 1):
        shift = (round_no - 1) % len(keys)  # A B C, then B C A, then C A B ...
        for key in keys[shift:] + keys[:shift]:
            index = keys.index(key)
            sample = measure(key, index, servers[key], workload, workdir, upstream, opts, round_no)
            rows[key].samples.append(sample)
            print(
                f"  round {round_no}/{opts.rounds} {servers[key].name:<12}"
                f" {sample.qps:9.0f} q/s {sample.cpu_us_per_query:7.2f} CPU us/q"
                f" lost {sample.lost} upstream {sample.upstream_queries}"
            )
    for key, server in servers.items():
        rows[key].memory = memory_bytes(server.pids())
    notes = profile_straja(servers, workload, workdir, opts) if opts.profile else []
    return list(rows.values()), notes


def make_workloads(opts: Options, corpus: corpus_mod.Corpus) -> list[Workload]:
    made: list[Workload] = []
    for name in opts.workloads:
        if name == "blocked":
            made.append(BlockedWorkload(corpus.listed, opts.blocked_names))
        elif name == "cached":
            made.append(CachedWorkload(corpus.allowed, opts.names))
        elif name == "mixed":
            made.append(MixedWorkload(corpus.listed, corpus.allowed, opts.mixed_names,
                                      opts.mixed_queries, opts.zipf))  # fmt: skip
        elif name == "cold-unique":
            made.append(ColdUniqueWorkload(corpus.cold_domains, int(opts.cold_qps * opts.seconds)))
    return made


def run(opts: Options, workdir: Path) -> Results:
    """Make the list, start the upstream and the servers, run every workload, stop all."""
    setup: dict[str, float] = {}
    started = time.perf_counter()
    corpus = corpus_mod.build(opts.list_names, opts.zone_names, opts.cold_domains, opts.seed)
    setup["generate names"] = time.perf_counter() - started
    blocklist = None
    if opts.list_names:
        started = time.perf_counter()
        blocklist = write_blocklist(corpus.listed, workdir / "list", opts.straja_tree)
        setup["write, compile and sign the list"] = time.perf_counter() - started
        setup["straja lists compile"] = blocklist.compile_seconds
        print(f"list of {blocklist.count} names: compiled for Straja in"
              f" {blocklist.compile_seconds:.1f} s, written for all in"
              f" {setup['write, compile and sign the list']:.1f} s")  # fmt: skip
    blocked_name = f"{corpus.listed[0]}." if corpus.listed else None
    zone = Zone(tuple(corpus.allowed), tuple(corpus.cold_domains))
    upstream = UpstreamUnbound(workdir / "upstream", opts.upstream_cpus, zone)
    servers: dict[str, Server] = {}
    try:
        upstream.start(probe_query(zone.name(0)))
        servers = make_servers(opts, workdir, upstream, blocklist)
        started = time.perf_counter()
        startups = start_all(servers, opts, zone, blocked_name)
        setup["start rounds"] = time.perf_counter() - started
        for server in servers.values():
            check_answers(server, zone, blocked_name)
        results = Results({}, startups, opts.list_names, setup=setup)
        for workload in make_workloads(opts, corpus):
            rows, notes = run_workload(workload, servers, upstream, opts, workdir)
            results.workloads[workload.name] = rows
            results.notes[workload.name] = notes
        return results
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
    dnsmasq = subprocess.run([DNSMASQ, "--version"], capture_output=True, text=True).stdout
    found = re.search(r"version (\S+)", dnsmasq)
    return {
        "nproc": str(os.cpu_count()),
        "cpu": model,
        "kernel": platform.release(),
        "python": platform.python_version(),
        "uvloop": uvloop,
        "dnsperf": dnsperf.version(),
        "unbound": (unbound.splitlines() or ["?"])[0].replace("Version ", ""),
        "dnsmasq": found.group(1) if found else "?",
        "load average": " ".join(f"{x:.1f}" for x in os.getloadavg()),
    }


def header(opts: Options, results: Results) -> list[str]:
    shape, lat = opts.shape, opts.latency_shape
    setup = ", ".join(f"{k} {v:.1f} s" for k, v in results.setup.items())
    return [
        f"List: {opts.list_names} synthetic names (seed {opts.seed}) on every DNS server;"
        f" upstream: Unbound with {opts.zone_names} allowed names and {opts.cold_domains}"
        f" cold domains. Setup: {setup}.",
        f"Load: {opts.rounds} interleaved round(s); per server and round {opts.seconds:g} s of"
        f" dnsperf -c {shape.clients} -q {shape.outstanding} -T {shape.threads}"
        f"{' -e' if shape.edns else ''} at full speed, then {opts.latency_seconds:g} s at"
        f" {opts.latency_load:.0%} of that rate (-c {lat.clients} -q {lat.outstanding})"
        " for latency.",
        f"CPUs: servers {opts.server_cpus or 'any'} (single-threaded ones and straja on the"
        f" first; straja xN on the first N), dnsperf {opts.load_cpus or 'any'},"
        f" upstream {opts.upstream_cpus or 'any'}. Columns: medians over rounds;"
        " CPU = user+system time of the server's processes (or dnsperf's) over the run;"
        " user us/q is the part spent outside the kernel; other busy = time of the server's"
        " / dnsperf's CPUs spent in neither (other processes, interrupts, steal);"
        " q/s per core = 1e6 / CPU us per query; upstream q = queries the upstream saw"
        " during the measured passes; RSS summed over the server's processes (Straja's"
        " includes the mapped list file, page cache shared by every process mapping it).",
    ]


def write_json(path: Path, results: Results, opts: Options, facts: dict[str, str]) -> None:
    """Every sample, for comparing runs beyond the SUMMARY line."""
    data = {
        "facts": facts,
        "options": {k: str(v) for k, v in asdict(opts).items()},
        "setup": results.setup,
        "startups": {k: asdict(v) for k, v in results.startups.items()},
        "servers": {
            f"{wname}/{r.key}": {"name": r.name, "pids": r.pids, "memory": r.memory}
            for wname, rows in results.workloads.items()
            for r in rows
        },
        "samples": [
            asdict(s) for rows in results.workloads.values() for r in rows for s in r.samples
        ],
    }
    path.write_text(json.dumps(data, indent=2) + "\n")


def expected_rcodes(workload: str, row: Row, blocking: bool) -> set[str]:
    if workload in NEEDS_LIST and blocking and row.key == "unbound":
        return {"NXDOMAIN"} if workload == "blocked" else {"NOERROR", "NXDOMAIN"}
    return {"NOERROR"}


def problems(results: Results, opts: Options) -> tuple[list[str], list[str]]:
    """(fatal, worth a warning): a server that answered nothing, or lost every query, is fatal."""
    fatal, warnings = [], []
    for wname, rows in results.workloads.items():
        for row in rows:
            for s in row.samples:
                where = f"{wname}: {row.name}, round {s.round}"
                if s.completed == 0:
                    fatal.append(f"{where}: answered nothing")
                elif s.lost >= s.sent:
                    fatal.append(f"{where}: lost every query")
                expected = expected_rcodes(wname, row, opts.list_names > 0)
                bad = {k: v for k, v in s.rcodes.items() if k not in expected}
                if bad:
                    warnings.append(f"{where}: answered {bad}")
                if s.upstream_queries and row.warmed:
                    warnings.append(f"{where}: {s.upstream_queries} queries missed the cache")
                if s.names_in_file and s.sent >= s.names_in_file and row.key != "echo":
                    warnings.append(
                        f"{where}: asked all {s.names_in_file} fresh names in"
                        f" {s.run_seconds:.1f} s; raise --cold-qps for a full-length pass"
                    )
    return fatal, warnings


# -- command line ------------------------------------------------------------------------


def default_cpus() -> tuple[str | None, str | None]:
    """Servers on the first half of the CPUs, dnsperf on the rest; no pinning on one CPU."""
    cpus = sorted(os.sched_getaffinity(0))
    if len(cpus) < 2 or TASKSET is None:
        return None, None
    half = len(cpus) // 2
    return ",".join(map(str, cpus[:half])), ",".join(map(str, cpus[half:]))


def _int_list(text: str) -> list[int]:
    return sorted({int(x) for x in text.split(",") if x})


def parse_args(argv: Sequence[str]) -> Options:
    server_cpus, load_cpus = default_cpus()
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    add = p.add_argument
    add("--rounds", type=int, default=5, help="interleaved rounds per workload (default 5)")
    add(
        "-l",
        "--seconds",
        type=float,
        default=3.0,
        help="seconds of full load per server per round (default 3)",
    )
    add(
        "--latency-seconds",
        type=float,
        default=1.5,
        help="seconds of the rate-limited latency pass; 0 skips it (default 1.5)",
    )
    add(
        "--latency-load",
        type=float,
        default=0.5,
        help="latency pass rate as a fraction of the server's max q/s (default 0.5)",
    )
    add(
        "--start-rounds",
        type=int,
        default=3,
        help="interleaved starts per server for start to first answer (default 3)",
    )
    add(
        "--list-names",
        type=int,
        default=1_000_000,
        help="names on the synthetic blocklist; 0: no list (default 1000000)",
    )
    add(
        "--zone-names",
        type=int,
        default=50_000,
        help="allowed names the upstream answers (default 50000)",
    )
    add(
        "--names",
        type=int,
        default=1000,
        help="distinct allowed names of the cached workload (default 1000)",
    )
    add(
        "--blocked-names",
        type=int,
        default=10_000,
        help="distinct listed names of the blocked workload (default 10000)",
    )
    add(
        "--mixed-names",
        type=int,
        default=100_000,
        help="distinct names the mixed workload draws from, half listed (default 100000)",
    )
    add(
        "--mixed-queries",
        type=int,
        default=200_000,
        help="lines of the mixed workload's query file (default 200000)",
    )
    add("--zipf", type=float, default=1.0, help="Zipf exponent of the mixed workload (default 1)")
    add(
        "--cold-domains",
        type=int,
        default=1000,
        help="domains the upstream answers every name under (default 1000)",
    )
    add(
        "--cold-qps",
        type=int,
        default=80_000,
        help="the fastest cold-unique rate provided for: names per pass = this x seconds"
        " (default 80000)",
    )
    add(
        "--cache-entries",
        type=int,
        default=200_000,
        help="Straja's cache.max_entries and dnsmasq's cache-size (default 200000)",
    )
    add(
        "--workers",
        default="1",
        help="Straja's dns.workers; a list (1,2,4,8) runs one Straja per count side by side,"
        " straja-xN pinned to the first N server CPUs (default 1)",
    )
    add(
        "--servers",
        default=",".join(SERVER_KINDS),
        help=f"comma-separated, from {','.join(SERVER_KINDS)} (default all)",
    )
    add(
        "--workloads",
        default=",".join(WORKLOAD_KINDS),
        help=f"comma-separated, from {','.join(WORKLOAD_KINDS)} (default all)",
    )
    add(
        "--server-cpus",
        default=server_cpus,
        help=f"taskset CPU list for the servers (default {server_cpus})",
    )
    add(
        "--load-cpus", default=load_cpus, help=f"taskset CPU list for dnsperf (default {load_cpus})"
    )
    add(
        "--upstream-cpus",
        default=None,
        help="taskset CPU list for the upstream Unbound (default: the load CPUs)",
    )
    add("--no-pin", action="store_true", help="do not pin anything")
    add("--load-threads", type=int, default=None, help="dnsperf -T (default: one per load CPU)")
    add(
        "--clients",
        type=int,
        default=None,
        help="dnsperf -c (default 4, or 8 per worker of the largest Straja)",
    )
    add("--outstanding", type=int, default=100, help="dnsperf -q (default 100)")
    add(
        "--latency-outstanding",
        type=int,
        default=10,
        help="dnsperf -q of the latency pass (default 10, with -c 1)",
    )
    add("--edns", action="store_true", help="queries carry EDNS0 (dnsperf -e)")
    add("--json", type=Path, help="also write every sample to this JSON file")
    add("--workdir", type=Path, help="keep configs, lists and logs here (default: temp)")
    add(
        "--straja-tree",
        type=Path,
        default=REPO,
        help="run Straja from this source tree, e.g. a git worktree (default: this checkout)",
    )
    add(
        "--baseline-tree",
        type=Path,
        default=None,
        help="also run Straja (one worker) from this tree as `straja-before`, e.g. the commit"
        " before a hot-path change, side by side in the same rounds",
    )
    add(
        "--profile",
        type=Path,
        metavar="DIR",
        help="after each workload, one extra pass on Straja under py-spy; stacks into DIR",
    )
    add("--profile-native", action="store_true", help="py-spy --native (C frames too)")
    add("--seed", type=int, default=1, help="seed of the synthetic names (default 1)")
    add(
        "--smoke",
        action="store_true",
        help="~30 s: a 2000-name list, 1 short round, all servers and workloads (for tests)",
    )
    a = p.parse_args(argv)  # fmt: skip
    if a.smoke:
        a.rounds, a.seconds, a.latency_seconds, a.start_rounds = 1, 1.0, 0.5, 1
        a.list_names = min(a.list_names, 2000)
        a.zone_names, a.names = min(a.zone_names, 500), min(a.names, 100)
        a.blocked_names, a.mixed_names = min(a.blocked_names, 200), min(a.mixed_names, 400)
        a.mixed_queries, a.cold_domains = min(a.mixed_queries, 2000), min(a.cold_domains, 50)
    servers = [s for s in a.servers.split(",") if s]
    workloads = [w for w in a.workloads.split(",") if w]
    for given, known, what in ((servers, SERVER_KINDS, "server"),
                               (workloads, WORKLOAD_KINDS, "workload")):  # fmt: skip
        unknown = [x for x in given if x not in known]
        if unknown or not given:
            p.error(f"unknown {what} {unknown}; choose from {', '.join(known)}")
    try:
        workers = _int_list(a.workers)
    except ValueError:
        p.error("--workers is a comma-separated list of worker counts")
    if not workers or min(workers) < 1:
        p.error("--workers counts start at 1")
    if a.rounds < 1 or a.seconds <= 0 or a.start_rounds < 1:
        p.error("--rounds and --start-rounds must be at least 1, --seconds above 0")
    if not 0 < a.latency_load <= 1:
        p.error("--latency-load is a fraction between 0 and 1")
    if a.list_names == 0 and any(w in NEEDS_LIST for w in workloads):
        p.error(f"the {'/'.join(NEEDS_LIST)} workloads need a list (--list-names above 0)")
    if not 1 <= a.names <= a.zone_names:
        p.error("--names must be between 1 and --zone-names")
    if a.no_pin:
        a.server_cpus = a.load_cpus = a.upstream_cpus = None
    load_cpus = a.load_cpus or None
    threads = a.load_threads or (len(parse_cpu_list(load_cpus)) if load_cpus else 1)
    clients = a.clients or max(4, threads, 8 * max(workers) if max(workers) > 1 else 0)
    return Options(
        rounds=a.rounds,
        seconds=a.seconds,
        latency_seconds=a.latency_seconds,
        latency_load=a.latency_load,
        start_rounds=a.start_rounds,
        list_names=a.list_names,
        zone_names=a.zone_names,
        names=a.names,
        blocked_names=a.blocked_names,
        mixed_names=a.mixed_names,
        mixed_queries=a.mixed_queries,
        zipf=a.zipf,
        cold_domains=a.cold_domains,
        cold_qps=a.cold_qps,
        cache_entries=a.cache_entries,
        workers=workers,
        servers=servers,
        workloads=[w for w in WORKLOAD_KINDS if w in workloads],
        server_cpus=a.server_cpus or None,
        load_cpus=load_cpus,
        upstream_cpus=(a.upstream_cpus or load_cpus) or None,
        shape=dnsperf.LoadShape(
            clients=clients, outstanding=a.outstanding, edns=a.edns, threads=threads
        ),  # fmt: skip
        latency_shape=dnsperf.LoadShape(clients=1, outstanding=a.latency_outstanding, edns=a.edns),
        json_path=a.json,
        workdir=a.workdir,
        straja_tree=a.straja_tree.resolve(),
        baseline_tree=a.baseline_tree.resolve() if a.baseline_tree else None,
        profile=a.profile.resolve() if a.profile else None,
        profile_native=a.profile_native,
        seed=a.seed,
    )


def _on_sigterm(signum: int, frame: object) -> None:
    raise SystemExit(128 + signum)  # unwinds through `finally`, which stops the servers


def main(argv: Sequence[str] | None = None) -> int:
    opts = parse_args(sys.argv[1:] if argv is None else argv)
    signal.signal(signal.SIGTERM, _on_sigterm)
    facts = machine_facts()
    facts["straja"] = f"{source_version(opts.straja_tree)} ({opts.straja_tree})"
    if opts.baseline_tree is not None:
        facts["straja before"] = f"{source_version(opts.baseline_tree)} ({opts.baseline_tree})"
    started = time.monotonic()
    if opts.workdir is not None:
        opts.workdir.mkdir(parents=True, exist_ok=True)
        results = run(opts, opts.workdir)
    else:
        with tempfile.TemporaryDirectory(prefix="straja-bench-") as tmp:
            results = run(opts, Path(tmp))
    line = summary(results, opts.workers, opts.rounds)
    for text in report(results, facts, header(opts, results), line):
        print(text)
    print(f"(took {time.monotonic() - started:.0f} s)")
    if opts.json_path is not None:
        write_json(opts.json_path, results, opts, facts)
    fatal, warnings = problems(results, opts)
    for text in warnings:
        print(f"warning: {text}", file=sys.stderr)
    for text in fatal:
        print(f"error: {text}", file=sys.stderr)
    return 1 if fatal else 0


if __name__ == "__main__":
    sys.exit(main())
