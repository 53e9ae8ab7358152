"""The answer cache: ready wire bytes keyed by everything that changes the answer.

An entry keeps a whole answer but its ID: the header's flags (RD set) and counts, the
question with its name in lowercase, and the records, whose TTLs are counted down once a
second. A query whose name is in lowercase, as most are, is answered with the client's ID
and that frame: one slice and one concatenation. Another spelling gets its own letter case
spliced in. Entries outlive their TTL by the serve-stale window (RFC 8767) so an answer can
still be given when every upstream fails.
"""

from __future__ import annotations

import struct
import sys
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass

from resolver.counters import CACHED, Box

_U32 = struct.Struct("!I")
_FIELD = struct.Struct("=HI")


UNCOUNTED = Box((CACHED, 0, None))  # the box of entries made outside a resolver (tests)


@dataclass(slots=True)
class Entry:
    frame: bytes  # header bytes 2..12 (flags with RD set, counts), then the question (name
    # in lowercase) and the records, TTLs as of `seen`: the answer without its ID
    qlen: int  # length of the question name in wire format
    ttl_fields: bytes  # (offset in `frame`, monotonic second its TTL reaches 0) pairs, "=HI"
    expires: int  # monotonic second when the answer stops being fresh (serve-stale after)
    # The second `frame`'s TTLs were counted down to. The resolver passes one int object per
    # second, so `entry.seen is now` tells a hit that the entry is fresh and aged without
    # reading any other field (the entry holds the object, so its id cannot be reused).
    seen: int | None = None
    key: bytes = b""
    blocked_by: str | None = None  # the list id, for blocked answers
    # The counter of its kind of response (action, rcode, list), shared by every entry of
    # that kind and bumped on every hit answered without parsing; the resolver sets it.
    box: Box = UNCOUNTED

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
        """An entry for the answer `wire`, received at monotonic second `stored`, whose
        question section ends at `qend`; `ttl_offsets` are absolute offsets of its TTL
        fields, `ttls` their values. TTLs that `ttl_offsets` leave out are served as they
        are, uncounted."""
        fields = b"".join(
            _FIELD.pack(off - 2, stored + ttl)
            for off, ttl in zip(ttl_offsets, ttls, strict=True)
        )
        return cls(
            frame=bytes((wire[2] | 1,)) + wire[3:12] + wire[12 : qend - 4].lower()
            + wire[qend - 4 :],
            qlen=qend - 16,
            ttl_fields=fields,
            expires=stored + lifetime,
            seen=stored if lifetime > 0 else None,  # only a fresh entry may be `seen`
        )

    @property
    def size(self) -> int:
        """What the entry costs in memory, in bytes (its frame never changes length)."""
        return len(self.frame) + len(self.ttl_fields) + len(self.key) + ENTRY_OVERHEAD


