"""Real servers on loopback for the tests: Unbound as the upstream, Straja as a subprocess."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import dns.message
import dns.query
import dns.rcode
import yaml

REPO = Path(__file__).resolve().parent.parent
UNBOUND = shutil.which("unbound") or "/usr/sbin/unbound"

# The test zone Unbound serves. Nothing here resolves beyond loopback: "." is a static
# local zone, so every name we did not define gets NXDOMAIN from Unbound itself.
BIG_TXT = ['"' + f"{i:02d}" * 50 + '"' for i in range(30)]  # about 3 kB: never fits UDP
MEDIUM_TXT = ['"' + f"{i:02d}" * 50 + '"' for i in range(8)]  # about 950 bytes
ZONE = [
    '". 3600 IN SOA ns.root. hostmaster.root. 1 3600 600 86400 300"',
    '"test. 3600 IN SOA ns.test. hostmaster.test. 1 3600 600 86400 120"',
    '"www.example.test. 300 IN A 192.0.2.10"',
    '"www.example.test. 300 IN AAAA 2001:db8::10"',
    '"short.example.test. 2 IN A 192.0.2.11"',
    '"alias.example.test. 300 IN CNAME www.example.test."',
    '"mixed.example.test. 600 IN A 192.0.2.12"',
    *[f"'big.example.test. 300 IN TXT {t}'" for t in BIG_TXT],
    *[f"'medium.example.test. 300 IN TXT {t}'" for t in MEDIUM_TXT],
    # Safe-search hosts and the engines' ordinary names, as the real ones answer.
    '"www.google.com. 300 IN A 142.250.1.1"',
    '"forcesafesearch.google.com. 300 IN A 216.239.38.120"',
    '"forcesafesearch.google.com. 300 IN AAAA 2001:4860:4802:32::78"',
    '"www.youtube.com. 300 IN A 142.250.1.2"',
    '"restrict.youtube.com. 300 IN A 216.239.38.119"',
    '"restrictmoderate.youtube.com. 300 IN A 216.239.38.120"',
    '"www.bing.com. 300 IN A 13.107.1.1"',
    '"strict.bing.com. 300 IN A 204.79.197.220"',
    '"duckduckgo.com. 300 IN A 52.1.1.1"',
    '"safe.duckduckgo.com. 300 IN A 52.142.124.215"',
    '"use-application-dns.net. 300 IN A 192.0.2.53"',
    '"svc.example.test. 300 IN HTTPS 1 cdn.tracker.example.test. alpn=h2"',
]


def poll(predicate: Any, timeout: float = 90.0, every: float = 0.5) -> Any:
    """`predicate()` once it is truthy, polled every `every` seconds; None after `timeout`
    (the caller's assert then says what did not come)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(every)
    return None


def free_port(host: str = "127.0.0.1") -> int:
    """A port that is free on both UDP and TCP at `host` right now."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    for _ in range(50):
        with socket.socket(family, socket.SOCK_DGRAM) as u:
            u.bind((host, 0))
            port = u.getsockname()[1]
            with socket.socket(family, socket.SOCK_STREAM) as t:
                try:
                    t.bind((host, port))
                except OSError:
                    continue
                return int(port)
    raise RuntimeError("no free port")


def wait_answering(host: str, port: int, timeout: float = 60.0, proc: Any = None) -> None:
    """Block until a DNS server at host:port answers anything over UDP. The wait is long
    (a Python start under qemu-user on a loaded machine takes well over 10 s) and ends at
    once when the process exits."""
    deadline = time.monotonic() + timeout
    # A CHAOS-class question is answered (or refused) locally, whatever the upstreams do.
    q = dns.message.make_query("version.bind.", "TXT", rdclass="CH")
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"server exited with {proc.returncode}")
        try:
            dns.query.udp(q, host, port=port, timeout=0.2)
            return
        except Exception:
            time.sleep(0.05)
    raise RuntimeError(f"nothing answered on {host}:{port} within {timeout}s")


class Unbound:
    """A real Unbound from Debian serving the test zone on a loopback address."""

    def __init__(self, workdir: Path, host: str = "127.0.0.2", extra: Iterable[str] = ()) -> None:
        self.host = host
        self.port = free_port(host)
        self.workdir = workdir
        self.conf = workdir / "unbound.conf"
        self.log = workdir / "unbound.log"
        self.extra = list(extra)
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def address(self) -> str:
        return f"{self.host}:{self.port}"

    def write_config(self) -> None:
        lines = [
            "server:",
            f"  interface: {self.host}",
            f"  port: {self.port}",
            "  do-daemonize: no",
            '  chroot: ""',
            '  username: ""',
            f'  directory: "{self.workdir}"',
            f'  pidfile: "{self.workdir}/unbound.pid"',
            "  use-syslog: no",
            f'  logfile: "{self.log}"',
            "  verbosity: 1",
            "  do-ip6: no",
            "  num-threads: 1",
            '  module-config: "iterator"',
            "  access-control: 127.0.0.0/8 allow",
            "  msg-cache-size: 1m",
            "  rrset-cache-size: 1m",
            "  edns-buffer-size: 1232",
            '  local-zone: "." static',
            '  local-zone: "test." static',
            '  local-zone: "com." static',
            '  local-zone: "net." static',
            *[f"  local-data: {rr}" for rr in ZONE],
            *self.extra,
            "remote-control:",
            "  control-enable: no",
        ]
        self.conf.write_text("\n".join(lines) + "\n")

    def start(self) -> Unbound:
        self.write_config()
        self.proc = subprocess.Popen(
            [UNBOUND, "-d", "-c", str(self.conf)],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        try:
            wait_answering(self.host, self.port, proc=self.proc)
        except RuntimeError as exc:
            log = self.log.read_text() if self.log.exists() else ""
            raise RuntimeError(f"unbound did not start: {exc}\n{log}") from None
        return self

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc = None


def straja_env() -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = str(REPO) + os.pathsep + env.get("PYTHONPATH", "")
    env.setdefault("PYTHONUNBUFFERED", "1")
    return env


def straja_cmd(*args: str) -> list[str]:
    return [sys.executable, "-m", "admin", *args]


class Straja:
    """Straja started as `straja serve --config FILE` in a subprocess."""

    def __init__(self, workdir: Path, config: dict[str, Any], host: str = "127.0.0.1") -> None:
        self.workdir = workdir
        self.host = host
        self.port = free_port(host)
        config = dict(config)
        dns_section = dict(config.get("dns", {}))
        bracketed = f"[{host}]" if ":" in host else host
        dns_section.setdefault("listen", [f"{bracketed}:{self.port}"])
        config["dns"] = dns_section
        config.setdefault("state_dir", str(workdir / "state"))
        self.stop_page_port = free_port(host)
        config.setdefault("stop_page", {"listen": [f"{bracketed}:{self.stop_page_port}"]})
        self.admin_port = free_port(host)
        admin_section = dict(config.get("admin", {}))
        admin_section.setdefault("listen", [f"{bracketed}:{self.admin_port}"])
        config["admin"] = admin_section
        config.setdefault("log", {"level": "debug"})
        self.config = config
        self.config_path = workdir / "straja.yaml"
        self.log_path = workdir / "straja.log"
        self.proc: subprocess.Popen[bytes] | None = None

    def write_config(self, config: dict[str, Any] | None = None) -> None:
        if config is not None:
            self.config = config
        self.config_path.write_text(yaml.safe_dump(self.config))

    def start(self, wait: bool = True) -> Straja:
        self.write_config()
        self._log = open(self.log_path, "ab")  # noqa: SIM115 - lives as long as the process
        self.proc = subprocess.Popen(
            straja_cmd("serve", "--config", str(self.config_path)),
            stdin=subprocess.DEVNULL,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            env=straja_env(),
        )
        if wait:
            try:
                wait_answering(self.host, self.port, proc=self.proc)
            except RuntimeError as exc:
                raise RuntimeError(f"straja did not start: {exc}\n{self.read_log()}") from None
        return self

    def read_log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def signal(self, sig: int) -> None:
        assert self.proc is not None
        self.proc.send_signal(sig)

    def stop(self) -> int | None:
        code = None
        if self.proc is not None:
            if self.proc.poll() is None:
                self.proc.send_signal(signal.SIGTERM)
                try:
                    # A minute: natively it takes well under one second, but under qemu
                    # (the armhf chroot) two workers and the store's flush took over 10 s.
                    self.proc.wait(60)
                except subprocess.TimeoutExpired:
                    self.proc.kill()
                    self.proc.wait()
            code = self.proc.returncode
            self.proc = None
            self._log.close()
        return code

    def query(
        self, name: str, rdtype: str = "A", tcp: bool = False, **kw: Any
    ) -> dns.message.Message:
        q = dns.message.make_query(name, rdtype, **kw)
        if tcp:
            return dns.query.tcp(q, self.host, port=self.port, timeout=5)
        return dns.query.udp(q, self.host, port=self.port, timeout=5)


def run_dig(*args: str) -> str:
    out = subprocess.run(["dig", *args], capture_output=True, text=True, timeout=30)
    return out.stdout


class QueryLoop:
    """A client asking one question over and over in a thread, recording every answer that
    `bad` rejects and every error, while a test reloads or swaps something underneath."""

    def __init__(self, server: Straja, name: str, bad: Any, **udp: Any) -> None:
        import threading

        self.server, self.bad, self.udp = server, bad, udp
        self.query = dns.message.make_query(name, "A")
        self.failures: list[str] = []
        self.answered = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run)

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                r = dns.query.udp(self.query, self.server.host, port=self.server.port,
                                  timeout=2, **self.udp)
                if self.bad(r):
                    self.failures.append(str(r))
                self.answered += 1
            except Exception as exc:  # noqa: BLE001
                self.failures.append(repr(exc))

    def __enter__(self) -> QueryLoop:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
