"""The compiled list file: its layout, and the memory-mapped reader the resolver queries.

Standard library only (it runs on OpenWrt and 32-bit ARM boards with no wheels): this module
must not import `idna`, `cryptography` or anything outside the standard library.

File layout (all integers little-endian; the detached minisign signature covers every byte):

    0   magic            b"STRAJAL1"
    8   header length    uint32
    12  header           UTF-8 JSON: list metadata and the body layout (see `ListHeader`)
    ..  zero padding     to a multiple of 8
    directory            (buckets + 1) x uint32: index of the first record of each bucket
    ..  zero padding     to a multiple of 8
    records              nodes x 8 bytes: 7-byte key fingerprint, 1 flag byte
    names                public files only: one "name<TAB>flags" line per entry
    rules                format 2: a JSON array of text rules (patterns and rules with
                         modifiers, see `blocklists.patterns`), empty when there are none

The label trie is stored as a hash table of its nodes. A node is a domain suffix; its key is a
keyed BLAKE2s digest of the suffix's labels fed from the TLD down, each prefixed by its
length, so the key of `www.example.com` extends the hash state of `example.com` by one label.
A lookup therefore costs one hash update and one table probe per label, and stops at the
first suffix that is not in the table. The 10-byte digest picks a bucket (the multiply-shift
of the whole digest, so buckets are in digest order) and its last 7 bytes are the
fingerprint searched for, with `mmap.find`, among the ~8 records of that bucket.

Keys are hashed with a fresh random salt per list, so a hashed file carries no label text at
all. The salt is in the header (the resolver needs it), so anyone holding the file can test
a guessed name, but nobody can list the names or reuse a precomputed table across lists.
The header's "layout" object gives only section sizes; the offsets follow from them.
"""

from __future__ import annotations

try:
    # The same BLAKE2s as hashlib's, without hashlib loading OpenSSL's libcrypto (~3.7 MB of
    # RSS in every serving process that never needs it).
    from _blake2 import blake2s
except ImportError:  # another Python implementation
    from hashlib import blake2s
import json
import mmap
import os
import struct
import zlib
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NamedTuple

from blocklists.errors import (
    CorruptListError,
    HashedListError,
    ListClosedError,
    UnsupportedListVersionError,
)
from blocklists.patterns import RuleSet, TextRule

MAGIC = b"STRAJAL1"
MAGIC_FAMILY = b"STRAJAL"
FORMAT_VERSION = 2  # 2 added the list kind, the rule counts and the rules section
READABLE_VERSIONS = (1, 2)
KINDS = ("block", "allow")
PREAMBLE = struct.Struct("<8sI")
MAX_HEADER_LENGTH = 1 << 20

TIERS = ("mandatory", "operator", "family")

# Node flag byte. Bits 0-3 say which rules sit at the node, bits 4-5 and 6-7 carry the
# block action for the name itself and for its strict subdomains.
EXACT_BLOCK = 0x01
SUBTREE_BLOCK = 0x02
EXACT_ALLOW = 0x04
SUBTREE_ALLOW = 0x08
EXACT_ACTION_SHIFT = 4
SUBTREE_ACTION_SHIFT = 6
EXACT_ACTION_MASK = 0x30
SUBTREE_ACTION_MASK = 0xC0

ACTION_DEFAULT = 0
ACTION_NXDOMAIN = 1
ACTION_NODATA = 2
ACTION_NAMES = {ACTION_DEFAULT: "default", ACTION_NXDOMAIN: "nxdomain", ACTION_NODATA: "nodata"}

# Hash-table geometry.
KEY_SIZE = 10  # digest bytes: the leading bits choose the bucket
FINGERPRINT_SIZE = 7  # the last 7 digest bytes are stored
RECORD_SIZE = 8  # fingerprint + flag byte
BUCKET_LOAD = 8  # records per bucket on average
HASH_NAME = "blake2s-80-lenprefix"
_PERSONAL = b"strajal1"
_DIRECTORY_PAIR = struct.Struct("<II")
_TOP_CACHE_SIZE = 4096

# Length prefixes for labels (a wire label has at most 63 bytes, a byte string at most 255).
_LENGTH_PREFIX = tuple(bytes((length,)) for length in range(256))


