"""DNS conformance: genreport's `-R -f` cases, each sent byte for byte to Straja and to an
Unbound forwarder on the same upstream, and their answers compared; then the neighbours the
issue names (FORMERR with OPT, OPT placement, opcodes, ANY)."""

from __future__ import annotations

import socket
import struct
from collections.abc import Iterator
from pathlib import Path

import dns.edns
import dns.message
import dns.query
import dns.rcode
import pytest

from tests.conformance_cases import CASES, Case, View, build, view
from tests.servers import Unbound

ZONE = b"\x04test\x00"

# Where Straja answers differently from Unbound on purpose; every other field must match.
DIFFERENCES = {
    # Unbound refuses a query with TC set as FORMERR and echoes it; Straja answers it, as
    # BIND does: TC means nothing in a query (RFC 1035 4.1.1 defines it for answers).
    "tc": "Straja answers a query whose TC bit is set",
    # Unbound answers opcode 15 with every flag bit echoed and FORMERR once other flags are
    # set; Straja says NOTIMP and echoes RD alone (no RA, no CD: it says nothing of them).
    "opcodeflg": "NOTIMP with RD alone",
}


class UnboundForwarder(Unbound):
    """A stock Unbound forwarding everything to `upstream`: the reference a new user would
    compare Straja with."""

    def __init__(self, workdir: Path, upstream: Unbound, host: str = "127.0.0.5") -> None:
        super().__init__(workdir, host)
        self.upstream = upstream

    def write_config(self) -> None:
        lines = [
            "server:", f"  interface: {self.host}", f"  port: {self.port}",
            "  do-daemonize: no", '  chroot: ""', '  username: ""',
            f'  directory: "{self.workdir}"', f'  pidfile: "{self.workdir}/unbound.pid"',
            "  use-syslog: no", f'  logfile: "{self.log}"', "  verbosity: 1", "  do-ip6: no",
            "  num-threads: 1", '  module-config: "iterator"',
            "  access-control: 127.0.0.0/8 allow", "  do-not-query-localhost: no",
            "  qname-minimisation: no", "  edns-buffer-size: 1232",
            "forward-zone:", '  name: "."',
            f"  forward-addr: {self.upstream.host}@{self.upstream.port}",
            "remote-control:", "  control-enable: no",
        ]
        self.conf.write_text("\n".join(lines) + "\n")


@pytest.fixture(scope="module")
def reference(tmp_path_factory: pytest.TempPathFactory, unbound: Unbound
              ) -> Iterator[UnboundForwarder]:
    server = UnboundForwarder(tmp_path_factory.mktemp("forwarder"), unbound).start()
    yield server
    server.stop()


def exchange(host: str, port: int, packet: bytes, tcp: bool) -> bytes:
    if tcp:
        with socket.create_connection((host, port), timeout=5) as conn:
            conn.sendall(struct.pack("!H", len(packet)) + packet)
            conn_file = conn.makefile("rb")
            length = struct.unpack("!H", conn_file.read(2))[0]
            return conn_file.read(length)
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.settimeout(5)
        sock.sendto(packet, (host, port))
        return sock.recv(65535)


def comparable(v: View) -> View:
    # AA: Unbound relays the upstream's AA bit, Straja clears it (it is not authoritative
    # for anything); the size follows (compression, OPT placement).
    return View(v.rcode, v.flags - {"aa"}, v.qdcount, v.answers, v.opt, v.opt_version,
                v.opt_flags, v.options, 0)


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_genreport_case_answers_as_unbound_does(case: Case, straja, reference) -> None:
    packet = build(case, ZONE, 0x4A4A)
    ours = view(exchange(straja.host, straja.port, packet, case.tcp))
    theirs = view(exchange(reference.host, reference.port, packet, case.tcp))
    limit = min(case.udp_size, 1232) if case.udp_size else 512
    assert case.tcp or ours.size <= limit
    if case.name not in DIFFERENCES:
        assert comparable(ours) == comparable(theirs)
    elif case.name == "tc":
        assert ours.rcode == dns.rcode.NOERROR and ours.answers == 1
    elif case.name == "opcodeflg":
        assert ours.rcode == dns.rcode.NOTIMP and ours.flags == {"qr", "rd"}


