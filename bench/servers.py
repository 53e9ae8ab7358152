"""The DNS servers a benchmark runs side by side, all on loopback, behind one interface.

A `Server` writes its config into its own work folder, starts pinned to a CPU set, and
records how long it took from process start to its first answer. The harness only needs
`start`, `stop`, `pid`, `pids()` and `address`; adding a server to the comparison is one
subclass here and one entry in dns_bench.SERVER_KINDS. The blocking servers (Straja, dnsmasq,
Unbound) carry the same `Blocklist` when one is given.
"""

from __future__ import annotations

import grp
import os
import pwd
import shutil
import subprocess
import sys
import time
from abc import ABC, abstractmethod
from collections.abc import Callable
from pathlib import Path
from typing import Any

import yaml

from bench.blocklist import Blocklist, straja_cli
from bench.procs import process_tree, spawn, terminate, wait_first_answer
from bench.zone import Zone
from tests.servers import REPO, UNBOUND, free_port, straja_cmd, straja_env

BENCH = Path(__file__).resolve().parent
UNBOUND_CONTROL = shutil.which("unbound-control") or "/usr/sbin/unbound-control"
DNSMASQ = shutil.which("dnsmasq") or "/usr/sbin/dnsmasq"


class Server(ABC):
    """One server process (or supervisor with workers) answering DNS on host:port."""

    #: the row label in the results table
    name: str = "server"
    #: answers questions with real records (the echo server only mirrors them)
    resolves: bool = True
    #: the rcode of an answer to a blocked A query (0 NOERROR with 0.0.0.0, 3 NXDOMAIN)
    block_rcode: int = 0

    def __init__(self, workdir: Path, cpus: str | None, host: str = "127.0.0.1") -> None:
        self.workdir = workdir
        self.cpus = cpus
        self.host = host
        self.port = free_port(host)
        self.log = workdir / "server.log"
        self.proc: subprocess.Popen[bytes] | None = None
        self.startup_seconds: float | None = None
        self.blocklist: Blocklist | None = None
        self._prepared = False

    @property
    def blocks(self) -> bool:
        """Whether this server enforces the run's blocklist."""
        return self.blocklist is not None

    @abstractmethod
    def command(self) -> list[str]:
        """The command line that runs the server in the foreground."""

    def config_files(self) -> dict[Path, str]:
        """Files to write before the process starts, path to content."""
        return {}

    def env(self) -> dict[str, str] | None:
        return None

    def cwd(self) -> Path:
        return self.workdir

    def processes_expected(self) -> int:
        """How many processes serve once started (a supervisor counts with its workers)."""
        return 1

    def prepare(self) -> None:  # noqa: B027 - a hook most servers do not need
        """One-off work after the config files are written and before the first start."""

    @property
    def address(self) -> tuple[str, int]:
        return self.host, self.port

    @property
    def pid(self) -> int:
        if self.proc is None:
            raise RuntimeError(f"{self.name} is not running")
        return self.proc.pid

    def pids(self) -> list[int]:
        """The server's process and its descendants, for CPU and memory accounting."""
        return process_tree(self.pid)

    def start(self, probe: bytes, accept: Callable[[bytes], bool] | None = None) -> None:
        """Start and wait until `probe` gets an answer `accept` takes (any answer without
        it); `startup_seconds` records how long from spawning the process."""
        if not self._prepared:
            self.workdir.mkdir(parents=True, exist_ok=True)
            for path, text in self.config_files().items():
                path.write_text(text)
            self.prepare()
            self._prepared = True
        started = time.perf_counter()
        self.proc = spawn(self.command(), self.cpus, self.log, self.env(), self.cwd())
        try:
            wait_first_answer(self.host, self.port, probe, self.proc, accept=accept)
        except RuntimeError as exc:
            self.stop()
            raise RuntimeError(f"{self.name} did not start: {exc}\n{self.read_log()}") from None
        self.startup_seconds = time.perf_counter() - started
        deadline = time.monotonic() + 20
        while len(self.pids()) < self.processes_expected():
            if time.monotonic() > deadline:
                raise RuntimeError(f"{self.name}: not all of its processes came up")
            time.sleep(0.05)

    def stop(self) -> None:
        if self.proc is not None:
            terminate(self.proc)
            self.proc = None

    def read_log(self) -> str:
        return self.log.read_text(errors="replace")[-4000:] if self.log.exists() else ""


