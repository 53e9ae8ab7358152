"""Socket activation (deploy/systemd/straja.socket) with systemd's own launcher,
systemd-socket-activate: Straja uses the passed socket for the dns.listen address it is
bound to and binds every other address itself. The launcher's --datagram applies to all
of its sockets, so UDP and TCP are passed in separate runs."""

from __future__ import annotations

import shutil
import subprocess
import time
from pathlib import Path

import dns.message
import dns.query
import pytest

from tests.servers import Straja, Unbound, free_port, straja_cmd, straja_env, wait_answering

LAUNCHER = shutil.which("systemd-socket-activate")


def launch(server: Straja, launcher: list[str]) -> subprocess.Popen[bytes]:
    """Straja under the launcher, once the launcher listens (it starts Straja on the first
    packet or connection)."""
    with open(server.log_path, "ab") as log:
        proc = subprocess.Popen(
            [*launcher, *straja_cmd("serve", "--config", str(server.config_path))],
            stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT, env=straja_env())
    deadline = time.monotonic() + 60  # Python under qemu (scripts/test-armhf) is slow
    while "Listening on" not in server.read_log():
        assert time.monotonic() < deadline and proc.poll() is None, server.read_log()
        time.sleep(0.05)
    return proc


def stop(proc: subprocess.Popen[bytes]) -> None:
    """SIGTERM, as systemd stops it; a stop that takes over a minute is killed."""
    proc.terminate()
    try:
        proc.wait(60)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
        raise


def first_answer(host: str, port: int, tcp: bool) -> dns.message.Message:
    # The launcher starts Straja when the first query arrives; that query waits in the
    # passed socket's queue, so give it the start-up time.
    q = dns.message.make_query("www.example.test", "A")
    if tcp:
        return dns.query.tcp(q, host, port=port, timeout=30)
    return dns.query.udp(q, host, port=port, timeout=30)


@pytest.mark.skipif(LAUNCHER is None, reason="systemd-socket-activate is not installed")
@pytest.mark.parametrize("passed", ["udp", "tcp"])
def test_passed_socket_serves_its_address_and_other_addresses_are_bound(
    tmp_path: Path, unbound: Unbound, passed: str
) -> None:
    other = free_port()
    server = Straja(tmp_path, {"upstreams": [unbound.address], "stop_page": {"enabled": False}})
    server.config["dns"]["listen"].append(f"127.0.0.1:{other}")
    server.write_config()
    launcher = [str(LAUNCHER), *(["--datagram"] if passed == "udp" else []),
                "-l", f"127.0.0.1:{server.port}", "--fdname=dns"]
    proc = launch(server, launcher)
    try:
        first = first_answer("127.0.0.1", server.port, tcp=passed == "tcp")
        assert [str(r) for r in first.answer] == ["www.example.test. 300 IN A 192.0.2.10"]
        # The other protocol on the same port, and the other address, Straja bound itself.
        again = first_answer("127.0.0.1", server.port, tcp=passed == "udp")
        assert again.answer, again
        assert first_answer("127.0.0.1", other, tcp=False).answer
        assert first_answer("127.0.0.1", other, tcp=True).answer
        kind = passed.upper()
        assert f"using the {kind} socket passed by systemd (dns) for 127.0.0.1:{server.port}" \
            in server.read_log()
    finally:
        stop(proc)
    assert proc.returncode == 0, server.read_log()


@pytest.mark.skipif(LAUNCHER is None, reason="systemd-socket-activate is not installed")
def test_a_passed_socket_dns_listen_does_not_name_is_reported(
    tmp_path: Path, unbound: Unbound
) -> None:
    stray = free_port()
    server = Straja(tmp_path, {"upstreams": [unbound.address], "stop_page": {"enabled": False}})
    server.write_config()
    proc = launch(server, [str(LAUNCHER), "--datagram", "-l", f"127.0.0.1:{stray}"])
    try:
        with pytest.raises(dns.exception.Timeout):
            # Wakes the launcher; nothing reads the stray socket, so this one times out.
            dns.query.udp(dns.message.make_query("www.example.test", "A"), "127.0.0.1",
                          port=stray, timeout=3)
        wait_answering("127.0.0.1", server.port, timeout=30)
        assert first_answer("127.0.0.1", server.port, tcp=False).answer
        assert f"systemd passed a socket on 127.0.0.1:{stray}, which dns.listen" \
            in server.read_log()
    finally:
        stop(proc)
