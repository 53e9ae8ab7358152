"""The admin UI's cost to DNS, side by side in one run, with `dns.workers: 1` (the UI shares
the DNS process):

1. DNS QPS of Straja without the UI (`admin.enabled: false`, the STOP page on, as before
   the UI existed) against the same Straja with the UI while a browser-like client polls
   the dashboard API every 2 s (signed in, as the dashboard's script does). Rounds
   alternate the two servers; the table gives each round and the ratio of the medians
   (target >= 0.95).
2. Anonymous memory (RssAnon: RSS without the file-backed pages such as mapped lists) of
   the process serving the UI, after the same DNS load, before and after MINUTES of
   polling, and against the process without the UI (target: growth <= 30 MB).

    .venv/bin/python bench/admin_bench.py --seconds 10 --rounds 3 --minutes 2

Loopback only: an Unbound upstream answering a synthetic zone, dnsperf as the load.
"""

from __future__ import annotations

import argparse
import http.cookiejar
import re
import statistics
import sys
import threading
import time
import urllib.parse
import urllib.request
from collections.abc import Sequence
from pathlib import Path
from tempfile import TemporaryDirectory
from typing import Any

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench import dnsperf  # noqa: E402

REPO_ROOT = Path(__file__).resolve().parent.parent
from bench.procs import memory_bytes, probe_query  # noqa: E402
from bench.servers import StrajaServer, UpstreamUnbound  # noqa: E402
from bench.workloads import CachedWorkload  # noqa: E402
from bench.zone import Zone  # noqa: E402
from tests.servers import free_port  # noqa: E402

PASSWORD = "bench password, not a secret"
MB = 1024 * 1024


class AdminStraja(StrajaServer):
    """Straja with the STOP page on and the admin UI on or off."""

    def __init__(self, *args: Any, ui: bool, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.ui = ui
        self.admin_port = free_port(self.host)
        self.stop_port = free_port(self.host)
        self.name = "straja + UI polled" if ui else "straja, no UI"

    def config(self) -> dict[str, Any]:
        config = super().config()
        config["stop_page"] = {"listen": [f"{self.host}:{self.stop_port}"]}
        config["admin"] = {"enabled": self.ui, "listen": [f"{self.host}:{self.admin_port}"]}
        return config


class Poller:
    """A signed-in browser-like client: GET /api/v1/dashboard every `interval` seconds."""

    def __init__(self, server: AdminStraja, interval: float = 2.0) -> None:
        self.base = f"http://{server.host}:{server.admin_port}"
        self.state_dir = Path(server.config()["state_dir"])
        self.interval = interval
        self.jar = http.cookiejar.CookieJar()
        self.opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(self.jar))
        self.polls = 0
        self.failures = 0
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def _get(self, path: str) -> bytes:
        with self.opener.open(self.base + path, timeout=10) as r:
            return bytes(r.read())

    def sign_in(self, timeout: float = 60.0) -> None:
        deadline = time.monotonic() + timeout
        token_file = self.state_dir / "setup-token"
        while not token_file.exists():
            if time.monotonic() > deadline:
                raise RuntimeError("the admin UI wrote no setup token")
            time.sleep(0.2)
        token = token_file.read_text().strip()
        page = self._get(f"/setup?token={token}").decode()
        csrf = re.search(r'name="csrf" value="([^"]+)"', page)
        assert csrf is not None
        form = urllib.parse.urlencode({"csrf": csrf.group(1), "token": token, "name": "bench",
                                       "password": PASSWORD, "password2": PASSWORD})
        self.opener.open(self.base + "/setup", form.encode(), timeout=10).read()
        self._get("/")  # the page itself once, as a browser would

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            try:
                self._get("/api/v1/dashboard")
                self.polls += 1
            except OSError:
                self.failures += 1

    def start(self) -> None:
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join()


def anon_mb(server: StrajaServer) -> float:
    return memory_bytes([server.pid])["anon"] / MB