def key_hasher(salt: bytes) -> Any:
    """The keyed hash state every node key of a list with this salt starts from."""
    return blake2s(key=salt, digest_size=KEY_SIZE, person=_PERSONAL)


def label_prefix(label: bytes) -> bytes:
    """The length byte fed before `label`, so that label boundaries are unambiguous."""
    return _LENGTH_PREFIX[len(label)]


def bucket_of(key: bytes, buckets: int) -> int:
    """The bucket of a node key; monotonic in the key, so sorted keys are bucket-ordered."""
    return (int.from_bytes(key, "big") * buckets) >> (8 * KEY_SIZE)


def name_to_labels(name: str) -> list[bytes]:
    """Labels of an already normalised name, TLD first: "www.example.com" ->
    [b"com", b"example", b"www"]. The empty name has no labels."""
    if not name:
        return []
    return [label.encode("ascii") for label in reversed(name.split("."))]


class Match(NamedTuple):
    """What `CompiledList.lookup` returns for a blocked name."""

    action: int  # ACTION_DEFAULT, ACTION_NXDOMAIN or ACTION_NODATA
    depth: int  # number of labels of the deciding node (the listed name)
    exact: bool  # True: the name itself is listed; False: a parent lists its subdomains


# Every possible Match, indexed by depth << 3 | action << 1 | exact, so the hot path builds
# no object. Depth is below 256 because a name has at most 127 labels.
_MATCHES = tuple(Match((index >> 1) & 3, index >> 3, bool(index & 1)) for index in range(256 << 3))


class NodeHit(NamedTuple):
    """One node found on the way down, for `explain`."""

    depth: int
    flags: int


@dataclass(frozen=True)
class Explanation:
    """Why a list blocks, allows or ignores a name (for `straja check`)."""

    verdict: str  # "block", "allow" (an exception wins) or "none" (no rule applies)
    depth: int  # labels of the deciding node, 0 when no rule applies
    kind: str | None  # "exact" or "subtree"
    action: int | None  # ACTION_* when the verdict is "block"
    matched: str | None  # the deciding listed name, e.g. "example.com"
    trail: tuple[NodeHit, ...]  # every node found from the TLD down, with its flags


class ListEntry(NamedTuple):
    """One listed name of a public (non-hashed) file, with its rule flags."""

    name: str
    flags: int

    def describe(self) -> str:
        """The rules at this name in words, e.g. "blocks the name and its subdomains"."""
        return describe_flags(self.flags)


def describe_flags(flags: int) -> str:
    """Human wording of a node's flag byte."""
    parts = []
    exact_action = ACTION_NAMES.get((flags & EXACT_ACTION_MASK) >> EXACT_ACTION_SHIFT, "?")
    subtree_action = ACTION_NAMES.get((flags & SUBTREE_ACTION_MASK) >> SUBTREE_ACTION_SHIFT, "?")
    block = flags & (EXACT_BLOCK | SUBTREE_BLOCK)
    allow = flags & (EXACT_ALLOW | SUBTREE_ALLOW)
    scope = {
        EXACT_BLOCK | SUBTREE_BLOCK: "the name and its subdomains",
        EXACT_BLOCK: "the name only",
        SUBTREE_BLOCK: "its subdomains only",
        EXACT_ALLOW | SUBTREE_ALLOW: "the name and its subdomains",
        EXACT_ALLOW: "the name only",
        SUBTREE_ALLOW: "its subdomains only",
    }
    if block:
        actions = {exact_action if flags & EXACT_BLOCK else None}
        actions.add(subtree_action if flags & SUBTREE_BLOCK else None)
        actions.discard(None)
        parts.append(f"blocks {scope[block]} ({'/'.join(sorted(a for a in actions if a))})")
    if allow:
        parts.append(f"exception for {scope[allow]}")
    return "; ".join(parts) if parts else "no rule (intermediate node)"


