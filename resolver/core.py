"""The query path, independent of the transport that carried the query.

`Resolver.answer_fast` runs synchronously on raw bytes: it refuses, rejects, or answers from
the cache. Only when it needs an upstream does it hand back the parsed Query, and the
transport runs `Resolver.answer_slow` as a task.
"""

from __future__ import annotations

import asyncio
import logging
import struct
import time
from pathlib import Path
from typing import Protocol

from blocklists.spec import ListSpec
from resolver import wire
from resolver.access import AccessList
from resolver.answers import Sinkhole, blocked_entry
from resolver.cache import AnswerCache, Entry, render
from resolver.counters import Counters
from resolver.policy import ACTION_CODES, Block, Policy
from resolver.settings import (
    AccessSettings,
    BlockingSettings,
    CacheSettings,
    DnsSettings,
    HostPort,
    LocalSettings,
)
from resolver.upstream import Forwarder, UpstreamBusy, UpstreamError

log = logging.getLogger("straja.resolver")

_H = struct.Struct("!HHHHHH")
_U32 = struct.Struct("!I")

TCP_MAX = 65535


class ServerConfig(Protocol):
    """The config sections the data plane reads (admin.config.Config provides them)."""

    dns: DnsSettings
    cache: CacheSettings
    access: AccessSettings
    upstreams: list[HostPort]
    blocking: BlockingSettings
    local: LocalSettings
    lists: list[ListSpec]

    @property
    def state_path(self) -> Path: ...


