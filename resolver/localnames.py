"""Names answered here, never sent upstream: local records, a hosts file, the special-use
names (RFC 6761, RFC 8375, ICANN's `.internal`) and the private reverse zones of RFC 6303.

Precedence, highest first: `local_records` and `local_hosts` (their automatic PTRs too),
then `forward:` (a forwarded domain is never answered from the special-use table), then the
special-use and RFC 6303 names. The policy decides before any of this, so the mandatory
tier still blocks a local name.

Everything is built once per config (or hosts file change) into a dict keyed by the
lowercase wire name, so a lookup is a few dict probes and only ever runs on a cache miss.
"""

from __future__ import annotations

import ipaddress
import logging
import os
import shlex
import struct
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from resolver import wire
from resolver.settings import HostPort
from resolver.upstream_spec import UpstreamSpec, parse_upstream

log = logging.getLogger("straja.localnames")

_RR = struct.Struct("!HHIH")  # type, class, ttl, rdlength (after the owner name)

DEFAULT_TTL = 300
HOSTS_TTL = 300
# The SOA that locally answered empty zones carry in their negative answers (RFC 6303 §3).
NEGATIVE_TTL = 10800

# Special-use domains answered here unless a `forward:` covers them: RFC 6761 (`localhost`,
# `invalid`, `local` is mDNS's), RFC 8375 (`home.arpa`), ICANN's `internal`, and `lan`, the
# suffix OpenWrt and many home routers hand out, which is not a TLD and must not leak.
SPECIAL_USE = ("lan", "home.arpa", "local", "internal", "localhost", "invalid",
               "resolver.arpa")  # RFC 9462: answered here; DDR records when dns.ddr is on

# RFC 6303 §4 (and RFC 7793 for 100.64/10): reverse zones of private and special addresses.
RFC6303_ZONES = (
    "10.in-addr.arpa",
    *(f"{n}.172.in-addr.arpa" for n in range(16, 32)),
    "168.192.in-addr.arpa",
    *(f"{n}.100.in-addr.arpa" for n in range(64, 128)),
    "0.in-addr.arpa",
    "127.in-addr.arpa",
    "254.169.in-addr.arpa",
    "2.0.192.in-addr.arpa",
    "100.51.198.in-addr.arpa",
    "113.0.203.in-addr.arpa",
    "255.255.255.255.in-addr.arpa",
    "0." * 32 + "ip6.arpa",
    "1." + "0." * 31 + "ip6.arpa",
    "d.f.ip6.arpa",
    "8.e.f.ip6.arpa",
    "9.e.f.ip6.arpa",
    "a.e.f.ip6.arpa",
    "b.e.f.ip6.arpa",
    "8.b.d.0.1.0.0.2.ip6.arpa",
)

_LOOPBACK = {wire.TYPE_A: ipaddress.IPv4Address("127.0.0.1").packed,
             wire.TYPE_AAAA: ipaddress.IPv6Address("::1").packed}
_TYPES = {"A": wire.TYPE_A, "AAAA": wire.TYPE_AAAA, "CNAME": wire.TYPE_CNAME,
          "TXT": wire.TYPE_TXT, "PTR": wire.TYPE_PTR}


class LocalRecordError(ValueError):
    """A `local_records` line or hosts file line that cannot be used; says which and why."""


def normalise_domain(text: str) -> str:
    """A domain as config writes it, in lowercase without the trailing dot."""
    name = text.strip().rstrip(".").lower()
    if not name:
        raise ValueError("the domain is empty")
    try:
        wire.text_to_name(name)
    except wire.WireError:
        raise ValueError(f"{text!r} is not a domain name") from None
    return name


@dataclass(slots=True)
class ForwardRule:
    """One `forward:` entry: queries for `domain` and below go to `upstreams`."""

    domain: str = field(default="", metadata={"parse": normalise_domain})
    upstreams: list[UpstreamSpec] = field(default_factory=list,
                                          metadata={"parse": parse_upstream})

    def validate(self) -> None:
        if not self.domain:
            raise ValueError("domain is missing, e.g. {domain: school.lan, upstreams: "
                             "[\"192.168.1.1:53\"]}")
        if not self.upstreams:
            raise ValueError(f"forward for {self.domain} names no upstreams")