@dataclass(frozen=True)
class ListHeader:
    """The metadata of a compiled list, read from its header."""

    list_id: str
    serial: int
    tier: str
    category: str | None
    issued: int  # Unix time, seconds
    expires: int | None  # Unix time, seconds; None: never
    count: int  # listed names (distinct entries, canaries included)
    canaries: tuple[str, ...]
    hashed: bool  # True: the file carries no names, only keyed hashes
    salt: bytes
    skipped: int  # bad source lines skipped when compiling
    unsupported: int  # source rules of a kind Straja does not enforce (counted, skipped)
    source_format: str
    format_version: int = FORMAT_VERSION
    kind: str = "block"  # "allow": every entry is an exception for the other lists
    exceptions: int = 0  # exception rules (trie and text); unknown (-1) in format 1
    patterns: int = 0  # text rules that are patterns
    not_dns: int = 0  # browser-only source rules skipped
    rpz_expressible: bool = True  # no patterns, $dnstype or $client: exportable as RPZ

    def is_expired(self, now: float) -> bool:
        """True when the list has an expiry time and `now` (Unix time) is past it."""
        return self.expires is not None and now >= self.expires

    def to_json(self) -> dict[str, Any]:
        """The JSON object stored in the file header (without the layout)."""
        return {
            "format_version": self.format_version,
            "list_id": self.list_id,
            "serial": self.serial,
            "tier": self.tier,
            "category": self.category,
            "issued": self.issued,
            "expires": self.expires,
            "count": self.count,
            "canaries": list(self.canaries),
            "hashed": self.hashed,
            "salt": self.salt.hex(),
            "skipped": self.skipped,
            "unsupported": self.unsupported,
            "source_format": self.source_format,
            "kind": self.kind,
            "exceptions": self.exceptions,
            "patterns": self.patterns,
            "not_dns": self.not_dns,
            "rpz_expressible": self.rpz_expressible,
        }


@dataclass(frozen=True)
class Layout:
    """The sizes of the body sections (stored in the header) and the file offsets they imply:
    each section follows the previous one, the first two aligned to 8 bytes."""

    buckets: int
    nodes: int
    names_length: int
    body_crc32: int  # CRC-32 of every byte from the directory to the end of the file
    directory: int  # file offset of the bucket directory
    records: int  # file offset of the records
    names: int  # file offset of the names section
    end: int  # the file size these sections add up to
    rules_length: int = 0  # bytes of the rules section, after the names (format 2)

    @classmethod
    def after_header(
        cls,
        header_end: int,
        buckets: int,
        nodes: int,
        names_length: int,
        body_crc32: int,
        rules_length: int = 0,
    ) -> Layout:
        """The layout of a body that starts after a header ending at byte `header_end`."""
        directory = align8(header_end)
        records = align8(directory + 4 * (buckets + 1))
        names = records + RECORD_SIZE * nodes
        end = names + names_length + rules_length
        return cls(buckets, nodes, names_length, body_crc32, directory, records, names, end,
                   rules_length)

    @property
    def rules(self) -> int:
        """File offset of the rules section."""
        return self.names + self.names_length

    def to_json(self) -> dict[str, Any]:
        """The JSON object stored under "layout" in the header (sizes only)."""
        return {
            "hash": HASH_NAME,
            "buckets": self.buckets,
            "nodes": self.nodes,
            "names_length": self.names_length,
            "rules_length": self.rules_length,
            "body_crc32": self.body_crc32,
        }


def align8(offset: int) -> int:
    """Round `offset` up to a multiple of 8."""
    return (offset + 7) & ~7