def run(opts: argparse.Namespace) -> int:
    names = [f"host{i}.bench.test" for i in range(opts.names)]
    zone = Zone(tuple(names))
    workload = CachedWorkload(names, opts.names)
    shape = dnsperf.LoadShape(clients=4, outstanding=100)
    with TemporaryDirectory(prefix="straja-admin-bench-") as tmp:
        work = Path(tmp)
        upstream = UpstreamUnbound(work / "upstream", opts.upstream_cpus, zone)
        blocklist = None
        if opts.list_names:
            # The memory baseline has the 1M-name list active: its pages are
            # file-backed (shared), so they show in RSS but not in the anonymous figure.
            from bench import corpus
            from bench.blocklist import write_blocklist

            listed = corpus.build(opts.list_names, 0, 0).listed
            blocklist = write_blocklist(listed, work / "list", REPO_ROOT)
        plain = AdminStraja(work / "plain", opts.server_cpus, upstream, blocklist, 100_000,
                            ui=False)
        with_ui = AdminStraja(work / "ui", opts.server_cpus, upstream, blocklist, 100_000,
                              ui=True)
        probe = probe_query(names[0])
        upstream.start(probe_query("host0.bench.test"))
        try:
            plain.start(probe)
            with_ui.start(probe)
            poller = Poller(with_ui)
            poller.sign_in()
            queries = workload.query_file(work, "cached", 0)
            warm = workload.warm_file(work)
            for server in (plain, with_ui):
                dnsperf.run(server.address, warm, shape, opts.load_cpus, 30, passes=1)
            base_plain, base_ui = anon_mb(plain), anon_mb(with_ui)
            rows: list[tuple[int, float, float]] = []
            for round_no in range(1, opts.rounds + 1):
                without = dnsperf.run(plain.address, queries, shape, opts.load_cpus,
                                      opts.seconds)
                poller.start()
                polled = dnsperf.run(with_ui.address, queries, shape, opts.load_cpus,
                                     opts.seconds)
                poller.stop()
                rows.append((round_no, without.qps, polled.qps))
            after_load_ui = anon_mb(with_ui)
            poller.start()
            time.sleep(opts.minutes * 60)
            poller.stop()
            after_poll_ui, after_plain = anon_mb(with_ui), anon_mb(plain)
            workers_anon: dict[str, list[float]] = {}
            if opts.workers_check:
                # The DNS workers with several: the UI lives in the control process only,
                # so a worker's anonymous memory is the same with it on or off.
                for ui in (False, True):
                    server = AdminStraja(work / f"workers-{ui}", opts.server_cpus, upstream,
                                         blocklist, 100_000, 2, ui=ui)
                    server.start(probe)
                    try:
                        dnsperf.run(server.address, warm, shape, opts.load_cpus, 30, passes=1)
                        dnsperf.run(server.address, queries, shape, opts.load_cpus,
                                    opts.seconds)
                        children = [pid for pid in server.pids() if pid != server.pid]
                        workers_anon["UI on" if ui else "UI off"] = sorted(
                            memory_bytes([pid])["anon"] / MB for pid in children)
                    finally:
                        server.stop()
        finally:
            for process in (plain, with_ui, upstream):
                process.stop()
    listed = f", a {opts.list_names:,}-name list active" if opts.list_names else ""
    print(f"admin_bench: workers 1{listed}, cached workload of {opts.names} names, dnsperf "
          f"{shape.clients} clients x {shape.outstanding} outstanding, {opts.seconds:g} s a "
          f"run, {opts.rounds} rounds; server CPUs {opts.server_cpus or 'any'}, load CPUs "
          f"{opts.load_cpus or 'any'}")
    print()
    print("| round | QPS without UI | QPS with UI polled every 2 s | ratio |")
    print("|---:|---:|---:|---:|")
    for round_no, a, b in rows:
        print(f"| {round_no} | {a:,.0f} | {b:,.0f} | {b / a:.3f} |")
    med_a = statistics.median(r[1] for r in rows)
    med_b = statistics.median(r[2] for r in rows)
    print(f"| median | {med_a:,.0f} | {med_b:,.0f} | **{med_b / med_a:.3f}** |")
    print()
    print(f"Anonymous memory (RssAnon) of the serving process, {opts.minutes:g} min of "
          f"polling ({poller.polls} polls, {poller.failures} failed):")
    print()
    print("| process | after warm-up | after the DNS rounds | after polling |")
    print("|---|---:|---:|---:|")
    print(f"| without the UI (STOP page on) | {base_plain:.1f} MB | - | {after_plain:.1f} MB |")
    print(f"| with the UI | {base_ui:.1f} MB | {after_load_ui:.1f} MB | {after_poll_ui:.1f} MB |")
    print()
    for label, sizes in workers_anon.items():
        shown = ", ".join(f"{mb:.1f}" for mb in sizes)
        print(f"workers: 2, {label}: anonymous MB of each child process, smallest first (the "
              f"two workers, then the control process and any helper it runs): {shown}")
    if workers_anon:
        print()
    growth = after_poll_ui - after_plain
    print(f"SUMMARY qps_ratio={med_b / med_a:.3f} (target >= 0.95) "
          f"ui_anon_over_no_ui_mb={growth:.1f} (target <= 30) "
          f"poll_growth_mb={after_poll_ui - after_load_ui:.1f} over {opts.minutes:g} min")
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--seconds", type=float, default=10.0, help="seconds per dnsperf run")
    p.add_argument("--rounds", type=int, default=3, help="alternating rounds")
    p.add_argument("--minutes", type=float, default=10.0, help="minutes of polling for memory")
    p.add_argument("--names", type=int, default=2000, help="distinct cached names")
    p.add_argument("--workers-check", action="store_true",
                   help="also measure the DNS workers with workers: 2, UI off and on")
    p.add_argument("--list-names", type=int, default=0,
                   help="names of a synthetic operator list both servers enforce (1000000)")
    p.add_argument("--server-cpus", default=None, help="taskset CPU list for both Strajas")
    p.add_argument("--load-cpus", default=None, help="taskset CPU list for dnsperf")
    p.add_argument("--upstream-cpus", default=None, help="taskset CPU list for Unbound")
    return run(p.parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())
