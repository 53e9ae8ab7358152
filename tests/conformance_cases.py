"""The queries of ISC's EDNS compliance tester (genreport, DNS-Compliance-Testing) in its
full recursive mode (`-R -f`), rebuilt from its published table of flags, opcode and
options: one raw packet per case, so that every bit is exactly as the tester sends it.

In recursive mode every query sets RD and asks for the zone's SOA (DNSKEY for the two
512-byte cases), as a new user pointing genreport at a resolver would see it.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

SOA, DNSKEY = 6, 48

NSID = b"\x00\x03\x00\x00"
ECS = b"\x00\x08\x00\x04\x00\x01\x00\x00"
EXPIRE = b"\x00\x09\x00\x00"
COOKIE = b"\x00\x0a\x00\x08\x01\x02\x03\x04\x05\x06\x07\x08"
OPTION_100 = b"\x00\x64\x00\x00"


@dataclass(frozen=True)
class Case:
    name: str
    qtype: int = SOA
    udp_size: int = 0  # 0: no OPT record
    edns_flags: int = 0
    version: int = 0
    options: bytes = b""
    tcp: bool = False
    header: int = 0  # header flag bits (besides RD, which recursive mode sets)
    opcode: int = 0
    header_only: bool = False


TC, RA, CD, AD, AA, Z = 0x0200, 0x0080, 0x0010, 0x0020, 0x0400, 0x0040

CASES = [
    Case("dns"),
    Case("aa", header=AA),
    Case("ad", header=AD),
    Case("cd", header=CD),
    Case("ra", header=RA),
    Case("rd"),
    Case("tc", header=TC),
    Case("zflag", header=Z),
    Case("opcode", opcode=15, header_only=True),
    Case("opcodeflg", opcode=15, header_only=True, header=TC | RA | CD | AD | AA | Z),
    Case("type666", qtype=666),
    Case("tcp", tcp=True),
    Case("edns", udp_size=4096),
    Case("edns1", udp_size=4096, version=1),
    Case("edns@512", qtype=DNSKEY, udp_size=512, edns_flags=0x8000),
    Case("ednsopt", udp_size=4096, options=OPTION_100),
    Case("edns1opt", udp_size=4096, version=1, options=OPTION_100),
    Case("do", udp_size=4096, edns_flags=0x8000),
    Case("docd", udp_size=4096, edns_flags=0x8000, header=CD),
    Case("edns1do", udp_size=4096, edns_flags=0x8000, version=1),
    Case("ednsflags", udp_size=4096, edns_flags=0x0080),
    Case("optlist", udp_size=4096, options=NSID + ECS + EXPIRE + COOKIE),
    Case("ednsnsid", udp_size=4096, options=NSID),
    Case("ednscookie", udp_size=4096, options=COOKIE),
    Case("ednsexpire", udp_size=4096, options=EXPIRE),
    Case("ednssubnet", udp_size=4096, options=ECS),
    Case("edns1nsid", udp_size=4096, version=1, options=NSID),
    Case("edns1cookie", udp_size=4096, version=1, options=COOKIE),
    Case("edns1expire", udp_size=4096, version=1, options=EXPIRE),
    Case("edns1subnet", udp_size=4096, version=1, options=ECS),
    Case("ednstcp", qtype=DNSKEY, udp_size=512, edns_flags=0x8000, tcp=True),
]


def build(case: Case, zone: bytes, msg_id: int) -> bytes:
    """The raw query of `case` for the wire-format `zone`."""
    flags = 0x0100 | case.header | (case.opcode << 11)
    if case.header_only:
        return struct.pack("!HHHHHH", msg_id, flags, 0, 0, 0, 0)
    arcount = 1 if case.udp_size else 0
    packet = struct.pack("!HHHHHH", msg_id, flags, 1, 0, 0, arcount)
    packet += zone + struct.pack("!HH", case.qtype, 1)
    if case.udp_size:
        ttl = (case.version << 16) | case.edns_flags
        packet += b"\x00" + struct.pack("!HHIH", 41, case.udp_size, ttl, len(case.options))
        packet += case.options
    return packet


@dataclass(frozen=True)
class View:
    """What genreport looks at in an answer, as comparable values."""

    rcode: int
    flags: frozenset[str]
    qdcount: int
    answers: int
    opt: bool
    opt_version: int | None
    opt_flags: int | None  # the EDNS flags echoed (DO and anything else)
    options: tuple[int, ...]  # option codes echoed back
    size: int


FLAG_NAMES = {"qr": 0x8000, "aa": AA, "tc": TC, "rd": 0x0100, "ra": RA, "z": Z, "ad": AD,
              "cd": CD}


def view(data: bytes) -> View:
    """Read an answer with nothing but struct, so a malformed one shows as it is."""
    msg_id, flags, qd, an, ns, ar = struct.unpack_from("!HHHHHH", data)
    off = 12
    for _ in range(qd):
        off = _skip_name(data, off) + 4
    opt = False
    version = opt_flags = None
    ext = 0
    codes: list[int] = []
    for index in range(an + ns + ar):
        off = _skip_name(data, off)
        rtype, rclass, ttl, rdlen = struct.unpack_from("!HHIH", data, off)
        off += 10
        if rtype == 41 and index >= an + ns:
            opt = True
            ext = ttl >> 24
            version = (ttl >> 16) & 0xFF
            opt_flags = ttl & 0xFFFF
            at = off
            while at + 4 <= off + rdlen:
                code, size = struct.unpack_from("!HH", data, at)
                codes.append(code)
                at += 4 + size
        off += rdlen
    return View(
        rcode=(ext << 4) | (flags & 0xF),
        flags=frozenset(n for n, bit in FLAG_NAMES.items() if flags & bit),
        qdcount=qd,
        answers=an,
        opt=opt,
        opt_version=version,
        opt_flags=opt_flags,
        options=tuple(sorted(codes)),
        size=len(data),
    )


def _skip_name(data: bytes, off: int) -> int:
    while True:
        length = data[off]
        if length == 0:
            return off + 1
        if length & 0xC0 == 0xC0:
            return off + 2
        off += 1 + length
