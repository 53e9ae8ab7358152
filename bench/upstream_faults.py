"""Figures for slow and failing upstreams (issue 11, item 3), as a new user would see them
with dig: how long an uncached name takes to get its SERVFAIL when every upstream is down,
how long a name behind a 3-second upstream takes to resolve with dig's `+timeout=1`, and how
long resolution takes to come back once the upstream does.

Run: .venv/bin/python bench/upstream_faults.py      (prints a table; docs/reliability.md)
"""

from __future__ import annotations

import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tests.hostile import HostileUpstream  # noqa: E402
from tests.servers import Straja, Unbound  # noqa: E402


def dig(server: Straja, name: str, *opts: str) -> tuple[float, str]:
    start = time.monotonic()
    out = subprocess.run(["dig", f"@{server.host}", "-p", str(server.port), name, *opts],
                         capture_output=True, text=True, timeout=120).stdout
    return time.monotonic() - start, out


def status(out: str) -> str:
    for part in out.split(","):
        if "status:" in part:
            return part.split("status:")[1].strip()
    return "no answer"


def main() -> int:
    rows: list[tuple[str, str]] = []
    with tempfile.TemporaryDirectory(prefix="straja-upfaults-") as tmp:
        base = Path(tmp)
        (base / "u").mkdir()
        (base / "s1").mkdir()
        (base / "s2").mkdir()
        upstream = Unbound(base / "u", host="127.0.0.3").start()
        down = Straja(base / "s1", {"upstreams": [upstream.address]}).start()
        hostile = HostileUpstream()
        slow = Straja(base / "s2", {"upstreams": [hostile.address]}).start()
        try:
            upstream.stop()
            times = []
            for i in range(10):
                took, out = dig(down, f"n{i}.example.test", "+timeout=1", "+tries=1")
                times.append(took)
                assert status(out) == "SERVFAIL", out
            rows.append(("every upstream down: dig +timeout=1 for 10 uncached names, "
                         "median s to SERVFAIL", f"{statistics.median(times):.3f}"))
            rows.append(("... slowest of the 10, s", f"{max(times):.3f}"))
            upstream.start()
            start = time.monotonic()
            while status(dig(down, "www.example.test", "+timeout=1", "+tries=1")[1]) != (
                    "NOERROR"):
                time.sleep(0.1)
            rows.append(("upstream back: s until names resolve again",
                         f"{time.monotonic() - start:.2f}"))
            took, out = dig(slow, "slow3-a.example.test", "+timeout=1", "+tries=8")
            assert "192.0.2.99" in out, out
            rows.append(("only upstream answers after 3 s: dig +timeout=1 +tries=8, s to "
                         "the answer", f"{took:.2f}"))
            rows.append(("... upstream queries it took", str(hostile.seen.get("slow3", 0))))
        finally:
            slow.stop()
            down.stop()
            hostile.close()
            upstream.stop()
    width = max(len(label) for label, _ in rows)
    for label, value in rows:
        print(f"{label:<{width}}  {value}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
