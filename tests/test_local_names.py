"""Local names: local records, a hosts file, special-use and RFC 6303 names answered here,
and conditional forwarding, against a real Straja and real Unbounds on loopback."""

from __future__ import annotations

import time
from pathlib import Path

import dns.flags
import dns.rcode
import dns.rdatatype
import pytest

from admin.config import ConfigError, load_config_text
from tests.servers import Unbound

RECORDS = [
    "printer.school.lan. 300 A 192.168.1.20",
    "printer.school.lan. 300 AAAA fd00::20",
    "wiki.school.lan. 60 CNAME printer.school.lan.",
    "portal.school.lan. CNAME www.example.test.",
    'motd.school.lan. 120 TXT "welcome to school" "second string"',
    "20.2.168.192.in-addr.arpa. PTR board.school.lan.",
]


def _logged_unbound(tmp_path: Path, host: str, extra: list[str] = ()) -> Unbound:  # type: ignore[assignment]
    workdir = tmp_path / f"unbound-{host}"
    workdir.mkdir()
    return Unbound(workdir, host=host, extra=["  log-queries: yes", *extra]).start()


@pytest.fixture
def upstream(tmp_path: Path):  # type: ignore[no-untyped-def]
    server = _logged_unbound(tmp_path, "127.0.0.5")
    yield server
    server.stop()


@pytest.fixture
def school_dns(tmp_path: Path):  # type: ignore[no-untyped-def]
    """The school's own DNS server (a DHCP server's, say) for school.lan and its reverse zone."""
    server = _logged_unbound(tmp_path, "127.0.0.6", [
        '  local-zone: "school.lan." static',
        '  local-data: "nas.school.lan. 300 IN A 192.168.1.30"',
        '  local-zone: "168.192.in-addr.arpa." static',
        '  local-data: "30.1.168.192.in-addr.arpa. 300 IN PTR nas.school.lan."',
    ])
    yield server
    server.stop()


def _asked(server: Unbound, name: str, wait: float = 10.0) -> bool:
    """Whether `server` logged a query for `name`. Unbound writes its log a little late, so
    a positive answer is waited for; check negatives after a positive one."""
    deadline = time.monotonic() + wait
    while True:
        if name in (server.log.read_text() if server.log.exists() else ""):
            return True
        if time.monotonic() > deadline:
            return False
        time.sleep(0.2)


def _never_asked(server: Unbound, name: str) -> bool:
    return name not in (server.log.read_text() if server.log.exists() else "")


def _values(answer) -> list[str]:  # type: ignore[no-untyped-def]
    return [rd.to_text() for rrset in answer.answer for rd in rrset]


def test_local_records_are_answered_authoritatively(straja_factory, upstream) -> None:  # type: ignore[no-untyped-def]
    s = straja_factory({"upstreams": [upstream.address], "local_records": RECORDS})
    a = s.query("printer.school.lan", "A")
    assert a.rcode() == dns.rcode.NOERROR and _values(a) == ["192.168.1.20"]
    assert a.flags & dns.flags.AA
    assert _values(s.query("printer.school.lan", "AAAA")) == ["fd00::20"]
    txt = s.query("motd.school.lan", "TXT")
    assert _values(txt) == ['"welcome to school" "second string"']
    # A CNAME inside local data is followed locally.
    assert _values(s.query("wiki.school.lan", "A")) == ["printer.school.lan.", "192.168.1.20"]
    # The name exists, the type does not: NODATA with an SOA, not NXDOMAIN.
    nodata = s.query("printer.school.lan", "MX")
    assert nodata.rcode() == dns.rcode.NOERROR and not nodata.answer
    assert nodata.authority and nodata.authority[0].rdtype == dns.rdatatype.SOA
    # Automatic PTR for an A record, and an explicit PTR kept as written.
    assert _values(s.query("20.1.168.192.in-addr.arpa", "PTR")) == ["printer.school.lan."]
    assert _values(s.query("20.2.168.192.in-addr.arpa", "PTR")) == ["board.school.lan."]
    v6_reverse = "0.2." + "0." * 28 + "d.f.ip6.arpa"
    assert _values(s.query(v6_reverse, "PTR")) == ["printer.school.lan."]
    s.query("www.example.test", "A")
    assert _asked(upstream, "www.example.test")  # the log is written up to here
    assert _never_asked(upstream, "school.lan")
    assert _never_asked(upstream, "in-addr.arpa")


def test_a_local_cname_to_a_public_name_resolves_it_upstream(straja_factory, upstream) -> None:  # type: ignore[no-untyped-def]
    s = straja_factory({"upstreams": [upstream.address], "local_records": RECORDS})
    answer = s.query("portal.school.lan", "A")
    assert _values(answer) == ["www.example.test.", "192.0.2.10"]
    assert _asked(upstream, "www.example.test")
    assert _never_asked(upstream, "portal.school.lan")


