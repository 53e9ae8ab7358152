"""Publishing and loading the operator state with many client prefixes (the ISP case).

Prints, for N managed-group client prefixes (default 100k, split over 4 groups, a quarter
of them IPv6): the time to publish the groups, to load them in a fresh reader (what a
worker does at start), to re-read after a pause or an override is published (which must
not touch the groups), the file sizes, and the µs per client lookup in the prefix index.
Run: .venv/bin/python bench/operator_state_bench.py [N]
"""

from __future__ import annotations

import ipaddress
import random
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from admin.publish import (  # noqa: E402
    PublishedGroup,
    PublishedOverride,
    PublishedPause,
    publish_groups,
    publish_overrides,
    publish_pauses,
)
from resolver.operator_state import OPERATOR_DIR, OperatorReader  # noqa: E402


def _clients(n: int, rng: random.Random) -> list[str]:
    v6 = n // 4
    out = [f"{ipaddress.IPv4Address(rng.getrandbits(32) & ~0xFF)}/{rng.choice((24, 28, 32))}"
           for _ in range(n - v6)]
    out += [f"{ipaddress.IPv6Address(rng.getrandbits(128) & ~((1 << 72) - 1))}/56"
            for _ in range(v6)]
    return out


def _timed(fn) -> str:  # type: ignore[no-untyped-def]
    """Wall and CPU time of fn(): on a shared machine the CPU time is the steadier figure;
    the wall time adds the fsyncs."""
    wall, cpu = time.perf_counter(), time.process_time()
    fn()
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    return f"{wall * 1e3:9.1f} {cpu * 1e3:9.1f}"


def main() -> None:
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 100_000
    rng = random.Random(9)
    clients = _clients(n, rng)
    groups = [PublishedGroup(f"profile-{i}", tuple(clients[i::4]), ("ads",), i == 0, ())
              for i in range(4)]
    with tempfile.TemporaryDirectory() as tmp:
        state = Path(tmp)
        rows: list[tuple[str, str]] = []
        rows.append(("publish the groups", _timed(lambda: publish_groups(state, groups))))
        reader = OperatorReader(state)
        rows.append(("load them in a fresh reader (worker start)", _timed(reader.refresh)))
        assert len(reader.state.prefixes) >= len(set(clients))
        rows.append(("publish a pause",
                     _timed(lambda: publish_pauses(state, [PublishedPause(None, time.time())]))))
        rows.append(("re-read after the pause", _timed(reader.refresh)))
        override = [PublishedOverride("allow", "example.com", None)]
        rows.append(("publish an override", _timed(lambda: publish_overrides(state, override))))
        rows.append(("re-read after the override", _timed(reader.refresh)))
        changed = [groups[0], groups[1], groups[2],
                   PublishedGroup("profile-3", groups[3].clients, ("ads", "adult"), False, ())]
        rows.append(("publish one group's lists change",
                     _timed(lambda: publish_groups(state, changed))))
        rows.append(("re-read it (prefix files cached)", _timed(reader.refresh)))
        files = sorted((state / OPERATOR_DIR).rglob("*.*"))
        size = sum(p.stat().st_size for p in files if p.suffix in (".pfx", ".json"))
        index = reader.state.prefixes
        probes = [ipaddress.ip_address(c.split("/")[0]) for c in rng.sample(clients, min(2000, n))]
        probes += [ipaddress.IPv4Address(rng.getrandbits(32)) for _ in range(2000)]
        rounds = 20
        cpu = time.process_time()
        for _ in range(rounds):
            for ip in probes:
                index.lookup(ip)
        lookup_us = (time.process_time() - cpu) / (rounds * len(probes)) * 1e6
    width = max(len(r[0]) for r in rows)
    print(f"operator state with {n} client prefixes in 4 groups")
    print(f"  {'':<{width}}  {'wall ms':>9} {'CPU ms':>9}")
    for label, value in rows:
        print(f"  {label:<{width}}  {value}")
    print(f"  files on disk: {size / 1e6:.2f} MB; a client lookup (half hits): "
          f"{lookup_us:.2f} µs CPU")


if __name__ == "__main__":
    main()
