"""In-process micro-benchmark of the query path: answer_fast on raw bytes, no sockets.

Prints µs per call for cache hits (with and without EDNS), blocked names, and a miss that
goes to the policy. Noise from sockets and the event loop is left out on purpose: this is
the part of a query our code controls. Run: .venv/bin/python bench/hotpath_bench.py
(`--cpu`: the process's CPU time instead of wall time, for a machine other jobs share,
where wall time also counts the moments this process waited for a core. `--instructions`:
instructions per call instead of time, counted by Valgrind's callgrind, which this script
then runs itself under; for a machine too noisy to time a microsecond. Each row runs n and
then 3n calls between a zeroing and a dump of the counters (`callgrind_control -z`/`-d`),
and the difference over 2n calls is the figure, free of the control calls themselves. The
time-boxed mixed row is left out there.)
"""

from __future__ import annotations

import glob
import itertools
import os
import random
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import dnslib

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from admin import listmanager  # noqa: E402
from admin.config import load_config_text  # noqa: E402
from blocklists import minisign  # noqa: E402
from blocklists.compiled import ListMetadata, compile_source  # noqa: E402
from blocklists.store import ListStore  # noqa: E402
from resolver import wire  # noqa: E402
from resolver.core import Resolver  # noqa: E402
from resolver.lists import ListWatcher  # noqa: E402


def _query(name: str, edns: bool) -> bytes:
    q = dnslib.DNSRecord.question(name, "A")
    if edns:
        q.add_ar(dnslib.EDNS0(udp_len=1232))
    return bytes(q.pack())


def _fake_answer(query: bytes) -> bytes:
    r = dnslib.DNSRecord.parse(query).reply()
    r.add_answer(dnslib.RR(str(r.q.qname), rdata=dnslib.A("192.0.2.1"), ttl=3600))
    return bytes(r.pack())


Answer = Callable[[bytes, str, bool], object]

clock = time.perf_counter  # or time.process_time (--cpu)


COUNTING = "--counting" in sys.argv  # set in the child that callgrind runs


def _callgrind(command: str) -> None:
    subprocess.run(["callgrind_control", command, str(os.getpid())], capture_output=True,
                   check=True)


def _counted(run: Callable[[], None]) -> int:
    """Instructions of `run`, from the dump callgrind writes after it."""
    _callgrind("-z")
    run()
    before = set(glob.glob(f"{DUMPS}.{os.getpid()}*"))
    _callgrind("-d")
    (dump,) = set(glob.glob(f"{DUMPS}.{os.getpid()}*")) - before
    with open(dump) as f:
        return next(int(line.split()[1]) for line in f if line.startswith("summary:"))


DUMPS = os.path.join(tempfile.gettempdir(), "straja-hotpath-callgrind")


def measure(fn: Answer, data: bytes, rounds: int = 7, n: int = 20000) -> float:
    if COUNTING:
        def calls(count: int) -> Callable[[], None]:
            def run() -> None:
                for _ in range(count):
                    fn(data, "127.0.0.1", False)
            return run
        n = 2000
        return (_counted(calls(3 * n)) - _counted(calls(n))) / (2 * n)
    results = []
    for _ in range(rounds):
        start = clock()
        for _ in range(n):
            fn(data, "127.0.0.1", False)
        results.append((clock() - start) / n * 1e6)
    return statistics.median(results)


def measure_mixed(r: Resolver, seconds: float = 3.0) -> tuple[float, int]:
    """µs per call over `seconds` of wall time for the side-by-side run's *mixed* pattern:
    half listed, half allowed names, Zipf (s = 1) over 20,000 of each, every answer cached.
    Runs across second boundaries, so entries are re-aged as they are on a live server."""
    rng = random.Random(5)
    half = 20_000
    blocked = [_query(f"host{i}.tracker{i % 997}.example", False) for i in range(half)]
    allowed = []
    for i in range(half):
        q = _query(f"www.site{i}.example", False)
        result = r.answer_fast(q, "127.0.0.1", False)
        assert isinstance(result, wire.Query)
        r._store(result, result.question, wire.parse_answer(_fake_answer(q), result.qend))
        allowed.append(q)
    for q in blocked:
        r.answer_fast(q, "127.0.0.1", False)
    weights = list(itertools.accumulate(1.0 / rank for rank in range(1, half + 1)))
    picks = rng.choices(range(half), cum_weights=weights, k=200_000)
    queries = [blocked[i] if rng.random() < 0.5 else allowed[i] for i in picks]
    answer = r.answer_fast
    calls = 0
    start = clock()
    deadline = time.perf_counter() + seconds
    while time.perf_counter() < deadline:
        for q in queries:
            answer(q, "127.0.0.1", False)
        calls += len(queries)
    return (clock() - start) / calls * 1e6, calls


def main() -> None:
    global clock
    if "--instructions" in sys.argv[1:]:
        run = subprocess.run(
            ["valgrind", "--tool=callgrind", "--instr-atstart=yes", "--dump-instr=no",
             f"--callgrind-out-file={DUMPS}.%p", sys.executable, __file__, "--counting"],
            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, check=True)
        print(run.stdout, end="")
        for dump in glob.glob(f"{DUMPS}.*"):
            os.remove(dump)
        return
    if "--cpu" in sys.argv[1:]:
        clock = time.process_time
    with tempfile.TemporaryDirectory() as tmp:
        d = Path(tmp)
        names = d / "list.txt"
        with open(names, "w") as f:
            for i in range(100_000):
                f.write(f"host{i}.tracker{i % 997}.example\n")
        sk, pk = minisign.generate_keypair()
        compiled = d / "list.sl"
        compile_source(names, "domains", compiled, ListMetadata("bench", 1, "operator"))
        (d / "list.sl.minisig").write_text(minisign.sign_file(compiled, sk, "list=bench serial=1"))
        config = load_config_text(
            f"upstreams: [127.0.0.1]\nstate_dir: {d}/state\n"
            f"lists:\n  - {{id: bench, source: {compiled}, tier: operator, "
            f"keys: [{pk.to_base64()}]}}\n"
        )
        listmanager.import_file(config.lists[0], ListStore(config.state_path), compiled)
        r = Resolver(config)
        ListWatcher(r, config.state_path).configure(config.state_path, config.lists, config.local)
        rows = []
        for edns in (False, True):
            q = _query("www.example.com", edns)
            result = r.answer_fast(q, "127.0.0.1", False)
            assert isinstance(result, wire.Query)
            entry = r._store(
                result, result.question, wire.parse_answer(_fake_answer(q), result.qend)
            )
            assert entry is not None
            rows.append((f"cache hit ({'EDNS' if edns else 'no EDNS'})", measure(r.answer_fast, q)))
        if not COUNTING:
            us, _ = measure_mixed(r)
            rows.append(("mixed, Zipf over 40k cached, 3 s", us))
        blocked = _query("host5.tracker5.example", False)
        rows.append(("blocked, cached", measure(r.answer_fast, blocked)))
        r.cache.max_entries = 0  # every query decides again
        r.cache.clear()
        rows.append(("blocked, decided each time", measure(r.answer_fast, blocked)))
        miss = _query("www.not-listed.example", False)
        rows.append(("miss: parse + policy", measure(r.answer_fast, miss)))
        unit = "instr/call" if COUNTING else "µs/call"
        print(f"{'answer_fast':34} {unit:>10}")
        for label, us in rows:
            print(f"{label:34} {us:10.0f}" if COUNTING else f"{label:34} {us:10.2f}")


if __name__ == "__main__":
    main()