def test_special_use_and_private_reverse_names_never_leave(straja_factory, upstream) -> None:  # type: ignore[no-untyped-def]
    s = straja_factory({"upstreams": [upstream.address]})
    for name in ("laptop.lan", "nas.home.arpa", "printer.local", "db.internal",
                 "anything.invalid", "7.1.168.192.in-addr.arpa", "9.0.0.10.in-addr.arpa",
                 "1.0.16.172.in-addr.arpa"):
        answer = s.query(name, "A")
        assert answer.rcode() == dns.rcode.NXDOMAIN, name
        assert answer.authority and answer.authority[0].rdtype == dns.rdatatype.SOA, name
    assert _values(s.query("localhost", "A")) == ["127.0.0.1"]
    assert _values(s.query("db.localhost", "AAAA")) == ["::1"]
    apex = s.query("home.arpa", "SOA")
    assert apex.rcode() == dns.rcode.NOERROR and apex.answer[0].rdtype == dns.rdatatype.SOA
    # A public reverse name still goes upstream.
    s.query("8.8.8.8.in-addr.arpa", "PTR")
    assert _asked(upstream, "8.8.8.8.in-addr.arpa")
    log = upstream.log.read_text()
    for leak in ("lan.", "home.arpa", "local.", "internal.", "invalid.", "168.192.in-addr",
                 "10.in-addr", "172.in-addr", "localhost"):
        assert leak not in log, leak
    counters = s.workdir / "state" / "run" / "counters-0.json"
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and '"local_answers": 0' in (
        counters.read_text() if counters.exists() else '"local_answers": 0'
    ):
        time.sleep(0.3)
    assert '"local_answers": 0' not in counters.read_text()


def test_forwarded_domains_go_to_their_own_upstreams(straja_factory, upstream, school_dns) -> None:  # type: ignore[no-untyped-def]
    s = straja_factory({
        "upstreams": [upstream.address],
        "local_records": ["printer.school.lan. 300 A 192.168.1.20"],
        "forward": [{"domain": "school.lan", "upstreams": [school_dns.address]},
                    {"domain": "168.192.in-addr.arpa", "upstreams": [school_dns.address]}],
    })
    assert _values(s.query("nas.school.lan", "A")) == ["192.168.1.30"]
    assert _values(s.query("30.1.168.192.in-addr.arpa", "PTR")) == ["nas.school.lan."]
    # Local records still come first, and their automatic PTR beats the forward.
    assert _values(s.query("printer.school.lan", "A")) == ["192.168.1.20"]
    assert _values(s.query("20.1.168.192.in-addr.arpa", "PTR")) == ["printer.school.lan."]
    # Other .lan names stay local; the school's DNS is asked only for its own domain.
    assert s.query("other.lan", "A").rcode() == dns.rcode.NXDOMAIN
    assert _asked(school_dns, "nas.school.lan")
    s.query("www.example.test", "A")
    assert _asked(upstream, "www.example.test")
    assert _never_asked(upstream, "school.lan")
    assert _never_asked(school_dns, "other.lan")
    assert _never_asked(school_dns, "printer.school.lan")


def test_the_policy_decides_before_local_answers(straja_factory, upstream) -> None:  # type: ignore[no-untyped-def]
    s = straja_factory({"upstreams": [upstream.address], "local_records": RECORDS,
                        "local": {"deny": ["printer.school.lan"]},
                        "blocking": {"action": "nxdomain"}})
    assert s.query("printer.school.lan", "A").rcode() == dns.rcode.NXDOMAIN
    assert _values(s.query("motd.school.lan", "TXT"))


def test_a_hosts_file_is_read_again_when_it_changes(straja_factory, upstream, tmp_path) -> None:  # type: ignore[no-untyped-def]
    hosts = tmp_path / "hosts"
    hosts.write_text("192.168.1.40 camera camera.school.lan\n# a comment\nnot-an-ip x\n")
    s = straja_factory({"upstreams": [upstream.address], "local_hosts": str(hosts)})
    assert _values(s.query("camera.school.lan", "A")) == ["192.168.1.40"]
    assert _values(s.query("40.1.168.192.in-addr.arpa", "PTR")) == ["camera."]
    hosts.write_text("192.168.1.41 camera.school.lan\nfd00::41 camera.school.lan\n")
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        if _values(s.query("camera.school.lan", "A")) == ["192.168.1.41"]:
            break
        time.sleep(0.3)
    assert _values(s.query("camera.school.lan", "A")) == ["192.168.1.41"]
    assert _values(s.query("camera.school.lan", "AAAA")) == ["fd00::41"]
    assert "not-an-ip" in s.read_log()


@pytest.mark.parametrize(("snippet", "message"), [
    ("local_records: ['printer.lan. 300 MX 10 mail.lan.']", "type 'MX' is not supported"),
    ("local_records: ['printer.lan. 300 A 192.168.1.300']", "local_records[0]"),
    ("local_records: ['a.lan. CNAME b.lan.', 'a.lan. A 192.0.2.1']", "a CNAME must stand alone"),
    ("forward: [{domain: school.lan}]", "names no upstreams"),
    ("forward: [{domain: school.lan, upstreams: ['host.example:53']}]", "not an IP address"),
])
def test_bad_local_names_config_names_the_key(snippet: str, message: str) -> None:
    with pytest.raises(ConfigError) as exc:
        load_config_text("upstreams: ['127.0.0.1:53']\n" + snippet + "\n", "straja.yaml")
    assert message in str(exc.value)
