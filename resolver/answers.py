"""Answers Straja makes itself: for blocked names (sinkhole A/AAAA, NXDOMAIN, NODATA,
REFUSED), and for names it holds locally (see resolver.localnames).

Built as raw wire bytes with ID 0, the way the cache stores upstream answers, so a blocked
answer is cached and served exactly like any other.
"""

from __future__ import annotations

import ipaddress
import struct

from resolver import wire
from resolver.cache import Entry
from resolver.localnames import LocalAnswer
from resolver.policy import NODATA, NXDOMAIN, REFUSED, SINKHOLE

_H = struct.Struct("!HHHHHH")
_RR = struct.Struct("!HHHIH")  # name pointer, type, class, ttl, rdlength


class Sinkhole:
    """The addresses blocked A and AAAA queries point at, as rdata bytes."""

    def __init__(self, ipv4: str | None, ipv6: str | None) -> None:
        # None: that type gets NODATA (a `$dnsrewrite` may give only one of the two)
        self.a = ipaddress.IPv4Address(ipv4).packed if ipv4 else None
        self.aaaa = ipaddress.IPv6Address(ipv6).packed if ipv6 else None


def blocked_entry(
    query: wire.Query,
    action: int,
    ttl: int,
    sinkhole: Sinkhole,
    ede_code: int | None,
    ede_text: str,
    now: int,
) -> Entry:
    """The cache entry for a blocked (or rewritten: `ede_code` None, no Extended DNS Error)
    query; its lifetime is the blocking TTL."""
    rcode = wire.NOERROR
    rdata = None
    if action == SINKHOLE:
        if query.qtype == wire.TYPE_A:
            rdata = sinkhole.a
        elif query.qtype == wire.TYPE_AAAA:
            rdata = sinkhole.aaaa
    elif action == NXDOMAIN:
        rcode = wire.NXDOMAIN
    elif action == REFUSED:
        rcode = wire.REFUSED
    else:
        assert action == NODATA
    flags = wire.QR | wire.RD | wire.RA | rcode
    ancount = 1 if rdata is not None else 0
    arcount = 1 if query.has_opt else 0
    out = bytearray(_H.pack(0, flags, 1, ancount, 0, arcount))
    out += query.question
    offsets: tuple[int, ...] = ()
    ttls: tuple[int, ...] = ()
    if rdata is not None:
        offsets = (len(out) + 6,)
        ttls = (ttl,)
        out += _RR.pack(0xC00C, query.qtype, wire.CLASS_IN, ttl, len(rdata)) + rdata
    if query.has_opt:
        ede = wire.ede_option(ede_code, ede_text) if ede_code is not None else b""
        out += wire.opt_record(1232, query.do, 0, ede)
    return Entry.from_wire(bytes(out), 12 + len(query.question), offsets, ttls, now, ttl)


def local_entry(query: wire.Query, local: LocalAnswer, now: int) -> Entry:
    """The cache entry for a locally answered query (authoritative data: AA set)."""
    flags = wire.QR | wire.AA | wire.RD | wire.RA | local.rcode
    arcount = 1 if query.has_opt else 0
    out = bytearray(_H.pack(0, flags, 1, len(local.answers), len(local.authority), arcount))
    out += query.question
    offsets = []
    ttls = []
    for rr, ttl_at in (*local.answers, *local.authority):
        offsets.append(len(out) + ttl_at)
        ttls.append(struct.unpack_from("!I", rr, ttl_at)[0])
        out += rr
    if query.has_opt:
        out += wire.opt_record(1232, query.do)
    lifetime = min(ttls, default=local.ttl)
    return Entry.from_wire(bytes(out), 12 + len(query.question), offsets, ttls, now, lifetime)


ANY_TTL = 3600
_HINFO_RFC8482 = b"\x07RFC8482\x00"  # CPU "RFC8482", OS ""


def any_entry(query: wire.Query, now: int) -> Entry:
    """RFC 8482 4.2: the minimal answer to an ANY query, one synthesized HINFO record,
    made here so an ANY query never reaches an upstream (nor amplifies through us)."""
    arcount = 1 if query.has_opt else 0
    out = bytearray(_H.pack(0, wire.QR | wire.RD | wire.RA, 1, 1, 0, arcount))
    out += query.question
    offsets = (len(out) + 6,)
    out += _RR.pack(0xC00C, wire.TYPE_HINFO, wire.CLASS_IN, ANY_TTL, len(_HINFO_RFC8482))
    out += _HINFO_RFC8482
    if query.has_opt:
        out += wire.opt_record(1232, query.do)
    return Entry.from_wire(bytes(out), 12 + len(query.question), offsets, (ANY_TTL,), now,
                           ANY_TTL)


def rewritten_entry(query: wire.Query, action: int, ipv4: str | None, ipv6: str | None,
                    ttl: int, now: int) -> Entry:
    """The cache entry for a query a list's `$dnsrewrite` answers: the rcode `action`, or
    (SINKHOLE) the rewrite's addresses; no Extended DNS Error, since nothing was blocked."""
    return blocked_entry(query, action, ttl, Sinkhole(ipv4, ipv6), None, "", now)