@dataclass(frozen=True, slots=True)
class LocalAnswer:
    """What a locally answered name gets: an rcode, answer and authority records (each a
    whole RR in wire form, owners uncompressed), their TTLs, and for a CNAME to a name we
    do not hold, the target to resolve upstream."""

    rcode: int
    answers: tuple[tuple[bytes, int], ...] = ()  # (RR bytes, offset of its TTL field)
    authority: tuple[tuple[bytes, int], ...] = ()
    ttl: int = DEFAULT_TTL
    chase: bytes | None = None  # a CNAME target outside local data, to resolve upstream
    source: str = ""  # where the answer came from, for `straja check`


def _rr(owner: bytes, rtype: int, ttl: int, rdata: bytes) -> tuple[bytes, int]:
    return owner + _RR.pack(rtype, wire.CLASS_IN, ttl, len(rdata)) + rdata, len(owner) + 4


def _rdata(rtype: int, value: str, where: str) -> bytes:
    try:
        if rtype == wire.TYPE_A:
            return ipaddress.IPv4Address(value).packed
        if rtype == wire.TYPE_AAAA:
            return ipaddress.IPv6Address(value).packed
        if rtype in (wire.TYPE_CNAME, wire.TYPE_PTR):
            return wire.text_to_name(normalise_domain(value))
    except ValueError as exc:
        raise LocalRecordError(f"{where}: {value!r} is not valid data for this type: {exc}"
                               ) from None
    raise AssertionError(rtype)


def _txt_rdata(parts: Sequence[str]) -> bytes:
    out = bytearray()
    for part in parts:
        raw = part.encode("utf-8")
        for i in range(0, max(len(raw), 1), 255):
            chunk = raw[i : i + 255]
            out.append(len(chunk))
            out += chunk
    return bytes(out)


@dataclass(frozen=True, slots=True)
class Record:
    owner: str  # lowercase, no trailing dot
    rtype: int
    ttl: int
    rdata: bytes


def parse_record(line: str, where: str = "local_records") -> Record:
    """One zone-file line: `name [ttl] [IN] type data`, e.g.
    `printer.school.lan. 300 A 192.168.1.20`."""
    try:
        tokens = shlex.split(line, comments=True)
    except ValueError as exc:
        raise LocalRecordError(f"{where}: {line!r}: {exc}") from None
    if len(tokens) < 3:
        raise LocalRecordError(f"{where}: {line!r} is not `name [ttl] type data`, e.g. "
                               "\"printer.school.lan. 300 A 192.168.1.20\"")
    try:
        owner = normalise_domain(tokens[0])
    except ValueError as exc:
        raise LocalRecordError(f"{where}: {exc}") from None
    rest = tokens[1:]
    ttl = DEFAULT_TTL
    if rest and rest[0].isdigit():
        ttl = int(rest.pop(0))
        if ttl > 0x7FFFFFFF:
            raise LocalRecordError(f"{where}: TTL {ttl} is larger than 2^31 - 1")
    if rest and rest[0].upper() == "IN":
        rest.pop(0)
    if len(rest) < 2:
        raise LocalRecordError(f"{where}: {line!r} has no data after its type")
    type_text = rest[0].upper()
    rtype = _TYPES.get(type_text)
    if rtype is None:
        raise LocalRecordError(f"{where}: type {rest[0]!r} is not supported here; use one of "
                               + ", ".join(_TYPES))
    if rtype == wire.TYPE_TXT:
        return Record(owner, rtype, ttl, _txt_rdata(rest[1:]))
    if len(rest) != 2:
        raise LocalRecordError(f"{where}: {type_text} takes one value, got {rest[1:]}")
    return Record(owner, rtype, ttl, _rdata(rtype, rest[1], where))


