"""DNS wire format on raw bytes: the hot path's query parser and the answers Straja builds itself.

Nothing here builds dnslib objects; every function works on `bytes` so a cache hit costs a
header read, a dict lookup and a few slice patches.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from typing import Any

# Header flag bits (second and third byte of the header, as one 16-bit word).
QR = 0x8000
AA = 0x0400
TC = 0x0200
RD = 0x0100
RA = 0x0080
AD = 0x0020
CD = 0x0010

# RCODEs
NOERROR = 0
FORMERR = 1
SERVFAIL = 2
NXDOMAIN = 3
NOTIMP = 4
REFUSED = 5
BADVERS = 16  # extended RCODE, carried in OPT

# Types and classes we look at.
TYPE_A = 1
TYPE_NS = 2
TYPE_CNAME = 5
TYPE_SOA = 6
TYPE_PTR = 12
TYPE_MX = 15
TYPE_TXT = 16
TYPE_AAAA = 28
TYPE_SRV = 33
TYPE_DNAME = 39
TYPE_OPT = 41
TYPE_SVCB = 64
TYPE_HTTPS = 65
TYPE_HINFO = 13
TYPE_IXFR = 251
TYPE_AXFR = 252
TYPE_ANY = 255
CLASS_IN = 1
OPCODE_MASK = 0x7800

# RFC 8914 Extended DNS Error codes Straja sets itself (blocks carry theirs from policy).
EDE_STALE_ANSWER = 3
EDE_STALE_NXDOMAIN = 19
EDE_NO_REACHABLE_AUTHORITY = 22
EDE_NETWORK_ERROR = 23

DO_BIT = 0x8000  # in the OPT TTL field's low 16 bits

# Bits of Query.flags, which are part of the cache key.
KEY_OPT = 1
KEY_DO = 2
KEY_CD = 4

MIN_UDP = 512
FLAG_BYTES = tuple(bytes((i,)) for i in range(8))  # the cache key's flag byte, prebuilt

_H = struct.Struct("!HHHHHH")
_U16 = struct.Struct("!H")
_U32 = struct.Struct("!I")
_RR_FIXED = struct.Struct("!HHIH")


class WireError(Exception):
    """A packet that does not parse as DNS."""


@dataclass(slots=True)
class Query:
    """What the hot path learned from a client's query.

    `qname` is the wire-format name as the client sent it (case preserved); `key` is the
    cache key: the lowercased question section plus one byte of flags.
    """

    msg_id: int
    flags: int  # header flags word as sent
    qname: bytes  # wire format, client's case
    qtype: int
    qclass: int
    qend: int  # offset just after the question section
    has_opt: bool
    udp_size: int  # the client's advertised size (512 without OPT)
    do: bool
    edns_version: int
    question: bytes  # the question section in lowercase: what goes upstream
    key: bytes  # question + flags byte; the resolver appends its policy generation
    opt_at: int = 0  # offset of the OPT record's options, when it has any
    opt_len: int = 0
    group: Any = None  # the client's group, set by the resolver
    rewrite: bytes | None = None  # a safe-search target to answer through

    @property
    def cd(self) -> bool:
        return bool(self.flags & CD)

    def name_text(self) -> str:
        """The question name as lowercase presentation text without the trailing dot."""
        return name_to_text(self.qname).lower()


def parse_name(data: bytes, offset: int) -> tuple[bytes, int]:
    """Read an uncompressed name at `offset`; return its wire bytes and the offset after it.

    Questions never need compression, so a pointer here is a FORMERR.
    """
    start = offset
    n = len(data)
    while True:
        if offset >= n:
            raise WireError("name runs past the end of the packet")
        length = data[offset]
        if length == 0:
            offset += 1
            break
        if length > 63:
            raise WireError("compressed or invalid label in question")
        offset += 1 + length
    if offset - start > 255:
        raise WireError("name longer than 255 octets")
    if offset > n:
        raise WireError("name runs past the end of the packet")
    return data[start:offset], offset


def skip_name(data: bytes, offset: int) -> int:
    """Return the offset after a possibly compressed name starting at `offset`."""
    n = len(data)
    while True:
        if offset >= n:
            raise WireError("name runs past the end of the packet")
        length = data[offset]
        if length == 0:
            return offset + 1
        if length & 0xC0 == 0xC0:
            if offset + 2 > n:
                raise WireError("compression pointer runs past the end of the packet")
            return offset + 2
        if length > 63:
            raise WireError("invalid label type")
        offset += 1 + length


def check_name(data: bytes, offset: int) -> int:
    """Walk a possibly compressed name in an upstream answer; return the offset after it.

    Every pointer must point backwards, to an earlier offset than its own, as compression
    always does: that makes loops impossible, and a pointer past the end (0xFFFF) or into
    itself is a WireError. The whole name must fit in 255 octets.
    """
    n = len(data)
    end = -1
    total = 0
    limit = offset  # a pointer must land before the first byte of this name
    while True:
        if offset >= n:
            raise WireError("name runs past the end of the packet")
        length = data[offset]
        if length == 0:
            return offset + 1 if end < 0 else end
        if length & 0xC0 == 0xC0:
            if offset + 2 > n:
                raise WireError("compression pointer runs past the end of the packet")
            target = ((length & 0x3F) << 8) | data[offset + 1]
            if target >= limit:
                raise WireError("bad compression pointer (not to an earlier name)")
            if end < 0:
                end = offset + 2
            offset = limit = target
            continue
        if length > 63:
            raise WireError("invalid label type")
        total += length + 1
        if total > 254:
            raise WireError("name longer than 255 octets")
        offset += 1 + length


# Record types whose rdata holds names, and where each name starts: compression inside
# rdata is allowed for these (RFC 3597 4), so their names are walked too.
_RDATA_NAMES = {
    TYPE_NS: (0,), TYPE_CNAME: (0,), TYPE_PTR: (0,), TYPE_DNAME: (0,), 7: (0,), 8: (0,),
    9: (0,), TYPE_MX: (2,), TYPE_SRV: (6,), TYPE_SVCB: (2,), TYPE_HTTPS: (2,),
}


def _check_rdata_names(data: bytes, rtype: int, rdata: int, end: int) -> None:
    if rtype == TYPE_SOA:
        if check_name(data, check_name(data, rdata)) + 20 != end:
            raise WireError("SOA record has a bad length")
        return
    starts = _RDATA_NAMES.get(rtype)
    if starts is not None:
        for start in starts:
            if rdata + start >= end or check_name(data, rdata + start) > end:
                raise WireError(f"a name in a type {rtype} record runs past its data")


def read_name(data: bytes, offset: int) -> bytes:
    """Read a possibly compressed name into uncompressed lowercase wire bytes."""
    out = bytearray()
    jumps = 0
    n = len(data)
    while True:
        if offset >= n:
            raise WireError("name runs past the end of the packet")
        length = data[offset]
        if length == 0:
            out.append(0)
            break
        if length & 0xC0 == 0xC0:
            if offset + 2 > n:
                raise WireError("compression pointer runs past the end of the packet")
            jumps += 1
            if jumps > 64:
                raise WireError("compression loop")
            offset = ((length & 0x3F) << 8) | data[offset + 1]
            continue
        if length > 63:
            raise WireError("invalid label type")
        out += data[offset : offset + 1 + length]
        offset += 1 + length
        if len(out) > 255:
            raise WireError("name longer than 255 octets")
    return bytes(out).lower()


def name_to_text(wire: bytes) -> str:
    """Presentation form of an uncompressed wire name ("" for the root)."""
    labels = []
    i = 0
    while i < len(wire) and wire[i]:
        ln = wire[i]
        labels.append(wire[i + 1 : i + 1 + ln].decode("ascii", "backslashreplace"))
        i += 1 + ln
    return ".".join(labels)


def name_labels(wire: bytes) -> list[bytes]:
    """The labels of an uncompressed wire name, from the TLD down (what list lookups take)."""
    labels = []
    i = 0
    while i < len(wire) and wire[i]:
        ln = wire[i]
        labels.append(wire[i + 1 : i + 1 + ln])
        i += 1 + ln
    labels.reverse()
    return labels


def text_to_name(text: str) -> bytes:
    """Wire form of a presentation name (ASCII, no escapes)."""
    text = text.rstrip(".")
    if not text:
        return b"\x00"
    out = bytearray()
    for label in text.split("."):
        raw = label.encode("ascii")
        if not raw or len(raw) > 63:
            raise WireError(f"invalid label in {text!r}")
        out.append(len(raw))
        out += raw
    out.append(0)
    return bytes(out)


def parse_query(data: bytes) -> Query:
    """Parse a client query. Raises WireError for anything that is not one well-formed question.

    The caller has already checked that the header is at least 12 bytes and QR is 0.
    """
    msg_id, flags, qdcount, ancount, nscount, arcount = _H.unpack_from(data)
    if qdcount != 1:
        raise WireError("a query must carry exactly one question")
    qname, off = parse_name(data, 12)
    if off + 4 > len(data):
        raise WireError("question is truncated")
    qtype, qclass = struct.unpack_from("!HH", data, off)
    qend = off + 4
    has_opt = False
    udp_size = MIN_UDP
    do = False
    version = 0
    opt_at = opt_len = 0
    # Answer and authority records in a query are unusual (UPDATE, NOTIFY): skipped over on
    # the way to a possible OPT.
    off = qend
    first_additional = ancount + nscount
    for index in range(ancount + nscount + arcount):
        owner = off
        off = skip_name(data, off)
        if off + 10 > len(data):
            raise WireError("resource record is truncated")
        rtype, rclass, ttl, rdlen = _RR_FIXED.unpack_from(data, off)
        off += 10 + rdlen
        if off > len(data):
            raise WireError("resource record data is truncated")
        if rtype == TYPE_OPT:
            # RFC 6891 6.1.1: one OPT, owned by the root, in the additional section
            if has_opt:
                raise WireError("more than one OPT record")
            if index < first_additional:
                raise WireError("an OPT record outside the additional section")
            if data[owner] != 0:
                raise WireError("an OPT record not owned by the root")
            has_opt = True
            udp_size = max(rclass, MIN_UDP)
            version = (ttl >> 16) & 0xFF
            do = bool(ttl & DO_BIT)
            opt_at = off - rdlen
            opt_len = rdlen
            if rdlen:
                check_options(data, opt_at, rdlen)
    kflags = (KEY_OPT if has_opt else 0) | (KEY_DO if do else 0) | (KEY_CD if flags & CD else 0)
    # Only the name is case-insensitive: lowercasing the type and class bytes would turn
    # HTTPS (65, "A") into 97 ("a").
    question = data[12 : qend - 4].lower() + data[qend - 4 : qend]
    return Query(
        msg_id, flags, qname, qtype, qclass, qend, has_opt, udp_size, do, version, question,
        question + FLAG_BYTES[kflags], opt_at, opt_len,
    )


def opt_record(udp_size: int, do: bool, ext_rcode: int = 0, options: bytes = b"") -> bytes:
    """An OPT pseudo-record (RFC 6891) with EDNS version 0."""
    ttl = (ext_rcode << 24) | (DO_BIT if do else 0)
    return b"\x00" + struct.pack("!HHIH", TYPE_OPT, udp_size, ttl, len(options)) + options


def ede_option(code: int, text: str = "") -> bytes:
    """An RFC 8914 Extended DNS Error option (code 15) for an OPT record."""
    body = struct.pack("!H", code) + text.encode("utf-8")
    return struct.pack("!HH", 15, len(body)) + body


def error_response(
    data: bytes, rcode: int, query: Query | None, udp_size: int, ede: bytes = b""
) -> bytes:
    """A header-only answer (with the question when we could read it) carrying `rcode`.

    Used for REFUSED, FORMERR, SERVFAIL, NOTIMP and BADVERS. An OPT is added only when
    the query carried one, as RFC 6891 requires.
    """
    msg_id = _U16.unpack_from(data)[0]
    qflags = _U16.unpack_from(data, 2)[0]
    flags = QR | (qflags & (OPCODE_MASK | RD | CD)) | RA | (rcode & 0xF)
    if query is None:
        return _H.pack(msg_id, flags, 0, 0, 0, 0)
    arcount = 1 if query.has_opt else 0
    out = _H.pack(msg_id, flags, 1, 0, 0, arcount) + data[12 : query.qend]
    if query.has_opt:
        out += opt_record(udp_size, query.do, rcode >> 4, ede)
    return out


def salvage_response(data: bytes, rcode: int, udp_size: int) -> bytes:
    """The answer to a query `parse_query` refused (FORMERR) or whose opcode we do not
    implement (NOTIMP), built from what of it can still be read.

    The question is echoed when there is exactly one and it parses; an OPT is added when
    the query carried one valid OPT (RFC 6891 7: a FORMERR to a query with a valid OPT
    carries an OPT). Answers to another opcode set neither RA nor CD: they say nothing
    about recursion or validation, and only RD and the opcode are echoed.
    """
    msg_id, qflags, qdcount = struct.unpack_from("!HHH", data)
    opcode = qflags & OPCODE_MASK
    flags = QR | opcode | (qflags & RD) | (rcode & 0xF)
    if not opcode:
        flags |= RA | (qflags & CD)
    question = b""
    if qdcount == 1:
        try:
            _, qend = parse_name(data, 12)
            if qend + 4 <= len(data):
                question = data[12 : qend + 4]
        except WireError:
            question = b""
    opt = _valid_opt(data)
    out = _H.pack(msg_id, flags, 1 if question else 0, 0, 0, 1 if opt is not None else 0)
    out += question
    if opt is not None:
        out += opt_record(udp_size, opt, rcode >> 4)
    return out


def _valid_opt(data: bytes) -> bool | None:
    """The DO bit of the query's one valid OPT record, or None when it has none (or the
    records cannot be walked to find it)."""
    try:
        _, _, qd, an, ns, ar = _H.unpack_from(data)
        off = 12
        for _ in range(qd):
            off = skip_name(data, off) + 4
        found: bool | None = None
        for index in range(an + ns + ar):
            owner = off
            off = skip_name(data, off)
            if off + 10 > len(data):
                return None
            rtype, _rclass, ttl, rdlen = _RR_FIXED.unpack_from(data, off)
            off += 10 + rdlen
            if off > len(data):
                return None
            if rtype == TYPE_OPT:
                if found is not None or index < an + ns or data[owner] != 0:
                    return None
                if rdlen:
                    check_options(data, off - rdlen, rdlen)
                found = bool(ttl & DO_BIT)
        return found
    except (WireError, struct.error):
        return None


def check_options(data: bytes, at: int, length: int) -> None:
    """Raise WireError unless the OPT rdata at `at` is a whole number of options."""
    end = at + length
    while at < end:
        if at + 4 > end:
            raise WireError("an EDNS option header runs past the end of the OPT record")
        size = _U16.unpack_from(data, at + 2)[0]
        at += 4 + size
        if at > end:
            raise WireError("an EDNS option's length runs past the end of the OPT record")


def add_ede(response: bytes, code: int, text: str = "") -> bytes:
    """`response` with an Extended DNS Error added to its OPT, when it ends with an OPT
    without options (the shape of every answer Straja renders for an OPT query)."""
    if len(response) < 23 or response[-11:-8] != b"\x00\x00\x29" or response[-2:] != b"\x00\x00":
        return response
    option = ede_option(code, text)
    return response[:-2] + _U16.pack(len(option)) + option


def truncated_response(response: bytes, query: Query, udp_size: int) -> bytes:
    """The answer a UDP client gets when `response` does not fit: header, question, TC=1."""
    flags = _U16.unpack_from(response, 2)[0] | TC
    arcount = 1 if query.has_opt else 0
    out = _H.pack(query.msg_id, flags, 1, 0, 0, arcount) + response[12 : query.qend]
    if query.has_opt:
        out += opt_record(udp_size, query.do)
    return out


@dataclass(slots=True)
class ParsedAnswer:
    """What the slow path learns from an upstream answer, walking its records once."""

    rcode: int
    flags: int
    body: bytes  # the records after the question, OPT removed
    ancount: int
    nscount: int
    arcount: int  # without OPT
    ttl_offsets: list[int]  # offsets of TTL fields, relative to the start of `body`
    min_ttl: int | None  # smallest TTL in the answer section (None when empty)
    negative_ttl: int | None  # RFC 2308: min(SOA TTL, SOA MINIMUM) from authority
    targets: list[bytes]  # CNAME/DNAME/HTTPS/SVCB target names, lowercase wire
    ext_rcode: int


def parse_answer(data: bytes, qend: int) -> ParsedAnswer:
    """Walk an upstream answer whose question section ends at `qend`.

    Every name is checked (owners, and the names inside rdata of the types that hold
    them) before anything of the answer may be cached or relayed: a WireError means the
    client gets a SERVFAIL instead."""
    _, flags, qd, an, ns, ar = _H.unpack_from(data)
    off = qend
    n = len(data)
    kept: list[bytes] = []
    ttl_offsets: list[int] = []
    targets: list[bytes] = []
    min_ttl: int | None = None
    negative_ttl: int | None = None
    ext_rcode = 0
    body_len = 0
    kept_ar = 0
    for index in range(an + ns + ar):
        start = off
        off = check_name(data, off)
        if off + 10 > n:
            raise WireError("resource record is truncated")
        rtype, _rclass, ttl, rdlen = _RR_FIXED.unpack_from(data, off)
        ttl_pos = off + 4
        rdata = off + 10
        off = rdata + rdlen
        if off > n:
            raise WireError("resource record data is truncated")
        _check_rdata_names(data, rtype, rdata, off)
        if rtype == TYPE_OPT:
            ext_rcode = (ttl >> 24) & 0xFF
            continue
        if ttl & 0x80000000:
            ttl = 0  # RFC 2181 8: a TTL with the top bit set is zero
        section = 0 if index < an else (1 if index < an + ns else 2)
        if section == 0:
            min_ttl = ttl if min_ttl is None else min(min_ttl, ttl)
            if rtype in (TYPE_CNAME, TYPE_DNAME):
                targets.append(read_name(data, rdata))
            elif rtype in (TYPE_HTTPS, TYPE_SVCB) and rdlen > 2:
                target = read_name(data, rdata + 2)
                if target != b"\x00":
                    targets.append(target)
        elif section == 1 and rtype == TYPE_SOA:
            soa_min = _soa_minimum(data, rdata)
            negative_ttl = min(ttl, soa_min)
        else:
            if section == 2:
                kept_ar += 1
        ttl_offsets.append(body_len + (ttl_pos - start))
        chunk = data[start:off]
        kept.append(chunk)
        body_len += len(chunk)
    if off != n:
        raise WireError("bytes after the last record")
    return ParsedAnswer(
        rcode=flags & 0xF,
        flags=flags,
        body=b"".join(kept),
        ancount=an,
        nscount=ns,
        arcount=kept_ar,
        ttl_offsets=ttl_offsets,
        min_ttl=min_ttl,
        negative_ttl=negative_ttl,
        targets=targets,
        ext_rcode=ext_rcode,
    )


def _soa_minimum(data: bytes, rdata: int) -> int:
    off = skip_name(data, rdata)
    off = skip_name(data, off)
    if off + 20 > len(data):
        raise WireError("SOA record is truncated")
    return int(_U32.unpack_from(data, off + 16)[0])


def edns_options(data: bytes, at: int, length: int) -> list[tuple[int, bytes]]:
    """The (code, value) pairs of an OPT record's options (slow path only)."""
    out = []
    end = at + length
    while at + 4 <= end:
        code, size = struct.unpack_from("!HH", data, at)
        at += 4
        if at + size > end:
            break
        out.append((code, data[at : at + size]))
        at += size
    return out
