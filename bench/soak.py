"""Soak: a long run at about 70% of Straja's maximum q/s, mixed traffic, a list swap a minute.

Mixed traffic: names Unbound's test zone answers (cache hits), names on the blocklist
(blocked answers), and a pool of unknown names (NXDOMAIN from the upstream, negatively
cached), in one dnsperf query file. First a short dnsperf run without a rate finds the
maximum; then dnsperf sends at `--load` of it for `--minutes`, while this script imports a
new serial of the list every `--swap-every` seconds (`straja lists import`, as an operator
would) and samples Straja's RSS.

Required (issue 11, item 6), printed as a verdict:
  * zero failed queries beyond the load generator's own losses: no SERVFAIL, and every
    query dnsperf sent is one Straja counted, so a lost one is dnsperf's;
  * RSS flat: the last sample within 5% of the one after the first minute;
  * the counters equal what the generator sent.

Run: .venv/bin/python bench/soak.py --minutes 10   (the docs say which length was run)
"""

from __future__ import annotations

import argparse
import json
import random
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Sequence
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench import dnsperf  # noqa: E402
from tests.listtools import Publisher  # noqa: E402
from tests.servers import Straja, Unbound, straja_cmd, straja_env  # noqa: E402

ZONE_NAMES = ["www.example.test A", "www.example.test AAAA", "mixed.example.test A",
              "alias.example.test A", "medium.example.test TXT", "www.google.com A"]


RSS_PARTS = ("RssAnon", "RssFile", "RssShmem")  # where RSS is: heap, mapped files, shared


def rss_kib(pid: int, field: str = "VmRSS") -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    return 0


def cli(*args: str) -> str:
    run = subprocess.run(straja_cmd(*args), capture_output=True, text=True, env=straja_env(),
                         timeout=300)
    if run.returncode != 0:
        raise RuntimeError(f"straja {' '.join(args)} failed: {run.stdout}{run.stderr}")
    return run.stdout


def queries_counted(server: Straja) -> int:
    data = json.loads(cli("stats", "--config", str(server.config_path), "--json"))
    return int(data.get("queries", 0))


def settled_count(server: Straja) -> int:
    """The counters once two writes in a row agree (they are written every 2 s)."""
    last = -1
    while True:
        time.sleep(2.5)
        now = queries_counted(server)
        if now == last:
            return now
        last = now


def query_file(workdir: Path, listed: Sequence[str], unknown: int, lines: int) -> Path:
    rng = random.Random(6)
    pool = ([*ZONE_NAMES] * 40 + [f"{n} A" for n in listed]
            + [f"u{i}.unknown.test A" for i in range(unknown)])
    path = workdir / "soak-queries.txt"
    path.write_text("\n".join(rng.choice(pool) for _ in range(lines)) + "\n")
    return path


def run(minutes: float, load: float, swap_every: float, workdir: Path,
        trace: Path | None = None, sample_every: float = 10.0) -> dict[str, object]:
    upstream = Unbound(workdir / "unbound")
    (workdir / "unbound").mkdir()
    upstream.start()
    pub = Publisher(workdir)
    listed = [f"blocked{i}.example.test" for i in range(2000)]
    first = pub.compile("soak", listed, 1)
    server = Straja(workdir / "straja", {
        "upstreams": [upstream.address], "log": {"level": "warning"},
        "stop_page": {"enabled": False},
        # Bounded to a few times the working set, so that the cache is full (and RSS at its
        # steady state) within the first minute: each list swap starts a new generation
        # whose entries replace the old ones only as the FIFO bound evicts them.
        "cache": {"max_entries": 10000},
        "lists": [{"id": "soak", "source": str(first), "tier": "operator",
                   "keys": [pub.key], "refresh": "1d"}],
    })
    (workdir / "straja").mkdir()
    try:
        server.start()
        assert server.proc is not None
        queries = query_file(workdir, listed, 5000, 200_000)
        address = (server.host, server.port)
        shape = dnsperf.LoadShape(clients=4, outstanding=100, timeout=2.0)
        dnsperf.run(address, queries, shape, None, 5)  # warm the cache
        peak = dnsperf.run(address, queries, shape, None, 5).qps
        target = peak * load
        before = settled_count(server)
        result: dict[str, dnsperf.DnsperfResult] = {}

        def load_thread() -> None:
            result["run"] = dnsperf.run(address, queries, shape, None, minutes * 60,
                                        max_qps=target)

        thread = threading.Thread(target=load_thread)
        started = time.monotonic()
        thread.start()
        samples: list[tuple[float, int]] = []
        parts: list[list[int]] = []  # RSS_PARTS of each sample, for --trace
        per_minute: list[str] = []  # RSS (anonymous part) in MiB at each minute
        events: list[tuple[float, str]] = []
        serial = 1
        next_swap = started + swap_every
        while thread.is_alive():
            now = time.monotonic()
            samples.append((now - started, rss_kib(server.proc.pid)))
            parts.append([rss_kib(server.proc.pid, f) for f in RSS_PARTS])
            if now - started >= 60 * len(per_minute):
                per_minute.append(f"{samples[-1][1] / 1024:.1f} "
                                  f"({rss_kib(server.proc.pid, 'RssAnon') / 1024:.1f})")
            if now >= next_swap:
                serial += 1
                version = pub.compile("soak", listed[serial % 7:], serial)
                cli("lists", "import", str(version), "--config", str(server.config_path))
                events.append((time.monotonic() - started, f"swap to serial {serial}"))
                next_swap += swap_every
            thread.join(timeout=sample_every)
        sent = result["run"]
        if trace is not None:
            trace.write_text(json.dumps({"rss_kib": samples, "parts": RSS_PARTS,
                                         "rss_parts_kib": parts, "events": events}))
        after = settled_count(server)
        baseline = next((rss for t, rss in samples if t >= 60), samples[0][1])
        final = samples[-1][1]
        servfails = sent.rcodes.get("SERVFAIL", 0)
        counted = after - before
        return {
            "minutes": minutes, "peak_qps": round(peak), "target_qps": round(target),
            "achieved_qps": round(sent.qps), "sent": sent.sent, "completed": sent.completed,
            "lost": sent.lost, "servfail": servfails, "counted": counted,
            "swaps": serial - 1, "rss_kib_after_1min": baseline, "rss_kib_end": final,
            "rss_growth": round(final / baseline - 1, 4) if baseline else None,
            "rss_mib_each_minute": ", ".join(per_minute),
            "rcodes": sent.rcodes,
            "verdict": "PASS" if (servfails == 0 and counted == sent.sent
                                  and baseline and final < baseline * 1.05) else "FAIL",
        }
    finally:
        server.stop()
        upstream.stop()


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawTextHelpFormatter)
    parser.add_argument("--minutes", type=float, default=10.0)
    parser.add_argument("--load", type=float, default=0.7, help="fraction of the peak q/s")
    parser.add_argument("--swap-every", type=float, default=60.0, help="seconds")
    parser.add_argument("--sample-every", type=float, default=10.0, help="seconds")
    parser.add_argument("--trace", type=Path, help="write every RSS sample and swap here (JSON)")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="straja-soak-") as tmp:
        result = run(args.minutes, args.load, args.swap_every, Path(tmp), args.trace,
                     args.sample_every)
    width = max(len(k) for k in result)
    for key, value in result.items():
        print(f"{key:<{width}}  {value}")
    return 0 if result["verdict"] == "PASS" else 1


if __name__ == "__main__":
    sys.exit(main())
