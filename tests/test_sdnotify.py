"""systemd's notify protocol against a fake NOTIFY_SOCKET listener (systemd is not PID 1
here): READY only once DNS answers, WATCHDOG only while DNS answers, RELOADING then READY
on SIGHUP, STOPPING on SIGTERM, for one process and for a supervisor with workers."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.servers import Straja, Unbound, straja_cmd, straja_env


class FakeSystemd:
    """The receiving end of NOTIFY_SOCKET: collects every datagram a service sends."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind(str(path))
        self.sock.settimeout(0.2)
        self.messages: list[str] = []

    def wait_for(self, field: str, timeout: float = 30.0) -> list[str]:
        """Messages received until one has `field` among its lines (AssertionError if none)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if any(field in m.split("\n") for m in self.messages):
                return self.messages
            try:
                self.messages.append(self.sock.recv(4096).decode())
            except TimeoutError:
                continue
        raise AssertionError(f"no {field} within {timeout}s; got {self.messages}")

    def drain(self, seconds: float) -> list[str]:
        end = time.monotonic() + seconds
        got: list[str] = []
        while time.monotonic() < end:
            try:
                got.append(self.sock.recv(4096).decode())
            except TimeoutError:
                continue
        self.messages.extend(got)
        return got

    def close(self) -> None:
        self.sock.close()


@pytest.fixture
def systemd(tmp_path: Path) -> Iterator[FakeSystemd]:
    fake = FakeSystemd(tmp_path / "notify.sock")
    yield fake
    fake.close()


def start(server: Straja, systemd: FakeSystemd, watchdog_usec: int) -> subprocess.Popen[bytes]:
    server.write_config()
    env = straja_env()
    env["NOTIFY_SOCKET"] = str(systemd.path)
    env["WATCHDOG_USEC"] = str(watchdog_usec)
    log = open(server.log_path, "ab")  # noqa: SIM115 - closed by the test's process end
    proc = subprocess.Popen(straja_cmd("serve", "--config", str(server.config_path)),
                            stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                            env=env)
    server.proc = proc
    server._log = log
    return proc


def answers(server: Straja) -> bool:
    try:
        server.query("version.bind", "TXT", rdclass="CH")
        return True
    except Exception:
        return False


@pytest.mark.parametrize("workers", [1, 2])
def test_ready_after_dns_answers_then_watchdog_reloading_and_stopping(
    tmp_path: Path, unbound: Unbound, systemd: FakeSystemd, workers: int
) -> None:
    server = Straja(tmp_path, {"upstreams": [unbound.address], "dns": {"workers": workers},
                               "stop_page": {"enabled": False}})
    proc = start(server, systemd, watchdog_usec=2_000_000)
    try:
        systemd.wait_for("READY=1")
        assert answers(server), "READY=1 came before DNS answered"
        got = systemd.drain(4.0)
        assert "WATCHDOG=1" in got, (got, server.read_log())

        proc.send_signal(signal.SIGHUP)
        systemd.wait_for("RELOADING=1")
        reloading = next(m for m in systemd.messages if "RELOADING=1" in m)
        assert "MONOTONIC_USEC=" in reloading
        after = systemd.messages[systemd.messages.index(reloading) + 1:]
        if not any("READY=1" in m for m in after):
            after += systemd.drain(5.0)
        assert any("READY=1" in m for m in after), after

        proc.send_signal(signal.SIGTERM)
        systemd.wait_for("STOPPING=1")
        assert proc.wait(15) == 0
    finally:
        server.stop()


def test_watchdog_stops_while_dns_does_not_answer(
    tmp_path: Path, unbound: Unbound, systemd: FakeSystemd
) -> None:
    server = Straja(tmp_path, {"upstreams": [unbound.address], "dns": {"workers": 2},
                               "stop_page": {"enabled": False}})
    proc = start(server, systemd, watchdog_usec=2_000_000)
    try:
        systemd.wait_for("READY=1")
        assert "WATCHDOG=1" in systemd.drain(3.0)
        # Freeze the workers (the supervisor keeps running): nothing answers DNS any more.
        workers = [int(p) for p in subprocess.run(
            ["pgrep", "-P", str(proc.pid)], capture_output=True, text=True).stdout.split()]
        assert workers
        for pid in workers:
            os.kill(pid, signal.SIGSTOP)
        try:
            systemd.drain(1.5)  # a ping whose proof was complete before the freeze
            assert not answers(server)
            frozen = systemd.drain(5.0)
            assert "WATCHDOG=1" not in frozen, frozen
        finally:
            for pid in workers:
                os.kill(pid, signal.SIGCONT)
        assert "WATCHDOG=1" in systemd.drain(5.0), "no WATCHDOG=1 once DNS answers again"
    finally:
        server.stop()


def test_no_notify_socket_means_no_probes_and_no_errors(tmp_path: Path, unbound: Unbound) -> None:
    server = Straja(tmp_path, {"upstreams": [unbound.address], "stop_page": {"enabled": False}})
    server.start()
    try:
        assert answers(server)
        assert "notify" not in server.read_log().lower()
    finally:
        assert server.stop() == 0