def _entry_overhead() -> int:
    """What an entry costs beyond the bytes of its answer, TTL fields and key: the Entry
    object, its `expires` int, the three bytes objects' headers (with pymalloc's rounding),
    its dict slot and deque pointer. Taken from this interpreter's own object sizes, so
    `cache.max_bytes` bounds real memory on 32-bit and 64-bit builds alike (about 290 bytes
    on x86-64, 150 on armv7); tests/test_cache.py checks it against tracemalloc.
    """
    pointer = struct.calcsize("P")
    align = 2 * pointer  # pymalloc's alignment: 16 bytes on 64-bit, 8 on 32-bit

    def allocated(size: int) -> int:
        return -(-size // align) * align

    entry = allocated(sys.getsizeof(Entry(b"", 0, b"", 0)))
    expires = allocated(sys.getsizeof(10**6))  # a monotonic second
    headers = 3 * (sys.getsizeof(b"") + align // 2)  # half an alignment lost on average
    dict_slot = (3 * pointer + 4) * 5 // 4  # hash, key, value and an index, partly filled
    return entry + expires + headers + dict_slot + pointer


ENTRY_OVERHEAD = _entry_overhead()


class AnswerCache:
    """A bounded map from cache key to Entry, evicting the oldest insertions first.

    FIFO rather than LRU: a hit costs no reordering, and an answer that is still wanted is
    re-inserted when it is refreshed, which moves it to the young end anyway. The order is a
    deque of entries beside a plain dict: taking the oldest key of a plain dict walks over
    every slot deleted before it, and an OrderedDict costs ~40 bytes more per entry. A
    replaced entry stays in the deque until it reaches the front (or a compaction).
    """

    def __init__(self, max_entries: int, max_bytes: int) -> None:
        self.max_entries = max_entries
        self.max_bytes = max_bytes
        self.entries: dict[bytes, Entry] = {}
        self.order: deque[Entry] = deque()
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
        self.order.clear()
        self.bytes = 0

    def drop_tagged(self, tags: set[bytes]) -> None:
        """Drop the entries whose key ends with one of `tags` (policy tags no group has any
        more, so nothing can hit them). One walk of the cache, once per schedule change."""
        ends = tuple(tags)
        entries = self.entries
        for key in [k for k in entries if k.endswith(ends)]:
            self.bytes -= entries.pop(key).size
        self._compact()

    def put(self, key: bytes, entry: Entry) -> None:
        if self.max_entries <= 0:
            return
        entry.key = key
        old = self.entries.get(key)
        if old is not None:
            self.bytes -= old.size
        self.entries[key] = entry
        self.order.append(entry)
        self.bytes += entry.size
        self._evict()
        if len(self.order) > 2 * len(self.entries) + 1024:
            self._compact()

    def _evict(self) -> None:
        entries = self.entries
        order = self.order
        while order and (len(entries) > self.max_entries or self.bytes > self.max_bytes):
            oldest = order.popleft()
            if entries.get(oldest.key) is oldest:
                del entries[oldest.key]
                self.bytes -= oldest.size
                self.evictions += 1

    def _compact(self) -> None:
        """Drop the deque's replaced entries (amortised: runs when half of it is stale)."""
        entries = self.entries
        self.order = deque(e for e in self.order if entries.get(e.key) is e)


def age_entry(entry: Entry, now: int) -> None:
    """Count the entry's TTLs down to monotonic second `now`."""
    fields = entry.ttl_fields
    if len(fields) == _FIELD.size:  # one record, the common case: no bytearray round trip
        off, zero_at = _FIELD.unpack(fields)
        frame = entry.frame
        ttl = zero_at - now if zero_at > now else 0
        entry.frame = frame[:off] + _U32.pack(ttl) + frame[off + 4 :]
    elif fields:
        buf = bytearray(entry.frame)
        pack = _U32.pack_into
        for off, zero_at in _FIELD.iter_unpack(fields):
            pack(buf, off, zero_at - now if zero_at > now else 0)
        entry.frame = bytes(buf)
    entry.seen = now


def _stale_frame(entry: Entry, ttl: int) -> bytes:
    buf = bytearray(entry.frame)
    for off, _ in _FIELD.iter_unpack(entry.ttl_fields):
        _U32.pack_into(buf, off, ttl)
    return bytes(buf)


def render(entry: Entry, query_head: bytes, qname: bytes | None, now: int,
           stale_ttl: int = 0) -> bytes:
    """The cached answer for one client: its ID and RD bit, its letter case, TTLs by age.

    `query_head` is the start of the client's query (at least 3 bytes); `qname` its name as
    sent, or None when it is known to be the entry's (lowercase) name. `stale_ttl`, when
    non-zero, replaces every TTL (RFC 8767 serves stale data with a short TTL, 30 s
    recommended).
    """
    if stale_ttl:
        frame = _stale_frame(entry, stale_ttl)
    else:
        if entry.seen != now:
            age_entry(entry, now)
        frame = entry.frame
    if qname is None:
        if query_head[2] & 1:
            return query_head[0:2] + frame
        return query_head[0:2] + bytes((frame[0] & 0xFE,)) + frame[1:]
    head = frame[:10] if query_head[2] & 1 else bytes((frame[0] & 0xFE,)) + frame[1:10]
    return query_head[0:2] + head + qname + frame[10 + entry.qlen :]
