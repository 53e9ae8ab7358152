"""A school points its clients at Straja: answers arrive, the second time from the cache."""

from __future__ import annotations

from tests.servers import run_dig


def test_dig_gets_the_answer_then_the_cached_answer(straja, unbound) -> None:
    first = run_dig(f"@{straja.host}", "-p", str(straja.port), "www.example.test", "A", "+tries=1")
    assert "192.0.2.10" in first
    assert "status: NOERROR" in first
    unbound.stop()  # the second answer can only come from Straja's cache now
    try:
        second = run_dig(f"@{straja.host}", "-p", str(straja.port), "www.example.test", "A")
        assert "192.0.2.10" in second
    finally:
        unbound.start()


def test_tcp_answer_matches_udp(straja) -> None:
    udp = straja.query("www.example.test", "AAAA")
    tcp = straja.query("www.example.test", "AAAA", tcp=True)
    assert [str(r) for r in udp.answer[0]] == ["2001:db8::10"]
    assert [str(r) for r in tcp.answer[0]] == ["2001:db8::10"]


def test_ipv6_listener_answers(straja_factory, unbound) -> None:
    import socket

    import pytest

    try:
        with socket.socket(socket.AF_INET6, socket.SOCK_DGRAM) as probe:
            probe.bind(("::1", 0))
    except OSError:
        pytest.skip("no IPv6 loopback in this sandbox")
    s = straja_factory({"upstreams": [unbound.address]}, host="::1")
    out = run_dig("@::1", "-p", str(s.port), "www.example.test", "AAAA")
    assert "2001:db8::10" in out
