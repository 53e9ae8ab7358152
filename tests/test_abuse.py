"""Abuse: rate limiting with slip, UDP answer sizes, TCP bounds per client and slow-loris,
impossible Client Subnet options from a trusted forwarder."""

from __future__ import annotations

import json
import socket
import struct
import time

import dns.edns
import dns.flags
import dns.message
import dns.query
import dns.rcode

from tests.listtools import straja_cli


def _burst(server, count: int, source: str = "127.0.0.1") -> list[bytes]:
    """Send `count` queries from one socket as fast as it goes; the answers that came."""
    q = dns.message.make_query("www.example.test", "A").to_wire()
    answers = []
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind((source, 0))
        for _ in range(count):
            sock.sendto(q, (server.host, server.port))
        sock.settimeout(2)
        while True:
            try:
                answers.append(sock.recv(4096))
            except TimeoutError:
                return answers


def _stats(server, wanted: str = "queries", at_least: int = 0) -> dict:
    """The summed counters once `wanted` reaches `at_least` (they are written every 2 s)."""
    deadline = time.monotonic() + 15
    while True:
        run = straja_cli("stats", "--config", str(server.config_path), "--json")
        stats = json.loads(run.stdout) if run.returncode == 0 else {}
        if stats.get(wanted, 0) >= at_least or time.monotonic() > deadline:
            return stats
        time.sleep(0.5)


def test_a_client_over_its_rate_is_limited_with_slip_and_counted(straja_factory, unbound
                                                                 ) -> None:
    s = straja_factory({"upstreams": [unbound.address],
                        "rate_limit": {"qps": 1, "burst": 1, "slip": 2}})
    s.query("www.example.test", "A", tcp=True)  # TCP is never limited
    answers = _burst(s, 40)
    full = [a for a in answers if not a[2] & 0x02]
    truncated = [a for a in answers if a[2] & 0x02]
    assert len(full) < 15  # one a second, over the few seconds a slow machine may take
    assert truncated
    for answer in truncated:  # an empty answer, TC set: a real client retries over TCP
        message = dns.message.from_wire(answer)
        assert message.flags & dns.flags.QR and message.flags & dns.flags.TC
        assert message.rcode() == dns.rcode.NOERROR and not message.answer
        assert struct.unpack_from("!H", answer, 6)[0] == 0
    assert s.query("www.example.test", "A", tcp=True).rcode() == dns.rcode.NOERROR
    stats = _stats(s, "ratelimited", 20)
    assert stats["ratelimited"] >= 20 and stats["ratelimit_slipped"] >= len(truncated)


def test_exempt_networks_are_never_limited(straja_factory, unbound) -> None:
    s = straja_factory({"upstreams": [unbound.address],
                        "rate_limit": {"qps": 1, "burst": 1, "exempt": ["127.0.0.0/8"]}})
    s.query("www.example.test", "A")
    answers = _burst(s, 30)
    assert len(answers) == 30 and not any(a[2] & 0x02 for a in answers)


def test_udp_answers_never_exceed_the_clients_size_or_ours(straja) -> None:
    for name in ("big.example.test", "medium.example.test"):
        for payload in (None, 512, 600, 1232, 4096):
            q = dns.message.make_query(name, "TXT", use_edns=payload is not None,
                                       payload=payload or 512)
            with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
                sock.settimeout(5)
                sock.sendto(q.to_wire(), (straja.host, straja.port))
                answer = sock.recv(65535)
            assert len(answer) <= min(payload or 512, 1232)


def test_impossible_client_subnets_from_a_trusted_forwarder_are_formerr(straja_factory,
                                                                        unbound) -> None:
    s = straja_factory({"upstreams": [unbound.address],
                        "access": {"trusted_forwarders": ["127.0.0.1/32"]}})
    impossible = [
        b"\x00\x01\x21\x00" + b"\x0a\x00\x00\x01\x00",  # family 1, /33
        b"\x00\x02\x81\x00" + b"\x20" + b"\x00" * 16,  # family 2, /129
        b"\x00\x07\x08\x00\x0a",  # an unknown family
        b"\x00\x01\x18\x00\x0a",  # /24 with one address byte instead of three
    ]
    for value in impossible:
        q = dns.message.make_query("www.example.test", "A", use_edns=0,
                                   options=[dns.edns.GenericOption(8, value)])
        answer = dns.query.udp(q, s.host, port=s.port, timeout=5)
        assert answer.rcode() == dns.rcode.FORMERR and not answer.answer
    good = dns.edns.ECSOption("192.168.1.0", 24)
    q = dns.message.make_query("www.example.test", "A", use_edns=0, options=[good])
    assert dns.query.udp(q, s.host, port=s.port, timeout=5).rcode() == dns.rcode.NOERROR


def test_slow_loris_from_one_address_does_not_shut_out_another(straja_factory, unbound
                                                                ) -> None:
    s = straja_factory({"upstreams": [unbound.address]})
    s.query("www.example.test", "A")
    slow = []
    try:
        for _ in range(1000):
            conn = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            conn.setblocking(False)
            conn.bind(("127.0.0.1", 0))
            try:
                conn.connect((s.host, s.port))
            except BlockingIOError:
                pass
            slow.append(conn)
        for conn in slow:
            try:
                conn.send(b"\x00")  # the first byte of a length prefix, then nothing
            except OSError:
                pass
        q = dns.message.make_query("www.example.test", "A")
        tcp_ok = udp_ok = 0
        for _ in range(90):
            try:
                r = dns.query.tcp(q, s.host, port=s.port, timeout=5, source="127.0.0.7")
                tcp_ok += r.rcode() == dns.rcode.NOERROR
            except (OSError, dns.exception.Timeout, EOFError):
                pass
            r = dns.query.udp(q, s.host, port=s.port, timeout=5, source="127.0.0.8")
            udp_ok += r.rcode() == dns.rcode.NOERROR
        assert (tcp_ok, udp_ok) == (90, 90)
    finally:
        for conn in slow:
            conn.close()
    assert _stats(s, "tcp_refused_per_client", 1)["tcp_refused_per_client"] > 0


def test_a_huge_length_prefix_that_never_arrives_is_closed_after_the_read_timeout(
        straja_factory, unbound) -> None:
    s = straja_factory({"upstreams": [unbound.address],
                        "dns": {"tcp_read_timeout": "1s", "tcp_idle_timeout": "30s"}})
    with socket.create_connection((s.host, s.port), timeout=20) as conn:
        conn.sendall(b"\xff\xff" + b"\x00" * 100)
        assert conn.recv(10) == b""  # closed by the read timeout, long before 30 s idle
    assert s.query("www.example.test", "A", tcp=True).rcode() == dns.rcode.NOERROR
