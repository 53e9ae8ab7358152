"""The answer cache: ready wire bytes keyed by everything that changes the answer.

An entry keeps an answer split around the question name: the header's flags and counts,
and everything from the question's type to the end. Serving it is four concatenations:
the client's ID, the header (with the client's RD bit), the client's spelling of the name,
and the rest, whose TTLs are counted down once a second. Entries outlive their TTL by the
serve-stale window (RFC 8767) so an answer can still be given when every upstream fails.
"""

from __future__ import annotations

import struct
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass

_U32 = struct.Struct("!I")
_FIELD = struct.Struct("=HI")

# What an entry costs beyond the bytes of its answer and key: the Entry object, its ints and
# small bytes objects, the key object and the OrderedDict slot. Measured with tracemalloc on
# 100k A answers (520 bytes each in all), so `cache.max_bytes` bounds real memory.
ENTRY_OVERHEAD = 460


@dataclass(slots=True)
class Entry:
    head: bytes  # header bytes 2..12 (flags with RD set, counts) of the answer
    tail: bytes  # from the question's type to the end; TTLs as of `aged_at`
    qlen: int  # length of the question name in wire format
    ttl_fields: bytes  # (offset in `tail`, TTL as stored) pairs, packed "=HI"
    stored: int  # monotonic second when stored
    expires: int  # monotonic second when the answer stops being fresh (serve-stale after)
    aged_at: int = 0
    size: int = 0
    blocked_by: str | None = None  # the list id, for blocked answers
    box: list[int] | None = None  # that list's hit counter, bumped on every hit

    @classmethod
    def from_wire(
        cls,
        wire: bytes,
        qend: int,
        ttl_offsets: Sequence[int],
        ttls: Sequence[int],
        stored: int,
        lifetime: int,
    ) -> Entry:
        """An entry for the answer `wire` whose question section ends at `qend`;
        `ttl_offsets` are absolute offsets of its TTL fields, `ttls` their values."""
        base = qend - 4
        fields = b"".join(
            _FIELD.pack(off - base, ttl) for off, ttl in zip(ttl_offsets, ttls, strict=True)
        )
        return cls(
            head=bytes((wire[2] | 1,)) + wire[3:12],
            tail=wire[base:],
            qlen=qend - 16,
            ttl_fields=fields,
            stored=stored,
            expires=stored + lifetime,
        )


class AnswerCache:
    """A bounded map from cache key to Entry, evicting the oldest insertions first.

    FIFO rather than LRU: a hit costs no reordering, and an answer that is still wanted is
    re-inserted when it is refreshed, which moves it to the young end anyway. An OrderedDict,
    because taking the oldest key of a plain dict walks over every slot deleted before it.
    """

    def __init__(self, max_entries: int, max_bytes: int) -> None:
        self.max_entries = max_entries
        self.max_bytes = max_bytes
        self.entries: OrderedDict[bytes, Entry] = OrderedDict()
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
        entry.size = len(entry.tail) + len(entry.ttl_fields) + len(key) + ENTRY_OVERHEAD
        old = self.entries.pop(key, None)
        if old is not None:
            self.bytes -= old.size
        self.entries[key] = entry
        self.bytes += entry.size
        self._evict()

    def _evict(self) -> None:
        entries = self.entries
        while entries and (len(entries) > self.max_entries or self.bytes > self.max_bytes):
            self.bytes -= entries.popitem(last=False)[1].size
            self.evictions += 1


def age_entry(entry: Entry, age: int) -> None:
    """Count the entry's TTLs down to `age` seconds after it was stored."""
    if entry.ttl_fields:
        buf = bytearray(entry.tail)
        pack = _U32.pack_into
        for off, ttl in _FIELD.iter_unpack(entry.ttl_fields):
            pack(buf, off, ttl - age if ttl > age else 0)
        entry.tail = bytes(buf)
    entry.aged_at = age


def _stale_tail(entry: Entry, ttl: int) -> bytes:
    buf = bytearray(entry.tail)
    for off, _ in _FIELD.iter_unpack(entry.ttl_fields):
        _U32.pack_into(buf, off, ttl)
    return bytes(buf)


def render(entry: Entry, query_head: bytes, qname: bytes, now: int, stale_ttl: int = 0) -> bytes:
    """The cached answer for one client: its ID and RD bit, its letter case, TTLs by age.

    `query_head` is the start of the client's query (at least 3 bytes); `qname` its name as
    sent. `stale_ttl`, when non-zero, replaces every TTL (RFC 8767 serves stale data with a
    short TTL, 30 s recommended).
    """
    if stale_ttl:
        tail = _stale_tail(entry, stale_ttl)
    else:
        age = now - entry.stored
        if age != entry.aged_at:
            age_entry(entry, age)
        tail = entry.tail
    head = entry.head
    if not query_head[2] & 1:
        head = bytes((head[0] & 0xFE,)) + head[1:]
    return query_head[0:2] + head + qname + tail