class CompiledList:
    """A compiled list file mapped read-only. Open with `CompiledList.open(path)`.

    Keeps no buffer exported from the mapping between calls, so `close()` always succeeds,
    even while other references to the object exist; using it afterwards raises
    `ListClosedError`. Replace a mapped file by renaming a new one over it (as the compiler
    does), never by rewriting it in place: pages cut from a mapped file kill the process
    with SIGBUS.
    """

    __slots__ = ("path", "header", "layout", "size", "_mm", "_proto", "_closed", "_hot", "_top",
                 "_rules")

    def __init__(self, path: Path, mm: mmap.mmap, header: ListHeader, layout: Layout) -> None:
        self.path = path
        self.header = header
        self.layout = layout
        self.size = len(mm)
        self._mm = mm
        self._proto = key_hasher(header.salt)
        self._closed = False
        # What `lookup` needs, in one attribute: one load and an unpack instead of five.
        self._hot = (mm, mm.find, layout.buckets, layout.directory, layout.records)
        # First labels (TLDs) seen so far: the hash state after the label and the node's
        # flags, or (None, 0) when the list has no such node. Every lookup starts with the
        # TLD and there are few of them, so this skips one hash and probe per lookup. It is
        # bounded, because clients can ask for any made-up TLD.
        self._top: dict[bytes, tuple[Any, int]] = {}
        self._rules: RuleSet | None = None

    @classmethod
    def open(cls, path: str | os.PathLike[str]) -> CompiledList:
        """Map the file at `path` and read its header; raise a `ListError` subclass
        (`CorruptListError`, `UnsupportedListVersionError`) when it cannot be used."""
        path = Path(path)
        try:
            with open(path, "rb") as handle:
                size = os.fstat(handle.fileno()).st_size
                if size < PREAMBLE.size:
                    raise CorruptListError(
                        f"{path} is too short ({size} bytes) to be a compiled list; "
                        "it is truncated or not a list file."
                    )
                mm = mmap.mmap(handle.fileno(), 0, access=mmap.ACCESS_READ)
        except OSError as exc:
            raise CorruptListError(f"{path} cannot be opened: {exc.strerror or exc}.") from None
        try:
            header, layout = _read_header(mm, path)
        except BaseException:
            mm.close()
            raise
        return cls(path, mm, header, layout)

    @property
    def closed(self) -> bool:
        return self._closed

    def close(self) -> None:
        """Unmap the file. Safe to call twice and while other references exist."""
        self._closed = True
        self._top.clear()
        self._mm.close()

    def __enter__(self) -> CompiledList:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        state = "closed" if self._closed else f"{self.header.count} entries"
        return f"<CompiledList {self.header.list_id} serial {self.header.serial} {state}>"

    def lookup(self, labels: Sequence[bytes]) -> Match | None:
        """Decide the name `labels` (lowercased, TLD first, e.g. [b"com", b"example"]).

        Returns None when this list does not block the name (no rule, or an exception is
        the most specific rule), else a `Match`. The most specific (deepest) rule wins; at
        the same node an exception beats a block. Labels must be `bytes` (they key a cache)
        of at most 255 bytes, as on the wire. Called for every query: keep it lean.
        """
        if not labels:
            return None
        try:
            top = self._top.get(labels[0])
            if top is None:
                top = self._top_node(labels[0])
            state, flags = top
            if state is None:
                return None
            last = len(labels)
            best = _decide(flags, 1, last) if flags else -1
            if last > 1:
                mm, find, buckets, directory, records = self._hot
                hasher = state.copy()
                update = hasher.update
                digest = hasher.digest
                pair = _DIRECTORY_PAIR.unpack_from
                prefixes = _LENGTH_PREFIX
                for depth, label in enumerate(labels[1:], 2):
                    update(prefixes[len(label)])
                    update(label)
                    key = digest()
                    bucket = (int.from_bytes(key, "big") * buckets) >> 80
                    first, end = pair(mm, directory + 4 * bucket)
                    pos = find(key[3:], records + 8 * first, records + 8 * end)
                    if pos < 0:
                        break
                    if (pos - records) & 7:
                        pos = _aligned_find(mm, key[3:], pos, records, end)
                        if pos < 0:
                            break
                    flags = mm[pos + 7]
                    if flags:
                        if depth < last:
                            if flags & SUBTREE_ALLOW:
                                best = -1
                            elif flags & SUBTREE_BLOCK:
                                best = depth << 3 | (flags >> 5) & 6
                        elif flags & EXACT_ALLOW:
                            best = -1
                        elif flags & EXACT_BLOCK:
                            best = depth << 3 | (flags >> 3) & 6 | 1
        except (ValueError, IndexError) as exc:
            raise self._lookup_error(exc) from None
        return None if best < 0 else _MATCHES[best]

    def scan(self, labels: Sequence[bytes]) -> tuple[Match | None, int]:
        """Every rule of this list's trie on the path of `labels`, for the operator and
        family tiers, where an exception anywhere beats a block (as in AdGuard Home): the
        deepest block (ignoring exceptions), and the depth of the deepest exception that
        covers the name (0: none). Called on cache misses only; walks like `lookup`."""
        if not labels:
            return None, 0
        try:
            top = self._top.get(labels[0])
            if top is None:
                top = self._top_node(labels[0])
            state, flags = top
            if state is None:
                return None, 0
            last = len(labels)
            block = allowed = -1
            depth = 1
            while True:
                if flags:
                    if depth < last:
                        if flags & SUBTREE_ALLOW:
                            allowed = depth
                        if flags & SUBTREE_BLOCK:
                            block = depth << 3 | (flags >> 5) & 6
                    else:
                        if flags & EXACT_ALLOW:
                            allowed = depth
                        if flags & EXACT_BLOCK:
                            block = depth << 3 | (flags >> 3) & 6 | 1
                if depth == last:
                    break
                if depth == 1:
                    mm, find, buckets, directory, records = self._hot
                    hasher = state.copy()
                    update = hasher.update
                    digest = hasher.digest
                    pair = _DIRECTORY_PAIR.unpack_from
                    prefixes = _LENGTH_PREFIX
                label = labels[depth]
                depth += 1
                update(prefixes[len(label)])
                update(label)
                key = digest()
                bucket = (int.from_bytes(key, "big") * buckets) >> 80
                first, end = pair(mm, directory + 4 * bucket)
                pos = find(key[3:], records + 8 * first, records + 8 * end)
                if pos >= 0 and (pos - records) & 7:
                    pos = _aligned_find(mm, key[3:], pos, records, end)
                if pos < 0:
                    break
                flags = mm[pos + 7]
        except (ValueError, IndexError) as exc:
            raise self._lookup_error(exc) from None
        return (None if block < 0 else _MATCHES[block]), max(allowed, 0)

    def flags_at(self, labels: Sequence[bytes]) -> int:
        """The flag byte of the node for exactly `labels` (0: not a node)."""
        trail = list(self._walk(labels))
        if trail and trail[-1].depth == len(labels):
            return trail[-1].flags
        return 0

    @property
    def text_rules(self) -> RuleSet:
        """The rules section (patterns and rules with modifiers), read on first use."""
        if self._rules is None:
            if self._closed:
                raise ListClosedError(f"The list {self.path} was used after it was closed.")
            start = self.layout.rules
            raw = bytes(self._mm[start : start + self.layout.rules_length])
            try:
                data = json.loads(raw.decode("utf-8")) if raw else []
                rules = tuple(TextRule.from_json(item) for item in data)
                self._rules = RuleSet(rules)
            except (ValueError, TypeError, KeyError) as exc:
                raise CorruptListError(f"{self.path} has a corrupt rules section: {exc}.") from None
        return self._rules

    def _lookup_error(self, exc: Exception) -> Exception:
        """The error to raise when a lookup failed inside the mapping (rare paths only)."""
        if self._closed:
            return ListClosedError(f"The list {self.path} was used after it was closed.")
        if isinstance(exc, IndexError):
            return CorruptListError(
                f"{self.path} could not be searched: a label is longer than 255 bytes or the "
                "file is corrupt (run verify_integrity)."
            )
        return exc

    def _top_node(self, label: bytes) -> tuple[Any, int]:
        """Find the node of a first label and remember it (see `_top`); (None, 0) when the
        list has no such node."""
        hasher = self._proto.copy()
        hasher.update(label_prefix(label))
        hasher.update(label)
        pos = self._find_key(hasher.digest())
        found = (None, 0) if pos < 0 else (hasher, self._mm[pos + FINGERPRINT_SIZE])
        if len(self._top) < _TOP_CACHE_SIZE:
            self._top[label] = found
        return found

    def _find_key(self, key: bytes) -> int:
        """File offset of the record of node `key`, or -1."""
        layout = self.layout
        first, end = _DIRECTORY_PAIR.unpack_from(
            self._mm, layout.directory + 4 * bucket_of(key, layout.buckets)
        )
        start = layout.records + RECORD_SIZE * first
        return _aligned_find(self._mm, key[3:], start - 1, layout.records, end)

    def _walk(self, labels: Sequence[bytes]) -> Iterator[NodeHit]:
        """Every node on the path of `labels`, TLD first, until the first missing one."""
        if self._closed:
            raise ListClosedError(f"The list {self.path} was used after it was closed.")
        hasher = self._proto.copy()
        for depth, label in enumerate(labels, 1):
            hasher.update(label_prefix(label))
            hasher.update(label)
            pos = self._find_key(hasher.digest())
            if pos < 0:
                return
            yield NodeHit(depth, self._mm[pos + FINGERPRINT_SIZE])

    def explain(self, labels: Sequence[bytes]) -> Explanation:
        """Like `lookup`, but also reports exceptions and every node on the way."""
        trail = tuple(self._walk(labels))
        last = len(labels)
        verdict: tuple[str, int, str, int | None] | None = None
        for depth, flags in trail:
            if depth < last:
                if flags & SUBTREE_ALLOW:
                    verdict = ("allow", depth, "subtree", None)
                elif flags & SUBTREE_BLOCK:
                    action = (flags & SUBTREE_ACTION_MASK) >> SUBTREE_ACTION_SHIFT
                    verdict = ("block", depth, "subtree", action)
            elif flags & EXACT_ALLOW:
                verdict = ("allow", depth, "exact", None)
            elif flags & EXACT_BLOCK:
                action = (flags & EXACT_ACTION_MASK) >> EXACT_ACTION_SHIFT
                verdict = ("block", depth, "exact", action)
        if verdict is None:
            return Explanation("none", 0, None, None, None, trail)
        word, decided_at, scope, decided_action = verdict
        matched = b".".join(reversed(labels[:decided_at])).decode("ascii", "replace")
        return Explanation(word, decided_at, scope, decided_action, matched, trail)

    def names(self) -> Iterator[ListEntry]:
        """Every listed name with its rule flags, in source order (public files only)."""
        if self.header.hashed:
            raise HashedListError(
                f"{self.path} is a hashed list: it carries no names, only keyed hashes."
            )
        if self._closed:
            raise ListClosedError(f"The list {self.path} was used after it was closed.")
        start = self.layout.names
        end = start + self.layout.names_length
        rest = b""
        # (the rules section follows the names; it is read by `text_rules`)
        chunk_size = 1 << 20
        while start < end:
            chunk = rest + self._mm[start : min(end, start + chunk_size)]
            start += chunk_size
            lines = chunk.split(b"\n")
            rest = lines.pop()
            for line in lines:
                name, _, flags = line.partition(b"\t")
                yield ListEntry(name.decode("ascii"), int(flags))
        if rest:
            raise CorruptListError(f"The names section of {self.path} ends in a partial line.")

    def verify_integrity(self) -> None:
        """Read the whole body and compare its CRC-32 with the header's; raise
        `CorruptListError` on mismatch. Costs a full read, so call it at activation only."""
        if self._closed:
            raise ListClosedError(f"The list {self.path} was used after it was closed.")
        with memoryview(self._mm) as view, view[self.layout.directory :] as body:
            crc = zlib.crc32(body)
        if crc != self.layout.body_crc32:
            raise CorruptListError(
                f"{self.path} is corrupt: its body does not match the checksum in its header."
            )


