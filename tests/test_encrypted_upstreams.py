"""Upstream URLs: DoT to a real Unbound, DoH through the suite's own endpoint in front of
one, certificate checks, pins, connection reuse, failover and strategies."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import dns.rcode
import pytest

from admin.config import ConfigError, load_config_text
from resolver import wire
from resolver.transports import DotConnection
from resolver.upstream import Forwarder, _matches
from resolver.upstream_spec import parse_upstream
from tests.tlsservers import TLS_NAME, CertAuthority, DohEndpoint, DotUnbound


@pytest.fixture
def ca(tmp_path: Path) -> CertAuthority:
    return CertAuthority(tmp_path)


@pytest.fixture
def dot(tmp_path: Path, ca: CertAuthority):  # type: ignore[no-untyped-def]
    workdir = tmp_path / "dot"
    workdir.mkdir()
    server = DotUnbound(workdir, ca).start()
    yield server
    server.stop()


@pytest.fixture
def doh(ca: CertAuthority, dot: DotUnbound):  # type: ignore[no-untyped-def]
    endpoint = DohEndpoint(ca, (dot.host, dot.port))
    yield endpoint
    endpoint.close()


def _a(answer) -> list[str]:  # type: ignore[no-untyped-def]
    return [rd.to_text() for rrset in answer.answer for rd in rrset]


def _config(ca: CertAuthority, upstreams: list[object], **extra: object) -> dict[str, object]:
    return {"upstreams": upstreams, "upstream_tls": {"ca_file": str(ca.path)},
            "cache": {"max_entries": 0}, **extra}


def test_dot_upstream_answers_through_one_kept_connection(
    dot: DotUnbound, ca: CertAuthority
) -> None:
    spec = parse_upstream(dot.url())
    forwarder = Forwarder([spec], timeout=3, max_in_flight=100, ca_file=str(ca.path))
    question = wire.text_to_name("www.example.test") + b"\x00\x01\x00\x01"

    async def many() -> list[bytes]:
        first = await forwarder.resolve(question, False, False, False)
        rest = await asyncio.gather(*(forwarder.resolve(question, True, False, False)
                                      for _ in range(20)))  # pipelined on one connection
        return [first, *rest]

    answers = asyncio.run(many())
    assert all(_matches(a, int.from_bytes(a[:2], "big"), question) for a in answers)
    transport = forwarder.upstreams[0].transport
    assert isinstance(transport, DotConnection)
    assert transport.connections == 1


def test_straja_resolves_over_dot_and_doh(straja_factory, dot, doh, ca) -> None:  # type: ignore[no-untyped-def]
    s = straja_factory(_config(ca, [dot.url()]))
    assert _a(s.query("www.example.test")) == ["192.0.2.10"]
    assert "www.example.test" in dot.log.read_text()
    for method in ("POST", "GET"):
        doh.peers.clear()
        s2 = straja_factory(_config(ca, [{"url": doh.url(), "bootstrap": [doh.host],
                                          "method": method}]))
        for _ in range(10):
            assert _a(s2.query("www.example.test")) == ["192.0.2.10"]
        assert doh.requests >= 10
        assert len(doh.peers) == 1, f"{method}: {len(doh.peers)} connections for 10 queries"


def test_failover_between_doh_and_dot_when_either_goes_down(straja_factory, dot, doh, ca) -> None:  # type: ignore[no-untyped-def]
    s = straja_factory(_config(ca, [{"url": doh.url(), "bootstrap": [doh.host]}, dot.url()],
                               dns={"upstream_timeout": "1s"}))
    assert _a(s.query("www.example.test")) == ["192.0.2.10"]
    doh.close()
    for _ in range(3):
        assert _a(s.query("www.example.test")) == ["192.0.2.10"]


@pytest.mark.parametrize("mode", ["html", "500", "truncated"])
def test_a_doh_answer_that_is_not_dns_is_a_failure(straja_factory, dot, doh, ca, mode) -> None:  # type: ignore[no-untyped-def]
    doh.mode = mode
    s = straja_factory(_config(ca, [{"url": doh.url(), "bootstrap": [doh.host]}]))
    assert s.query("www.example.test").rcode() == dns.rcode.SERVFAIL
    s2 = straja_factory(_config(ca, [{"url": doh.url(), "bootstrap": [doh.host]}, dot.url()]))
    assert _a(s2.query("www.example.test")) == ["192.0.2.10"]


def _wait_log(server, text: str) -> str:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and text not in server.read_log():
        time.sleep(0.2)
    return server.read_log()  # type: ignore[no-any-return]


def test_a_certificate_for_another_name_is_refused(straja_factory, dot, ca) -> None:  # type: ignore[no-untyped-def]
    s = straja_factory(_config(ca, [dot.url("wrong.test.example")]))
    assert s.query("www.example.test").rcode() == dns.rcode.SERVFAIL
    log = _wait_log(s, "certificate verification failed")
    assert "certificate verification failed" in log
    assert "www.example.test" not in dot.log.read_text()


def test_an_expired_certificate_is_refused(straja_factory, tmp_path, ca) -> None:  # type: ignore[no-untyped-def]
    workdir = tmp_path / "expired"
    workdir.mkdir()
    old = DotUnbound(workdir, ca, host="127.0.0.9", expired=True).start()
    try:
        s = straja_factory(_config(ca, [old.url()]))
        assert s.query("www.example.test").rcode() == dns.rcode.SERVFAIL
        log = _wait_log(s, "certificate has expired")
        assert "certificate has expired" in log
    finally:
        old.stop()


def test_pins_replace_the_ca_and_a_wrong_pin_is_refused(straja_factory, dot, tmp_path) -> None:  # type: ignore[no-untyped-def]
    s = straja_factory({"upstreams": [{"url": dot.url(), "pin": dot.pin}]})
    assert _a(s.query("www.example.test")) == ["192.0.2.10"]
    (tmp_path / "other-ca").mkdir()
    other = CertAuthority(tmp_path / "other-ca")
    _, _, wrong = other.leaf("unused", "127.0.0.1")
    s2 = straja_factory({"upstreams": [{"url": dot.url(), "pin": wrong}]})
    assert s2.query("www.example.test").rcode() == dns.rcode.SERVFAIL
    assert "matches no pinned key" in _wait_log(s2, "matches no pinned key")


@pytest.mark.parametrize(("snippet", "message"), [
    ("upstreams: ['quic://9.9.9.9']", "is not one of udp://"),
    ("upstreams: ['https://dns.quad9.net/dns-query']", "upstream_bootstrap"),
    ("upstreams: [{url: 'tls://9.9.9.9:853', pin: 'md5/abc'}]", "is not sha256/"),
    ("upstreams: [{url: 'tls://9.9.9.9:853', colour: red}]", "unknown key 'colour'"),
    ("upstreams: ['tcp://dns.example:53']", "is not an IP address"),
    ("upstreams: ['tls://9.9.9.9']\nupstream_tls: {ca_file: /nonexistent.pem}", "ca_file"),
    ("upstreams: ['9.9.9.9']\nupstream_strategy: random", "is not one of: failover"),
])
def test_bad_upstream_config_names_the_key(snippet: str, message: str) -> None:
    with pytest.raises(ConfigError) as exc:
        load_config_text(snippet + "\n", "straja.yaml")
    assert message in str(exc.value)
    assert "upstream" in str(exc.value)


def test_upstream_forms_parse() -> None:
    cfg = load_config_text(
        "upstreams:\n"
        "  - 9.9.9.9\n"
        "  - tcp://9.9.9.9:53\n"
        "  - tls://9.9.9.9:853#dns.quad9.net\n"
        "  - https://dns.quad9.net/dns-query\n"
        "upstream_bootstrap: [9.9.9.9, '2620:fe::fe']\n", "straja.yaml")
    assert [str(u) for u in cfg.upstreams] == [
        "9.9.9.9:53", "tcp://9.9.9.9:53", "tls://9.9.9.9:853#dns.quad9.net",
        "https://dns.quad9.net/dns-query"]
    assert cfg.upstreams[3].host == "9.9.9.9" and cfg.upstreams[3].name == "dns.quad9.net"
    assert cfg.upstreams[3].bootstrap == ("9.9.9.9", "2620:fe::fe")
    assert TLS_NAME  # the tests' own TLS name is a .example name, never a real one


def test_round_robin_takes_the_upstreams_in_turn(straja_factory, tmp_path) -> None:  # type: ignore[no-untyped-def]
    from tests.servers import Unbound

    ups = []
    for host in ("127.0.0.10", "127.0.0.11"):
        workdir = tmp_path / host
        workdir.mkdir()
        ups.append(Unbound(workdir, host=host, extra=["  log-queries: yes"]).start())
    try:
        s = straja_factory({"upstreams": [u.address for u in ups],
                            "upstream_strategy": "round_robin", "cache": {"max_entries": 0}})
        for i in range(6):
            s.query(f"n{i}.example.test")
        deadline = time.monotonic() + 15  # Unbound writes its log lines a little later
        while True:
            seen = [sum(f"n{i}.example.test" in u.log.read_text() for i in range(6))
                    for u in ups]
            if sum(seen) == 6 or time.monotonic() > deadline:
                break
            time.sleep(0.3)
        assert seen == [3, 3]
    finally:
        for u in ups:
            u.stop()


def test_stats_and_metrics_show_each_upstreams_latency_and_errors(  # type: ignore[no-untyped-def]
    straja_factory, dot, ca
) -> None:
    import subprocess

    from admin.config import load_config
    from tests.servers import straja_cmd, straja_env
    from tests.test_metrics import scrape, value

    s = straja_factory(_config(ca, [dot.url(), dot.url("wrong.test.example")],
                               upstream_strategy="round_robin"))
    for i in range(4):
        s.query(f"n{i}.example.test")
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        out = subprocess.run(straja_cmd("stats", "--config", str(s.config_path)),
                             capture_output=True, text=True, env=straja_env()).stdout
        if "mean" in out and "certificate verification failed" in out:
            break
        time.sleep(0.5)
    assert f"upstream {dot.url()}" in out and "mean" in out, out
    assert "last error:" in out and "certificate verification failed" in out, out
    _, samples = scrape(s)
    name = "straja_upstream_request_duration_seconds_count"
    assert value(samples, name, upstream=dot.url()) >= 2
    assert load_config(s.config_path).upstreams[0].scheme == "tls"
