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


def _timed(fn) -> float:  # type: ignore[no-untyped-def]
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def main() -> None:
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 100_000
    rng = random.Random(9)
    clients = _clients(n, rng)
    groups = [PublishedGroup(f"profile-{i}", tuple(clients[i::4]), ("ads",), i == 0, ())
              for i in range(4)]
    with tempfile.TemporaryDirectory() as tmp:
        state = Path(tmp)
        rows: list[tuple[str, str]] = []
        rows.append(("publish groups", f"{_timed(lambda: publish_groups(state, groups)):.3f} s"))
        reader = OperatorReader(state)
        rows.append(("load in a fresh reader (worker start)", f"{_timed(reader.refresh):.3f} s"))
        assert len(reader.state.prefixes) >= len(set(clients))
        publish_pauses(state, [PublishedPause(None, time.time() + 300)])
        rows.append(("re-read after a pause", f"{_timed(reader.refresh) * 1e3:.2f} ms"))
        publish_overrides(state, [PublishedOverride("allow", "example.com", None)])
        rows.append(("re-read after an override", f"{_timed(reader.refresh) * 1e3:.2f} ms"))
        changed = [groups[0], groups[1], groups[2],
                   PublishedGroup("profile-3", groups[3].clients, ("ads", "adult"), False, ())]
        rows.append(("publish one group's lists change",
                     f"{_timed(lambda: publish_groups(state, changed)):.3f} s"))
        rows.append(("re-read it (prefix files cached)", f"{_timed(reader.refresh):.3f} s"))
        files = sorted((state / OPERATOR_DIR).rglob("*.*"))
        size = sum(p.stat().st_size for p in files if p.suffix in (".pfx", ".json"))
        rows.append(("files on disk", f"{size / 1e6:.2f} MB"))
        index = reader.state.prefixes
        probes = [ipaddress.ip_address(c.split("/")[0]) for c in rng.sample(clients, min(2000, n))]
        probes += [ipaddress.IPv4Address(rng.getrandbits(32)) for _ in range(2000)]
        rounds = 20
        seconds = _timed(lambda: [index.lookup(ip) for _ in range(rounds) for ip in probes])
        rows.append(("lookup, half hits", f"{seconds / (rounds * len(probes)) * 1e6:.2f} µs"))
    width = max(len(r[0]) for r in rows)
    print(f"operator state with {n} client prefixes in 4 groups")
    for label, value in rows:
        print(f"  {label:<{width}}  {value:>10}")


if __name__ == "__main__":
    main()
