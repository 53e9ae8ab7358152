"""The answer cache: ready wire bytes keyed by everything that changes the answer.

An entry is an answer with ID 0 and the question in lowercase. Serving it patches the ID,
the RD bit, the client's letter case of the name and the TTLs counted down by age. Entries
outlive their TTL by the serve-stale window (RFC 8767) so an answer can still be given when
every upstream fails.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, field

_U32 = struct.Struct("!I")
_U16 = struct.Struct("!H")

# Rough per-entry overhead of the dict slot, the Entry object and the key, counted into
# `cache.max_bytes` so a cache full of tiny answers cannot blow the memory budget.
ENTRY_OVERHEAD = 200


@dataclass(slots=True)
class Entry:
    wire: bytes  # the whole answer, ID 0, question lowercase
    ttl_offsets: tuple[int, ...]  # absolute offsets of TTL fields in `wire`
    ttls: tuple[int, ...]  # the TTLs as stored
    stored: int  # monotonic second when stored
    expires: int  # monotonic second when the answer stops being fresh
    stale_until: int  # after this the entry is useless even for serve-stale
    qend: int
    size: int = field(default=0)
    blocked_by: str | None = None  # the list id, for blocked answers
    box: list[int] | None = None  # that list's hit counter, bumped on every hit
    # The answer as of `aged_at` seconds after storing, split around the question name so a
    # hit is four concatenations: ID + (flags..counts for RD=0 / RD=1) + client's name + tail.
    aged_at: int = -1
    head_rd0: bytes = b""
    head_rd1: bytes = b""
    tail: bytes = b""


class AnswerCache:
    """A bounded map from cache key to Entry, evicting the oldest insertions first.

    FIFO rather than LRU: a hit costs no reordering, and an answer that is still wanted is
    re-inserted when it is refreshed, which moves it to the young end anyway.
    """

    def __init__(self, max_entries: int, max_bytes: int) -> None:
        self.max_entries = max_entries
        self.max_bytes = max_bytes
        self.entries: dict[bytes, Entry] = {}
        self.bytes = 0
        self.evictions = 0

    def __len__(self) -> int:
        return len(self.entries)

    def resize(self, max_entries: int, max_bytes: int) -> None:
        self.max_entries = max_entries
        self.max_bytes = max_bytes
        self._evict()

    def clear(self) -> None:
        self.entries.clear()
        self.bytes = 0

    def get(self, key: bytes) -> Entry | None:
        return self.entries.get(key)

    def put(self, key: bytes, entry: Entry) -> None:
        if self.max_entries <= 0:
            return
        entry.size = len(entry.wire) + len(key) + ENTRY_OVERHEAD
        old = self.entries.pop(key, None)
        if old is not None:
            self.bytes -= old.size
        self.entries[key] = entry
        self.bytes += entry.size
        self._evict()

    def _evict(self) -> None:
        entries = self.entries
        while entries and (len(entries) > self.max_entries or self.bytes > self.max_bytes):
            oldest = next(iter(entries))
            self.bytes -= entries.pop(oldest).size
            self.evictions += 1


def age_entry(entry: Entry, age: int) -> None:
    """Prepare the entry's pieces with every TTL counted down by `age` seconds."""
    wire = entry.wire
    if age > 0 and entry.ttl_offsets:
        buf = bytearray(wire)
        pack = _U32.pack_into
        for off, ttl in zip(entry.ttl_offsets, entry.ttls, strict=True):
            pack(buf, off, ttl - age if ttl > age else 0)
        wire = bytes(buf)
    flags = wire[2] & 0xFE
    entry.head_rd0 = bytes((flags,)) + wire[3:12]
    entry.head_rd1 = bytes((flags | 1,)) + wire[3:12]
    entry.tail = wire[entry.qend - 4 :]
    entry.aged_at = age


def render(entry: Entry, query_head: bytes, qname: bytes, now: int, stale_ttl: int = 0) -> bytes:
    """The cached answer for one client: its ID and RD bit, its letter case, TTLs by age.

    `query_head` is the start of the client's query (at least 3 bytes); `qname` its name as
    sent. `stale_ttl`, when non-zero, replaces every TTL (RFC 8767 serves stale data with a
    short TTL, 30 s recommended).
    """
    if stale_ttl:
        buf = bytearray(entry.wire)
        for off in entry.ttl_offsets:
            _U32.pack_into(buf, off, stale_ttl)
        buf[0:2] = query_head[0:2]
        buf[2] = (buf[2] & 0xFE) | (query_head[2] & 1)
        buf[12 : 12 + len(qname)] = qname
        return bytes(buf)
    age = now - entry.stored
    if age != entry.aged_at:
        age_entry(entry, age)
    head = entry.head_rd1 if query_head[2] & 1 else entry.head_rd0
    return query_head[0:2] + head + qname + entry.tail
