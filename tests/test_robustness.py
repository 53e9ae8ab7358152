"""Access control, malformed packets, and process lifecycle: SIGHUP reload, SIGTERM, workers."""

from __future__ import annotations

import os
import re
import signal
import socket
import struct
import time
from pathlib import Path

import dns.message
import dns.query
import dns.rcode

from tests.servers import QueryLoop


def _raw_udp(host: str, port: int, payload: bytes, timeout: float = 1.0) -> bytes | None:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.settimeout(timeout)
        s.sendto(payload, (host, port))
        try:
            return s.recv(65535)
        except TimeoutError:
            return None


def test_clients_outside_access_allow_get_refused(straja_factory, unbound) -> None:
    s = straja_factory({"upstreams": [unbound.address], "access": {"allow": ["127.0.0.9/32"]}})
    q = dns.message.make_query("www.example.test", "A")
    outside = dns.query.udp(q, s.host, port=s.port, timeout=5, source="127.0.0.1")
    assert outside.rcode() == dns.rcode.REFUSED and not outside.answer
    inside = dns.query.udp(q, s.host, port=s.port, timeout=5, source="127.0.0.9")
    assert inside.rcode() == dns.rcode.NOERROR and inside.answer
    over_tcp = dns.query.tcp(q, s.host, port=s.port, timeout=5, source="127.0.0.1")
    assert over_tcp.rcode() == dns.rcode.REFUSED


def test_default_access_allows_loopback(straja) -> None:
    assert straja.query("www.example.test", "A").rcode() == dns.rcode.NOERROR


def test_malformed_packets_get_formerr_or_silence_and_the_server_keeps_serving(straja) -> None:
    h, p = straja.host, straja.port
    good = dns.message.make_query("www.example.test", "A").to_wire()
    assert _raw_udp(h, p, b"") is None
    assert _raw_udp(h, p, b"\x12\x34\x01") is None  # shorter than a header
    assert _raw_udp(h, p, good[:2] + bytes([good[2] | 0x80]) + good[3:]) is None  # a response
    two_questions = good[:4] + struct.pack("!H", 2) + good[6:]
    cut_question = good[:-3]
    pointer_in_question = good[:12] + b"\xc0\x0c" + good[-4:]
    long_label = good[:12] + b"\x50" + b"a" * 80 + b"\x00" + good[-4:]
    loop = good[:12] + b"\x01a" * 200 + b"\x00" + good[-4:]
    for bad in (two_questions, cut_question, pointer_in_question, long_label, loop):
        answer = _raw_udp(h, p, bad)
        assert answer is not None and answer[:2] == good[:2]
        assert answer[3] & 0x0F == dns.rcode.FORMERR
    garbage = bytes(range(256)) * 3
    _raw_udp(h, p, garbage)
    assert straja.query("www.example.test", "A").rcode() == dns.rcode.NOERROR


def test_malformed_tcp_frames_close_only_that_connection(straja) -> None:
    with socket.create_connection((straja.host, straja.port), timeout=2) as c:
        c.sendall(struct.pack("!H", 500) + b"short")  # announces more than it sends
    with socket.create_connection((straja.host, straja.port), timeout=2) as c:
        c.sendall(struct.pack("!H", 5) + b"\x00\x01\x02\x03\x04")
        c.settimeout(2)
        assert c.recv(10) == b""  # not DNS: closed
    assert straja.query("www.example.test", "A", tcp=True).rcode() == dns.rcode.NOERROR


def test_tcp_idle_connections_are_closed(straja_factory, unbound) -> None:
    s = straja_factory({"upstreams": [unbound.address], "dns": {"tcp_idle_timeout": "1s"}})
    # The server closes it (recv returns b""), long before our own 10 s would time out.
    with socket.create_connection((s.host, s.port), timeout=10) as c:
        assert c.recv(10) == b""