def _unbound_server_lines(server: Server) -> list[str]:
    return [
        "server:",
        f"  interface: {server.host}",
        f"  port: {server.port}",
        "  do-daemonize: no",
        '  chroot: ""',
        '  username: ""',
        f'  directory: "{server.workdir}"',
        '  pidfile: ""',
        "  use-syslog: no",
        f'  logfile: "{server.log}"',
        "  verbosity: 1",
        "  do-ip6: no",
        "  num-threads: 1",
        '  module-config: "iterator"',
        "  access-control: 127.0.0.0/8 allow",
        "  edns-buffer-size: 1232",
        "  msg-cache-size: 64m",
        "  rrset-cache-size: 128m",
    ]


class UpstreamUnbound(Server):
    """Straja's upstream: Unbound answering the synthetic zone from local-data.

    `local-zone: "." static` answers every other name itself, so nothing resolves beyond
    loopback. Remote control (a Unix socket, no certificates) lets the harness read how
    many queries reached the upstream, which proves a measured pass was all cache hits.
    """

    name = "upstream"

    def __init__(self, workdir: Path, cpus: str | None, zone: Zone) -> None:
        super().__init__(workdir, cpus, host="127.0.0.2")
        self.zone = zone
        self.conf = workdir / "unbound.conf"
        self.control = workdir / "control.sock"

    def config_files(self) -> dict[Path, str]:
        lines = [
            *_unbound_server_lines(self),
            '  local-zone: "." static',
            *self.zone.unbound_lines(),
            "remote-control:",
            "  control-enable: yes",
            f'  control-interface: "{self.control}"',
            "  control-use-cert: no",
        ]
        return {self.conf: "\n".join(lines) + "\n"}

    def command(self) -> list[str]:
        return [UNBOUND, "-d", "-c", str(self.conf)]

    def queries_seen(self) -> int:
        """Total queries this Unbound has answered since it started."""
        out = subprocess.run(
            [UNBOUND_CONTROL, "-c", str(self.conf), "stats_noreset"],
            capture_output=True,
            text=True,
            timeout=10,
            check=True,
        ).stdout
        for line in out.splitlines():
            if line.startswith("total.num.queries="):
                return int(line.split("=", 1)[1])
        raise RuntimeError(f"unbound-control printed no total.num.queries:\n{out}")


class StrajaServer(Server):
    """Straja as operators run it: `python -m admin serve --config FILE`.

    `source` is the tree the `admin`, `resolver` and `blocklists` packages are imported
    from: this checkout by default, or another one (a `git worktree` of some commit) to
    measure that version with the same harness. With a blocklist, the config pins its key
    and `straja lists import` activates it before the first start, as an air-gapped operator
    would; blocked A queries get the default sinkhole answer, 0.0.0.0.
    """

    def __init__(
        self,
        workdir: Path,
        cpus: str | None,
        upstream: UpstreamUnbound,
        blocklist: Blocklist | None,
        cache_entries: int,
        workers: int = 1,
        source: Path = REPO,
        rate_limit: dict[str, Any] | None = None,
    ) -> None:
        super().__init__(workdir, cpus)
        self.rate_limit = rate_limit
        self.upstream = upstream
        self.blocklist = blocklist
        self.cache_entries = cache_entries
        self.workers = workers
        self.source = source
        self.name = "straja" if workers == 1 else f"straja x{workers}"
        if rate_limit is not None:
            self.name += " rate-limited"
        self.conf = workdir / "straja.yaml"

    def config(self) -> dict[str, Any]:
        config: dict[str, Any] = {
            "dns": {"listen": [f"{self.host}:{self.port}"], "workers": self.workers},
            "upstreams": [f"{self.upstream.host}:{self.upstream.port}"],
            "cache": {"max_entries": self.cache_entries},
            # DNS against DNS: dnsmasq and Unbound serve no web page, so the STOP page (an
            # aiohttp server, ~27 MB of RSS, one per machine) is off here and its cost is
            # quoted separately in docs/performance.md.
            "stop_page": {"enabled": False},
            "state_dir": str(self.workdir / "state"),
            "log": {"level": "warning"},
            "lists": [],
        }
        if self.rate_limit is not None:
            config["rate_limit"] = dict(self.rate_limit)
        if self.blocklist is not None:
            config["lists"] = [
                {
                    "id": self.blocklist.list_id,
                    "source": str(self.blocklist.straja_file),
                    "tier": "operator",
                    "keys": [self.blocklist.straja_key],
                    "refresh": "1d",
                }
            ]
        return config

    def config_files(self) -> dict[Path, str]:
        return {self.conf: yaml.safe_dump(self.config())}

    def prepare(self) -> None:
        if self.blocklist is not None:
            cli = ("lists", "import", str(self.blocklist.straja_file), "--config", str(self.conf))
            # Activation also records the list as checked now, so with `refresh: 1d` the
            # daemon's refresher leaves the file alone while it is measured.
            straja_cli(self.source, *cli)

    def command(self) -> list[str]:
        return straja_cmd("serve", "--config", str(self.conf))

    def env(self) -> dict[str, str]:
        env = straja_env()
        env["PYTHONPATH"] = str(self.source) + os.pathsep + env["PYTHONPATH"]
        return env

    def cwd(self) -> Path:
        # `python -m` puts the working directory first on sys.path, before PYTHONPATH.
        return self.source

    def processes_expected(self) -> int:
        return 1 if self.workers == 1 else 1 + self.workers


