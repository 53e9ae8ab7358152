"""DNS latency while the SQLite database is locked, side by side with unlocked, one run.

    .venv/bin/python bench/db_lock_bench.py            # 2 rounds of 30 s unlocked, 30 s locked
    .venv/bin/python bench/db_lock_bench.py --short    # 1 round of 10 s + 10 s

Straja runs with `workers: 1`, the case where the database thread shares the process that
answers DNS, forwarding to a real Unbound on loopback. A client asks, one query at a time,
cached names and, one query in ten, a name never asked before (which goes upstream), and
records every latency. Phases
alternate: unlocked, then with another connection holding `BEGIN EXCLUSIVE` on
straja.db (the rollups' writes fail with "database is locked" and wait in the buffer),
and so on. The table shows each phase's p50, p99 and losses, and the ratio of the locked
p99 to the unlocked p99 (target: at most 1.2). Loopback only, bounded by time.
"""

from __future__ import annotations

import argparse
import random
import socket
import sqlite3
import struct
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))  # run as a script: make `bench` and `tests` importable

import dns.message  # noqa: E402

from bench.results import percentile  # noqa: E402
from tests.servers import Straja, Unbound, free_port  # noqa: E402

CACHED = ("www.example.test", "mixed.example.test", "alias.example.test")


COLD_SHARE = 0.1  # of queries, each for a name never asked before (it goes upstream)
_cold = iter(range(10**9))


def _query() -> bytearray:
    if random.random() < COLD_SHARE:
        name = f"c{next(_cold)}.cold.example.test"
    else:
        name = random.choice(CACHED)
    wire = bytearray(dns.message.make_query(name, "A").to_wire())
    struct.pack_into("!H", wire, 0, random.randrange(65536))
    return wire


def measure(sock: socket.socket, address: tuple[str, int], seconds: float
            ) -> tuple[list[float], int]:
    """Ask for `seconds`, one query at a time; latencies in ms and the count lost."""
    latencies: list[float] = []
    lost = 0
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        wire = _query()
        start = time.perf_counter()
        sock.sendto(wire, address)
        try:
            while True:
                data = sock.recv(4096)
                if data[:2] == wire[:2]:
                    break
        except TimeoutError:
            lost += 1
            continue
        latencies.append((time.perf_counter() - start) * 1000)
    return latencies, lost


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--short", action="store_true", help="1 round of 10 s + 10 s")
    parser.add_argument("--seconds", type=float, default=30.0, help="length of each phase")
    parser.add_argument("--rounds", type=int, default=2)
    args = parser.parse_args()
    if args.short:
        args.seconds, args.rounds = 10.0, 1
    with tempfile.TemporaryDirectory(prefix="straja-dblock-") as tmp:
        work = Path(tmp)
        (work / "unbound").mkdir()
        (work / "straja").mkdir()
        unbound = Unbound(work / "unbound").start()
        db_file = work / "straja.db"
        server = Straja(work / "straja", {
            "upstreams": [unbound.address], "dns": {"workers": 1}, "log": {"level": "info"},
            "cache": {"max_entries": 100000},
            "admin": {"database": f"sqlite:///{db_file}",
                      "listen": [f"127.0.0.1:{free_port()}"]}})
        try:
            server.start()
            deadline = time.monotonic() + 60
            while not db_file.exists() and time.monotonic() < deadline:
                time.sleep(0.2)
            sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            sock.settimeout(2.0)
            address = (server.host, server.port)
            measure(sock, address, 3.0)  # warm the cache and the code
            phases: dict[str, list[float]] = {"unlocked": [], "locked": []}
            losses = {"unlocked": 0, "locked": 0}
            for _ in range(args.rounds):
                for phase in ("unlocked", "locked"):
                    locker = None
                    if phase == "locked":
                        locker = sqlite3.connect(db_file, isolation_level=None)
                        locker.execute("BEGIN EXCLUSIVE")
                    try:
                        latencies, lost = measure(sock, address, args.seconds)
                    finally:
                        if locker is not None:
                            locker.execute("ROLLBACK")
                            locker.close()
                    phases[phase] += latencies
                    losses[phase] += lost
            log = server.read_log()
        finally:
            server.stop()
            unbound.stop()
    print(f"DNS latency, workers: 1, SQLite locked vs unlocked, {args.rounds} round(s) of "
          f"{args.seconds:.0f} s + {args.seconds:.0f} s, one query at a time")
    print(f"{'phase':<10} {'queries':>8} {'lost':>5} {'p50 ms':>8} {'p99 ms':>8} {'max ms':>8}")
    p99: dict[str, float] = {}
    for phase, values in phases.items():
        p50 = percentile(values, 0.5) or 0.0
        p99[phase] = percentile(values, 0.99) or 0.0
        print(f"{phase:<10} {len(values):>8} {losses[phase]:>5} {p50:>8.3f} {p99[phase]:>8.3f} "
              f"{max(values, default=0.0):>8.3f}")
    ratio = p99["locked"] / p99["unlocked"] if p99["unlocked"] else float("nan")
    print(f"p99 locked / unlocked: {ratio:.2f} (target <= 1.20)")
    print(f"database lock seen by straja: {'yes' if 'database is locked' in log else 'no'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