def read_hosts(text: str, where: str) -> tuple[list[Record], list[str]]:
    """Records from an /etc/hosts-style text: A/AAAA for every name of a line and a PTR to
    its first name. Unusable lines are skipped and described (a hosts file is not ours to
    refuse whole)."""
    records: list[Record] = []
    problems: list[str] = []
    for number, raw in enumerate(text.splitlines(), 1):
        line = raw.split("#", 1)[0].split()
        if not line:
            continue
        try:
            address = ipaddress.ip_address(line[0].split("%", 1)[0])
        except ValueError:
            problems.append(f"{where}:{number}: {line[0]!r} is not an IP address")
            continue
        names = []
        for text_name in line[1:]:
            try:
                names.append(normalise_domain(text_name))
            except ValueError:
                problems.append(f"{where}:{number}: {text_name!r} is not a host name")
        rtype = wire.TYPE_A if address.version == 4 else wire.TYPE_AAAA
        records += [Record(name, rtype, HOSTS_TTL, address.packed) for name in names]
        if names:
            records.append(Record(_reverse_name(address), wire.TYPE_PTR, HOSTS_TTL,
                                  wire.text_to_name(names[0])))
    return records, problems


def _reverse_name(address: ipaddress.IPv4Address | ipaddress.IPv6Address) -> str:
    return address.reverse_pointer.lower()


def _tld(name: bytes) -> bytes:
    """The last label of a wire name (b"" for the root)."""
    last = b""
    i = 0
    while i < len(name) and name[i]:
        last = name[i + 1 : i + 1 + name[i]]
        i += 1 + name[i]
    return last


def _suffixes(name: bytes) -> Iterable[bytes]:
    """The wire name and each of its parents, longest first, down to the TLD."""
    i = 0
    while i < len(name) and name[i]:
        yield name[i:]
        i += 1 + name[i]