class Resolver:
    """Answers queries: ACL, parsing, cache, forwarding. One per worker process."""

    def __init__(self, config: ServerConfig) -> None:
        self.counters = Counters()
        self.cache = AnswerCache(config.cache.max_entries, config.cache.max_bytes)
        self._inflight: dict[bytes, asyncio.Future[Entry | None]] = {}
        self.policy = Policy(())
        self.generation = 0
        self.tag = b"\x00\x00\x00\x00"
        self.configure(config)

    def configure(self, config: ServerConfig) -> None:
        """Apply a (re)loaded config without dropping the cache or in-flight queries."""
        self.config = config
        self.acl = AccessList.from_settings(config.access.allow, config.dns.listen)
        self.max_udp = config.dns.max_udp_size
        self.cache.resize(config.cache.max_entries, config.cache.max_bytes)
        self.forwarder = Forwarder(
            config.upstreams,
            timeout=config.dns.upstream_timeout,
            max_in_flight=config.dns.max_upstream_in_flight,
            udp_size=config.dns.max_udp_size,
        )
        c = config.cache
        self.min_ttl = int(c.min_ttl)
        self.max_ttl = int(c.max_ttl)
        self.negative_max_ttl = int(c.negative_max_ttl)
        self.serve_stale = int(c.serve_stale)
        self.stale_ttl = int(c.stale_answer_ttl)
        b = config.blocking
        self.block_action = ACTION_CODES[b.action]
        self.block_ttl = int(b.ttl)
        self.sinkhole = Sinkhole(b.sinkhole.ipv4, b.sinkhole.ipv6)
        self.next_generation()

    def set_policy(self, policy: Policy) -> None:
        """Swap in a new policy generation; no cached answer made under the old one is served."""
        self.policy = policy
        self.next_generation()

    def next_generation(self) -> None:
        self.generation = (self.generation + 1) & 0xFFFFFFFF
        self.tag = struct.pack("!I", self.generation)

    # -- the hot path ------------------------------------------------------------------

    def answer_fast(self, data: bytes, host: str, tcp: bool) -> bytes | wire.Query | None:
        """Bytes to send, a Query that needs the slow path, or None to drop the packet."""
        counters = self.counters
        counters.queries += 1
        if len(data) < 12 or data[2] & 0x80:
            counters.dropped += 1  # not even a header, or a response: never answer those
            return None
        try:
            query = wire.parse_query(data)
        except wire.WireError:
            counters.formerr += 1
            return wire.error_response(data, wire.FORMERR, None, self.max_udp)
        if not self.acl.allowed(host):
            counters.refused_acl += 1
            return wire.error_response(data, wire.REFUSED, query, self.max_udp)
        if query.flags & 0x7800:
            counters.notimp += 1
            return wire.error_response(data, wire.NOTIMP, query, self.max_udp)
        if query.edns_version:
            counters.badvers += 1
            return wire.error_response(data, wire.BADVERS, query, self.max_udp)
        if query.qclass != wire.CLASS_IN or query.qtype in (wire.TYPE_AXFR, wire.TYPE_IXFR):
            return wire.error_response(data, wire.REFUSED, query, self.max_udp)
        query.key += self.tag
        entry = self.cache.entries.get(query.key)
        if entry is not None:
            now = int(time.monotonic())
            if now < entry.expires:
                counters.cache_hits += 1
                if entry.blocked_by is not None:
                    counters.count_block(entry.blocked_by, entry.tier)  # type: ignore[arg-type]
                return self.fit(render(entry, data, query.qname, now), query, tcp)
        counters.cache_misses += 1
        block = self.policy.decide(wire.name_labels(query.question[:-4]))
        if block is not None:
            now = int(time.monotonic())
            entry = self._block(query, block, now)
            return self.fit(render(entry, data, query.qname, now), query, tcp)
        return query

    def _block(self, query: wire.Query, block: Block, now: int) -> Entry:
        """Build, cache and count the blocked answer for `query`."""
        action = block.action if block.action is not None else self.block_action
        entry = blocked_entry(
            query, action, self.block_ttl, self.sinkhole, block.ede, block.list_id, now
        )
        entry.blocked_by = block.list_id
        entry.tier = block.tier
        self.cache.put(query.key, entry)
        self.counters.count_block(block.list_id, block.tier)
        return entry

    def fit(self, response: bytes, query: wire.Query, tcp: bool) -> bytes:
        """The response, or a TC=1 stub when it exceeds what the client can take over UDP."""
        if tcp:
            return response
        limit = min(query.udp_size, self.max_udp) if query.has_opt else wire.MIN_UDP
        if len(response) <= limit:
            return response
        self.counters.truncated += 1
        return wire.truncated_response(response, query, self.max_udp)

    # -- the slow path -----------------------------------------------------------------

    async def answer_slow(self, data: bytes, query: wire.Query, tcp: bool) -> bytes:
        """Resolve through the upstreams (coalescing identical questions), cache, answer."""
        pending = self._inflight.get(query.key)
        if pending is not None:
            self.counters.coalesced += 1
            entry = await asyncio.shield(pending)
        else:
            future: asyncio.Future[Entry | None] = asyncio.get_running_loop().create_future()
            self._inflight[query.key] = future
            try:
                entry = await self._fetch(query)
                future.set_result(entry)
            except BaseException:
                future.set_result(None)
                raise
            finally:
                del self._inflight[query.key]
        now = int(time.monotonic())
        if entry is not None and now <= entry.expires:
            return self.fit(render(entry, data, query.qname, now), query, tcp)
        stale = self.cache.entries.get(query.key)
        if stale is not None and now < stale.stale_until:
            self.counters.stale_served += 1
            return self.fit(render(stale, data, query.qname, now, self.stale_ttl), query, tcp)
        if entry is not None:
            # Answered but not cacheable (TTL 0, or an rcode we do not cache).
            return self.fit(render(entry, data, query.qname, now), query, tcp)
        self.counters.servfail += 1
        return wire.error_response(data, wire.SERVFAIL, query, self.max_udp)

    async def _fetch(self, query: wire.Query) -> Entry | None:
        question = query.question
        try:
            raw = await self.forwarder.resolve(question, query.has_opt, query.do, query.cd)
        except UpstreamBusy:
            self.counters.upstream_busy += 1
            return None
        except UpstreamError as exc:
            self.counters.upstream_failures += 1
            log.debug("no upstream answered %s: %s", query.name_text(), exc)
            return None
        try:
            parsed = wire.parse_answer(raw, query.qend)
        except wire.WireError as exc:
            self.counters.upstream_failures += 1
            log.warning("malformed upstream answer for %s: %s", query.name_text(), exc)
            return None
        self.counters.upstream_answers += 1
        for target in parsed.targets:
            # CNAME cloaking: a tracker or a listed site behind an innocent-looking alias.
            block = self.policy.decide(wire.name_labels(target))
            if block is not None:
                self.counters.blocked_cname += 1
                return self._block(query, block, int(time.monotonic()))
        return self._store(query, question, parsed)

    def _store(self, query: wire.Query, question: bytes, parsed: wire.ParsedAnswer) -> Entry:
        """Turn an upstream answer into a cache entry (and cache it when it may be cached)."""
        flags = (parsed.flags & ~(wire.TC | wire.AA)) | wire.QR | wire.RA
        arcount = parsed.arcount + (1 if query.has_opt else 0)
        head = _H.pack(0, flags, 1, parsed.ancount, parsed.nscount, arcount)
        base = 12 + len(question)
        rcode = parsed.rcode
        lifetime = 0
        cacheable = rcode in (wire.NOERROR, wire.NXDOMAIN) and not parsed.ext_rcode
        negative = rcode == wire.NXDOMAIN or not parsed.ancount
        cap = self.max_ttl
        if cacheable and negative:
            # RFC 2308: cache only with an SOA in authority, for min(SOA TTL, MINIMUM), and
            # serve no record with a longer TTL than that.
            if parsed.negative_ttl is None:
                cacheable = False
            else:
                lifetime = min(parsed.negative_ttl, self.negative_max_ttl)
                if parsed.min_ttl is not None:
                    lifetime = min(lifetime, parsed.min_ttl)
                cap = lifetime
        elif cacheable:
            lifetime = parsed.min_ttl if parsed.min_ttl is not None else 0
            lifetime = min(max(lifetime, self.min_ttl), self.max_ttl)

        body = bytearray(parsed.body)
        offsets = tuple(base + off for off in parsed.ttl_offsets)
        ttls = []
        for off in parsed.ttl_offsets:
            ttl = _U32.unpack_from(body, off)[0]
            ttl = min(max(0 if ttl & 0x80000000 else ttl, self.min_ttl), cap)
            _U32.pack_into(body, off, ttl)
            ttls.append(ttl)
        opt = b""
        if query.has_opt:
            opt = wire.opt_record(self.max_udp, query.do, parsed.ext_rcode)
        response = head + question + bytes(body) + opt

        now = int(time.monotonic())
        entry = Entry(
            wire=response,
            ttl_offsets=offsets,
            ttls=tuple(ttls),
            stored=now,
            expires=now + lifetime,
            stale_until=now + lifetime + self.serve_stale,
            qend=base,
        )
        if cacheable:
            self.cache.put(query.key, entry)
        return entry