def _decide(flags: int, depth: int, last: int) -> int:
    """The `_MATCHES` index decided by a node's flags at `depth` for a name of `last`
    labels, or -1 for "not blocked" (no rule for this name, or an exception)."""
    if depth < last:
        if flags & SUBTREE_ALLOW or not flags & SUBTREE_BLOCK:
            return -1
        return depth << 3 | (flags >> 5) & 6
    if flags & EXACT_ALLOW or not flags & EXACT_BLOCK:
        return -1
    return depth << 3 | (flags >> 3) & 6 | 1


def _aligned_find(mm: mmap.mmap, fingerprint: bytes, pos: int, records: int, end: int) -> int:
    """Find `fingerprint` after `pos` at a record boundary, up to record `end`; -1 if absent.
    A match straddling two records is possible only by a 2^-56 accident, so this loop
    almost never turns twice."""
    stop = records + RECORD_SIZE * end
    while True:
        pos = mm.find(fingerprint, pos + 1, stop)
        if pos < 0 or not (pos - records) & 7:
            return pos


def _read_header(mm: mmap.mmap, path: Path) -> tuple[ListHeader, Layout]:
    """Parse and check the header of a mapped file against its size."""
    size = len(mm)
    magic, length = PREAMBLE.unpack_from(mm, 0)
    if magic != MAGIC:
        if magic.startswith(MAGIC_FAMILY):
            raise UnsupportedListVersionError(
                f"{path} is a compiled list of format {magic[7:].decode('ascii', 'replace')!r}, "
                f"which this Straja cannot read (it reads format {FORMAT_VERSION}); "
                "upgrade Straja or compile the list again."
            )
        raise CorruptListError(
            f"{path} is not a Straja compiled list (its first bytes are not {MAGIC.decode()})."
        )
    if length > MAX_HEADER_LENGTH or PREAMBLE.size + length > size:
        raise CorruptListError(
            f"{path} is truncated or corrupt: its header claims {length} bytes but the file "
            f"has {size}."
        )
    try:
        raw = json.loads(mm[PREAMBLE.size : PREAMBLE.size + length].decode("utf-8"))
        header, layout = _header_from_json(raw, PREAMBLE.size + length)
    except (ValueError, TypeError, KeyError) as exc:
        raise CorruptListError(f"{path} has a corrupt header: {exc}.") from None
    if header.format_version not in READABLE_VERSIONS:
        raise UnsupportedListVersionError(
            f"{path} declares format version {header.format_version}; this Straja reads "
            f"versions {', '.join(map(str, READABLE_VERSIONS))}."
        )
    if layout.end != size:
        raise CorruptListError(
            f"{path} is truncated or corrupt: its header describes {layout.end} bytes but the "
            f"file has {size}; fetch or compile it again."
        )
    first, _ = _DIRECTORY_PAIR.unpack_from(mm, layout.directory)
    (last,) = struct.unpack_from("<I", mm, layout.directory + 4 * layout.buckets)
    if first != 0 or last != layout.nodes:
        raise CorruptListError(f"{path} is corrupt: its bucket directory does not add up.")
    return header, layout