def test_sighup_reloads_config_without_dropping_queries(straja_factory, unbound) -> None:
    s = straja_factory({"upstreams": [unbound.address], "access": {"allow": ["127.0.0.0/8"]}})
    s.query("www.example.test", "A")
    with QueryLoop(s, "www.example.test", lambda r: r.rcode() != dns.rcode.NOERROR,
                   source="127.0.0.1") as loop:
        for _ in range(3):
            time.sleep(0.3)
            s.signal(signal.SIGHUP)
        time.sleep(0.5)
    failures, answered = loop.failures, loop.answered
    assert answered > 50 and failures == []
    # Now a real change: refuse 127.0.0.1.
    config = dict(s.config)
    config["access"] = {"allow": ["127.0.0.9/32"]}
    s.write_config(config)
    s.signal(signal.SIGHUP)
    q = dns.message.make_query("www.example.test", "A")
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        r = dns.query.udp(q, s.host, port=s.port, timeout=2, source="127.0.0.1")
        if r.rcode() == dns.rcode.REFUSED:
            break
        time.sleep(0.1)
    assert r.rcode() == dns.rcode.REFUSED
    assert "config reloaded" in s.read_log()


def test_a_bad_config_on_sighup_keeps_the_running_one(straja) -> None:
    straja.config_path.write_text("dns:\n  listen: [nonsense]\n")
    straja.signal(signal.SIGHUP)
    deadline = time.monotonic() + 5
    while "reload refused" not in straja.read_log() and time.monotonic() < deadline:
        time.sleep(0.1)
    assert "reload refused" in straja.read_log()
    assert "dns.listen[0]" in straja.read_log()
    assert straja.query("www.example.test", "A").rcode() == dns.rcode.NOERROR


def test_sigterm_stops_cleanly(straja) -> None:
    assert straja.stop() == 0
    assert "shutting down" in straja.read_log()
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind((straja.host, straja.port))  # the port is free again


def _children(pid: int) -> list[int]:
    path = Path(f"/proc/{pid}/task/{pid}/children")
    return [int(x) for x in path.read_text().split()]


def _worker_pids(server) -> dict[int, int]:
    """worker index -> pid, from the supervisor's log (the newest start of each)."""
    found: dict[int, int] = {}
    for m in re.finditer(r"worker (\d+) started as pid (\d+)", server.read_log()):
        found[int(m.group(1))] = int(m.group(2))
    return found


def test_workers_share_the_port_and_a_dead_worker_is_restarted(straja_factory, unbound) -> None:
    s = straja_factory({"upstreams": [unbound.address], "dns": {"workers": 2}})
    assert s.proc is not None
    deadline = time.monotonic() + 10
    while len(_worker_pids(s)) < 2 and time.monotonic() < deadline:
        time.sleep(0.1)
    workers = _worker_pids(s)
    assert len(workers) == 2
    assert len(_children(s.proc.pid)) == 3  # two workers and the list refresher
    for _ in range(20):
        assert s.query("www.example.test", "A").rcode() == dns.rcode.NOERROR
    os.kill(workers[0], signal.SIGKILL)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and _worker_pids(s)[0] == workers[0]:
        time.sleep(0.1)
    restarted = _worker_pids(s)[0]
    assert restarted != workers[0] and restarted in _children(s.proc.pid)
    assert s.query("mixed.example.test", "A").rcode() == dns.rcode.NOERROR
    assert s.stop() == 0


def test_counters_of_all_workers_are_summed(straja_factory, unbound, tmp_path) -> None:
    from tests.listtools import Publisher, straja_cli

    pub = Publisher(tmp_path)
    lst = pub.compile("school", ["games.example.test"], 1)
    s = straja_factory({"upstreams": [unbound.address], "dns": {"workers": 2},
                        "lists": [{"id": "school", "source": str(lst), "tier": "operator",
                                   "keys": [pub.key]}]})
    import json

    sent = 0
    for i in range(60):
        s.query("games.example.test" if i % 3 == 0 else "www.example.test", "A")
        sent += 1
    deadline = time.monotonic() + 10
    total: dict = {}
    while time.monotonic() < deadline:
        run = straja_cli("stats", "--config", str(s.config_path), "--json")
        total = json.loads(run.stdout)
        if total.get("queries", 0) >= sent + 1 and total["workers"] == 2:
            break
        time.sleep(0.5)
    # Every query counted once, by whichever worker SO_REUSEPORT gave it to.
    assert total["workers"] == 2
    assert total["queries"] >= sent  # plus the readiness probes
    assert total["list_hits"] == {"school": 20}
    assert total["blocked_operator"] == 20 and total["blocked_mandatory"] == 0