def test_opcode_15_header_only_is_notimp_not_formerr(straja) -> None:
    packet = build(Case("opcode", opcode=15, header_only=True), ZONE, 7)
    answer = view(exchange(straja.host, straja.port, packet, False))
    assert answer.rcode == dns.rcode.NOTIMP and answer.qdcount == 0


def test_notimp_to_another_opcode_sets_neither_ra_nor_cd(straja) -> None:
    packet = build(Case("x", opcode=2, header=0x0010, udp_size=1232), ZONE, 7)
    answer = view(exchange(straja.host, straja.port, packet, False))
    assert answer.rcode == dns.rcode.NOTIMP
    assert "ra" not in answer.flags and "cd" not in answer.flags
    assert answer.opt and answer.qdcount == 1


def _raw(straja, packet: bytes) -> View:
    return view(exchange(straja.host, straja.port, packet, False))


def _query(name: str = "www.example.test", opt: bool = True) -> bytes:
    return dns.message.make_query(name, "A", use_edns=0 if opt else False).to_wire()


OPT = b"\x00\x00\x29\x04\xd0\x00\x00\x00\x00\x00\x00"


def test_formerr_to_a_query_with_a_valid_opt_carries_an_opt(straja) -> None:
    two_questions = bytearray(_query())
    struct.pack_into("!H", two_questions, 4, 2)
    question = bytes(two_questions[12:-11])
    packet = bytes(two_questions[:-11]) + question + OPT
    answer = _raw(straja, packet)
    assert answer.rcode == dns.rcode.FORMERR and answer.opt and answer.opt_version == 0


def test_an_opt_not_owned_by_the_root_is_formerr(straja) -> None:
    packet = _query(opt=False)
    packet = packet[:10] + b"\x00\x01" + packet[12:] + b"\xc0\x0c" + OPT[1:]
    assert _raw(straja, packet).rcode == dns.rcode.FORMERR


def test_an_opt_in_the_answer_section_is_formerr(straja) -> None:
    packet = _query(opt=False)
    packet = packet[:6] + b"\x00\x01" + packet[8:] + OPT
    answer = _raw(straja, packet)
    assert answer.rcode == dns.rcode.FORMERR


def test_doubled_or_truncated_opts_and_option_lengths_past_the_end_are_formerr(straja) -> None:
    base = _query(opt=False)
    doubled = base[:10] + b"\x00\x02" + base[12:] + OPT + OPT
    truncated = base[:10] + b"\x00\x01" + base[12:] + OPT[:-3]
    past_end = base[:10] + b"\x00\x01" + base[12:] + OPT[:-2] + b"\x00\x06" + b"\x00\x0a\x00\x20ab"
    for packet in (doubled, truncated, past_end):
        assert _raw(straja, packet).rcode == dns.rcode.FORMERR
    assert straja.query("www.example.test", "A").rcode() == dns.rcode.NOERROR


def test_any_gets_one_synthesized_hinfo_without_asking_upstream(straja) -> None:
    answer = straja.query("www.example.test", "ANY")
    assert answer.rcode() == dns.rcode.NOERROR
    assert [rrset.rdtype for rrset in answer.answer] == [dns.rdatatype.HINFO]
    assert [rr.cpu for rr in answer.answer[0]] == [b"RFC8482"]


def test_any_for_a_blocked_name_gets_the_block_answer(straja_factory, unbound) -> None:
    s = straja_factory({"upstreams": [unbound.address],
                        "local": {"deny": ["games.example.test"]},
                        "blocking": {"action": "nxdomain"}})
    answer = s.query("games.example.test", "ANY")
    assert answer.rcode() == dns.rcode.NXDOMAIN and not answer.answer


def test_refused_outside_access_allow_is_no_larger_than_the_query(straja_factory, unbound
                                                                  ) -> None:
    s = straja_factory({"upstreams": [unbound.address], "access": {"allow": ["127.0.0.9/32"]}})
    padding = dns.edns.GenericOption(65100, b"x" * 200)
    for q in (dns.message.make_query("www.example.test", "A", use_edns=False),
              dns.message.make_query("www.example.test", "TXT", use_edns=0, payload=4096,
                                     options=[padding])):
        wire = q.to_wire()
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
            sock.bind(("127.0.0.1", 0))
            sock.settimeout(5)
            sock.sendto(wire, (s.host, s.port))
            answer = sock.recv(65535)
        assert answer[3] & 0xF == dns.rcode.REFUSED
        assert len(answer) <= len(wire)