class LocalNames:
    """The local answers and the forwarded domains of one config."""

    def __init__(self, records: Sequence[Record], forwarded: Iterable[str] = (),
                 hosts_records: Sequence[Record] = ()) -> None:
        # name -> type -> [(ttl, rdata)]
        self.data: dict[bytes, dict[int, list[tuple[int, bytes]]]] = {}
        self.sources: dict[bytes, str] = {}
        explicit_ptr = {r.owner for r in records if r.rtype == wire.TYPE_PTR}
        for source, group in (("local_records", records), ("local_hosts", hosts_records)):
            for record in group:
                self._add(record, source)
            for record in group:
                if record.rtype in (wire.TYPE_A, wire.TYPE_AAAA):
                    address = ipaddress.ip_address(record.rdata)
                    reverse = _reverse_name(address)
                    if reverse in explicit_ptr:
                        continue
                    explicit_ptr.add(reverse)
                    self._add(Record(reverse, wire.TYPE_PTR, record.ttl,
                                     wire.text_to_name(record.owner)), source)
        self.forwarded = {wire.text_to_name(d) for d in forwarded}
        self.zones: dict[bytes, str] = {}  # apex -> "special-use" or "RFC 6303"
        for zone in SPECIAL_USE:
            self.zones[wire.text_to_name(zone)] = "special-use"
        for zone in RFC6303_ZONES:
            self.zones[wire.text_to_name(zone)] = "RFC 6303"
        # The top-level labels anything here lives under: most names of a cache miss are
        # under none of them, and are let through by one set lookup.
        self.tlds = frozenset(_tld(name) for name in (*self.data, *self.forwarded,
                                                      *self.zones))

    def _add(self, record: Record, source: str) -> None:
        owner = wire.text_to_name(record.owner)
        types = self.data.setdefault(owner, {})
        mixed = any(t != wire.TYPE_CNAME for t in types) if record.rtype == wire.TYPE_CNAME \
            else wire.TYPE_CNAME in types
        if mixed:
            raise LocalRecordError(f"{source}: {record.owner} has a CNAME and other records; "
                                   "a CNAME must stand alone (RFC 1034 §3.6.2)")
        rrs = types.setdefault(record.rtype, [])
        if all(rdata != record.rdata for _, rdata in rrs):
            rrs.append((record.ttl, record.rdata))
        self.sources.setdefault(owner, source)

    def __bool__(self) -> bool:
        return True

    def answer(self, qname: bytes, qtype: int, tld: bytes | None = None) -> LocalAnswer | None:
        """The local answer for a lowercase wire name (`tld`: its last label, when the
        caller has it), or None to resolve it upstream."""
        if (_tld(qname) if tld is None else tld) not in self.tlds:
            return None
        found = self._from_data(qname, qtype)
        if found is not None:
            return found
        for suffix in _suffixes(qname):
            if suffix in self.forwarded:
                return None
            kind = self.zones.get(suffix)
            if kind is not None:
                return self._special(qname, qtype, suffix, kind)
        return None

    def _from_data(self, qname: bytes, qtype: int) -> LocalAnswer | None:
        types = self.data.get(qname)
        if types is None:
            return None
        source = self.sources[qname]
        answers: list[tuple[bytes, int]] = []
        name = qname
        ttls: list[int] = []
        for _ in range(8):  # a CNAME chain within local data, bounded against loops
            here = self.data.get(name)
            if here is None:
                # The chain left local data: resolve the rest upstream.
                return LocalAnswer(wire.NOERROR, tuple(answers), (), min(ttls), name, source)
            cname = here.get(wire.TYPE_CNAME)
            if cname is not None and qtype != wire.TYPE_CNAME:
                ttl, target = cname[0]
                answers.append(_rr(name, wire.TYPE_CNAME, ttl, target))
                ttls.append(ttl)
                name = target
                continue
            for ttl, rdata in here.get(qtype, ()):
                answers.append(_rr(name, qtype, ttl, rdata))
                ttls.append(ttl)
            break
        if not answers:  # the name exists, not with this type: NODATA
            zone = self._zone_of(qname)
            return LocalAnswer(wire.NOERROR, (), (self._soa(zone),), DEFAULT_TTL, None, source)
        return LocalAnswer(wire.NOERROR, tuple(answers), (), min(ttls), None, source)

    def _zone_of(self, qname: bytes) -> bytes:
        for suffix in _suffixes(qname):
            if suffix in self.zones:
                return suffix
        # A local name under a public suffix: its parent stands in as the SOA owner.
        parents = list(_suffixes(qname))
        return parents[1] if len(parents) > 1 else qname

    def _special(self, qname: bytes, qtype: int, zone: bytes, kind: str) -> LocalAnswer:
        source = f"{kind} {wire.name_to_text(zone)}"
        if zone == b"\x09localhost\x00" and qtype in _LOOPBACK:
            # RFC 6761 §6.3: localhost names are the loopback address, never asked upstream.
            rdata = _LOOPBACK[qtype]
            return LocalAnswer(wire.NOERROR, (_rr(qname, qtype, NEGATIVE_TTL, rdata),), (),
                               NEGATIVE_TTL, None, source)
        if qname == zone:
            if qtype == wire.TYPE_SOA:
                return LocalAnswer(wire.NOERROR, (self._soa(zone),), (), NEGATIVE_TTL, None,
                                   source)
            return LocalAnswer(wire.NOERROR, (), (self._soa(zone),), NEGATIVE_TTL, None,
                               source)
        rcode = wire.NOERROR if zone == b"\x09localhost\x00" else wire.NXDOMAIN
        return LocalAnswer(rcode, (), (self._soa(zone),), NEGATIVE_TTL, None, source)

    @staticmethod
    def _soa(zone: bytes) -> tuple[bytes, int]:
        # RFC 6303 §3: MNAME is the zone, RNAME nobody.invalid.
        rdata = zone + wire.text_to_name("nobody.invalid") + struct.pack(
            "!IIIII", 1, 3600, 1200, 604800, NEGATIVE_TTL
        )
        return _rr(zone, wire.TYPE_SOA, NEGATIVE_TTL, rdata)


TYPE_SVCB = 64
DDR_OWNER = "_dns.resolver.arpa"