class UnboundForwarder(Server):
    """Unbound as a caching forwarder to the same upstream: the same job as Straja's, with
    the blocklist as `always_nxdomain` local zones (looked up on every query, before its
    cache)."""

    name = "unbound"
    block_rcode = 3

    def __init__(
        self,
        workdir: Path,
        cpus: str | None,
        upstream: UpstreamUnbound,
        blocklist: Blocklist | None,
    ) -> None:
        super().__init__(workdir, cpus)
        self.upstream = upstream
        self.blocklist = blocklist
        self.conf = workdir / "unbound.conf"

    def config_files(self) -> dict[Path, str]:
        lines = [
            *_unbound_server_lines(self),
            "  do-not-query-localhost: no",
            # Unbound serves test. itself by default (RFC 6761); forward it like the rest.
            '  local-zone: "test." nodefault',
        ]
        if self.blocklist is not None:
            lines.append(f'  include: "{self.blocklist.unbound_conf}"')
        lines += [
            "forward-zone:",
            '  name: "."',
            f"  forward-addr: {self.upstream.host}@{self.upstream.port}",
            "remote-control:",
            "  control-enable: no",
        ]
        return {self.conf: "\n".join(lines) + "\n"}

    def command(self) -> list[str]:
        return [UNBOUND, "-d", "-c", str(self.conf)]


class Dnsmasq(Server):
    """dnsmasq as a caching forwarder to the same upstream, the list as `address=/NAME/0.0.0.0`
    lines (looked up on every query; such answers are not cached).

    It runs as the user running the harness (root in the project's sandbox, where it starts
    fine), so it never changes user. `dns-forward-max` goes from 150 to 1000: dnsperf keeps
    hundreds of queries in flight, and the default drops the excess on cold-unique.
    """

    name = "dnsmasq"

    def __init__(
        self,
        workdir: Path,
        cpus: str | None,
        upstream: UpstreamUnbound,
        blocklist: Blocklist | None,
        cache_entries: int,
    ) -> None:
        super().__init__(workdir, cpus)
        self.upstream = upstream
        self.blocklist = blocklist
        self.cache_entries = cache_entries

    def command(self) -> list[str]:
        conf = self.blocklist.dnsmasq_conf if self.blocklist is not None else "/dev/null"
        return [
            DNSMASQ,
            "--keep-in-foreground",
            f"--conf-file={conf}",
            f"--user={pwd.getpwuid(os.getuid()).pw_name}",
            f"--group={grp.getgrgid(os.getgid()).gr_name}",
            f"--listen-address={self.host}",
            f"--port={self.port}",
            "--bind-interfaces",
            "--no-resolv",
            "--no-hosts",
            f"--server={self.upstream.host}#{self.upstream.port}",
            f"--cache-size={self.cache_entries}",
            "--dns-forward-max=1000",
            f"--pid-file={self.workdir / 'dnsmasq.pid'}",
            f"--log-facility={self.log}",
        ]


class EchoServer(Server):
    """bench/echo_server.py: sends each query back with QR set, the ceiling for Python."""

    name = "uvloop echo"
    resolves = False

    def command(self) -> list[str]:
        return [sys.executable, str(BENCH / "echo_server.py"), f"{self.host}:{self.port}"]
