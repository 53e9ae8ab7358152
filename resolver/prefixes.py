"""Many client prefixes in a compact file, and the longest-prefix index built from them.

The control side publishes each managed group's client networks as one immutable file,
named by the SHA-256 of its bytes (see resolver.operator_state). The layout is flat so
that loading is a few C-speed passes, not one Python parse per text line:

    magic    8 bytes   b"STRJPFX1"
    count4   u32       IPv4 records that follow
    count6   u32       IPv6 records that follow
    count4 × (u32 network address, u8 prefix length)             5 bytes each
    count6 × (u64 high half, u64 low half, u8 prefix length)     17 bytes each

all big-endian. The index keeps, per prefix length, a sorted array of network keys (the
address shifted right by the host bits) and a parallel array of group positions, so 100k
prefixes cost about 6 bytes each and a lookup is one bisect per distinct prefix length.
"""

from __future__ import annotations

import ipaddress
import socket
import struct
from array import array
from bisect import bisect_left
from collections.abc import Iterable, Sequence

from resolver.settings import IPAddress

MAGIC = b"STRJPFX1"
_HEAD = struct.Struct("!8sII")
_V4 = struct.Struct("!IB")
_V6 = struct.Struct("!QQB")

# Decoded records of one file: ([(address, prefixlen)] for IPv4, the same for IPv6)
Records = tuple[list[tuple[int, int]], list[tuple[int, int]]]
Prefix = tuple[int, int, int]  # (IP version, network address, prefix length)


class PrefixFileError(ValueError):
    """A prefix file that is truncated or not one; the message says which and why."""


def parse_prefix(text: str) -> Prefix | None:
    """A CIDR or a bare address, host bits cleared (as `ipaddress.ip_network(strict=False)`
    does, about five times faster); None when `text` is not one (a MAC address, a zone
    index, a typo: the caller's slower parser then says what it is)."""
    address, slash, length = text.partition("/")
    version, bits, family = (6, 128, socket.AF_INET6) if ":" in address else (
        4, 32, socket.AF_INET)
    try:
        value = int.from_bytes(socket.inet_pton(family, address), "big")
    except OSError:
        return None
    plen = bits
    if slash:
        if not (length.isascii() and length.isdigit()) or int(length) > bits:
            return None
        plen = int(length)
    return version, value & ~((1 << (bits - plen)) - 1), plen


def network_prefix(network: ipaddress.IPv4Network | ipaddress.IPv6Network) -> Prefix:
    return network.version, int(network.network_address), network.prefixlen


def encode_prefixes(prefixes: Iterable[Prefix]) -> bytes:
    """The file's bytes for `prefixes` (sorted and deduplicated, so equal sets give equal
    files and therefore equal names)."""
    unique = set(prefixes)
    v4 = sorted((addr, plen) for version, addr, plen in unique if version == 4)
    v6 = sorted((addr, plen) for version, addr, plen in unique if version == 6)
    parts = [_HEAD.pack(MAGIC, len(v4), len(v6))]
    parts.extend(_V4.pack(addr, plen) for addr, plen in v4)
    parts.extend(_V6.pack(addr >> 64, addr & 0xFFFFFFFFFFFFFFFF, plen) for addr, plen in v6)
    return b"".join(parts)


def decode_prefixes(data: bytes, source: str) -> Records:
    """The records of a prefix file; raises PrefixFileError naming `source`."""
    if len(data) < _HEAD.size:
        raise PrefixFileError(f"{source}: truncated: {len(data)} bytes is shorter than the header")
    magic, count4, count6 = _HEAD.unpack_from(data)
    if magic != MAGIC:
        raise PrefixFileError(f"{source}: not a prefix file (bad magic {magic!r})")
    end4 = _HEAD.size + count4 * _V4.size
    if len(data) != end4 + count6 * _V6.size:
        raise PrefixFileError(f"{source}: truncated or padded: the header announces {count4} "
                              f"IPv4 and {count6} IPv6 prefixes, which do not fill "
                              f"{len(data)} bytes")
    v4 = list(_V4.iter_unpack(data[_HEAD.size:end4]))
    v6 = [((hi << 64) | lo, plen) for hi, lo, plen in _V6.iter_unpack(data[end4:])]
    if v4 and max(plen for _, plen in v4) > 32:
        raise PrefixFileError(f"{source}: an IPv4 prefix length is above 32")
    if v6 and max(plen for _, plen in v6) > 128:
        raise PrefixFileError(f"{source}: an IPv6 prefix length is above 128")
    return v4, v6


class _Family:
    """One address family's tables: (prefix length, sorted keys, positions), longest first."""

    def __init__(self, bits: int, records: Iterable[tuple[int, int, int]]) -> None:
        by_length: dict[int, list[tuple[int, int]]] = {}
        for addr, plen, position in records:
            by_length.setdefault(plen, []).append((addr >> (bits - plen), position))
        self.bits = bits
        self.tables: list[tuple[int, Sequence[int], Sequence[int]]] = []
        for plen in sorted(by_length, reverse=True):
            pairs = sorted(by_length[plen])  # equal keys: the lower position first (it wins)
            keys: Sequence[int] = (
                array("I", [k for k, _ in pairs]) if bits == 32 else [k for k, _ in pairs]
            )
            self.tables.append((plen, keys, array("I", [p for _, p in pairs])))
        self.size = sum(len(keys) for _, keys, _ in self.tables)

    def lookup(self, value: int) -> tuple[int, int] | None:
        bits = self.bits
        for plen, keys, positions in self.tables:
            key = value >> (bits - plen)
            i = bisect_left(keys, key)
            if i < len(keys) and keys[i] == key:
                return plen, positions[i]
        return None


class PrefixIndex:
    """Longest-prefix match from an address to the position of the group that lists it."""

    def __init__(self, per_group: Sequence[Records] = (), key: object = ()) -> None:
        # `key` names the content (the published prefix files' digests, per group), so
        # two readings of the same publication compare equal without comparing prefixes.
        self.key = key
        self.v4 = _Family(32, ((a, p, pos) for pos, (v4, _) in enumerate(per_group)
                               for a, p in v4))
        self.v6 = _Family(128, ((a, p, pos) for pos, (_, v6) in enumerate(per_group)
                                for a, p in v6))

    def __len__(self) -> int:
        return self.v4.size + self.v6.size

    def __eq__(self, other: object) -> bool:
        return isinstance(other, PrefixIndex) and self.key == other.key

    def __hash__(self) -> int:
        return hash(self.key)

    def lookup(self, ip: IPAddress) -> tuple[int, int] | None:
        """(prefix length, group position) of the most specific prefix holding `ip`."""
        if isinstance(ip, ipaddress.IPv4Address):
            return self.v4.lookup(int(ip)) if self.v4.size else None
        return self.v6.lookup(int(ip)) if self.v6.size else None


EMPTY_INDEX = PrefixIndex()