def certificate_names(cert_file: str) -> tuple[list[str], list[str]]:
    """The DNS names and IP addresses a PEM certificate's SubjectAltName covers."""
    from cryptography import x509

    cert = x509.load_pem_x509_certificate(Path(cert_file).read_bytes())
    try:
        san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except x509.ExtensionNotFound:
        return [], []
    return (list(san.get_values_for_type(x509.DNSName)),
            [str(ip) for ip in san.get_values_for_type(x509.IPAddress)])


def ddr_records(listen: Sequence[HostPort], tls_listen: Sequence[HostPort],
                https_listen: Sequence[HostPort], cert_file: str) -> list[Record]:
    """RFC 9462 SVCB records for `_dns.resolver.arpa`: one per encrypted service, naming
    the certificate's first DNS name (or the resolver's addresses as hints)."""
    names, _ = certificate_names(cert_file)
    target = wire.text_to_name(names[0]) if names else b"\x00"
    v4 = [ipaddress.IPv4Address(a.host).packed for a in listen
          if not a.family_v6 and not ipaddress.ip_address(a.host).is_unspecified]
    v6 = [ipaddress.IPv6Address(a.host).packed for a in listen
          if a.family_v6 and not ipaddress.ip_address(a.host).is_unspecified]

    def param(key: int, value: bytes) -> bytes:
        return struct.pack("!HH", key, len(value)) + value

    def svcb(priority: int, alpn: list[bytes], port: int, dohpath: bytes | None) -> Record:
        params = param(1, b"".join(bytes((len(a),)) + a for a in alpn))
        params += param(3, struct.pack("!H", port))
        if v4:
            params += param(4, b"".join(v4))
        if v6:
            params += param(6, b"".join(v6))
        if dohpath is not None:
            params += param(7, dohpath)
        return Record(DDR_OWNER, TYPE_SVCB, DEFAULT_TTL,
                      struct.pack("!H", priority) + target + params)

    records = []
    if tls_listen:
        records.append(svcb(1, [b"dot"], tls_listen[0].port, None))
    if https_listen:
        import importlib.util

        alpn = [b"h2", b"http/1.1"] if importlib.util.find_spec("h2") else [b"http/1.1"]
        records.append(svcb(2, alpn, https_listen[0].port, b"/dns-query{?dns}"))
    return records


def ddr_problem(listen: Sequence[HostPort], cert_file: str) -> str | None:
    """Why DDR cannot be offered (clients verify that the certificate covers the address
    they asked, RFC 9462 §4.2), or None."""
    _, addresses = certificate_names(cert_file)
    covered = {ipaddress.ip_address(a) for a in addresses}
    for address in listen:
        ip = ipaddress.ip_address(address.host)
        if not ip.is_unspecified and ip not in covered:
            return (f"the certificate {cert_file} does not cover {ip}, which dns.listen "
                    "serves; clients would not verify the discovery, so add the address "
                    "to its subjectAltName or set ddr: false")
    return None


def build_local_names(records: Sequence[str], hosts_file: str | None,
                      forward: Sequence[ForwardRule],
                      extra: Sequence[Record] = ()) -> LocalNames:
    """The LocalNames of a config; raises LocalRecordError naming the bad line."""
    parsed = [parse_record(line, f"local_records[{i}]") for i, line in enumerate(records)]
    parsed += extra
    hosts: list[Record] = []
    if hosts_file:
        try:
            text = Path(hosts_file).read_text(encoding="utf-8", errors="replace")
        except OSError as exc:
            log.error("local_hosts %s cannot be read (%s); its names are not answered",
                      hosts_file, exc.strerror or exc)
        else:
            hosts, problems = read_hosts(text, hosts_file)
            for problem in problems[:10]:
                log.warning("skipped: %s", problem)
    return LocalNames(parsed, (rule.domain for rule in forward), hosts)


def file_stamp(path: str | None) -> tuple[float, int] | None:
    """What tells that a hosts file changed: its mtime and size (None when absent)."""
    if not path:
        return None
    try:
        st = os.stat(path)
    except OSError:
        return None
    return (st.st_mtime, st.st_size)