def _header_from_json(raw: dict[str, Any], header_end: int) -> tuple[ListHeader, Layout]:
    def typed(obj: dict[str, Any], key: str, kind: type | tuple[type, ...]) -> Any:
        value = obj[key]
        if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
            raise TypeError(f"field {key!r} has the wrong type")
        return value

    if not isinstance(raw, dict):
        raise TypeError("the header is not a JSON object")
    canaries = typed(raw, "canaries", list)
    if not all(isinstance(name, str) for name in canaries):
        raise TypeError("field 'canaries' must hold names")
    tier = typed(raw, "tier", str)
    if tier not in TIERS:
        raise ValueError(f"unknown tier {tier!r}")
    version = typed(raw, "format_version", int)
    newer: dict[str, Any] = {}
    if version >= 2:
        newer = {
            "kind": typed(raw, "kind", str),
            "exceptions": typed(raw, "exceptions", int),
            "patterns": typed(raw, "patterns", int),
            "not_dns": typed(raw, "not_dns", int),
            "rpz_expressible": typed(raw, "rpz_expressible", bool),
        }
        if newer["kind"] not in KINDS:
            raise ValueError(f"unknown list kind {newer['kind']!r}")
    else:
        newer = {"exceptions": -1}  # format 1 did not count them
    header = ListHeader(
        format_version=version,
        list_id=typed(raw, "list_id", str),
        serial=typed(raw, "serial", int),
        tier=tier,
        category=typed(raw, "category", (str, type(None))),
        issued=typed(raw, "issued", int),
        expires=typed(raw, "expires", (int, type(None))),
        count=typed(raw, "count", int),
        canaries=tuple(canaries),
        hashed=typed(raw, "hashed", bool),
        salt=bytes.fromhex(typed(raw, "salt", str)),
        skipped=typed(raw, "skipped", int),
        unsupported=typed(raw, "unsupported", int),
        source_format=typed(raw, "source_format", str),
        **newer,
    )
    body = typed(raw, "layout", dict)
    if body.get("hash") != HASH_NAME:
        raise ValueError(f"unknown hash {body.get('hash')!r}")
    buckets = typed(body, "buckets", int)
    nodes = typed(body, "nodes", int)
    names_length = typed(body, "names_length", int)
    rules_length = typed(body, "rules_length", int) if version >= 2 else 0
    if buckets < 1 or nodes < 0 or names_length < 0 or rules_length < 0 or nodes >= 1 << 32:
        raise ValueError("the layout sizes are out of range")
    layout = Layout.after_header(
        header_end, buckets, nodes, names_length, typed(body, "body_crc32", int), rules_length
    )
    return header, layout
