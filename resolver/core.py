"""The query path, independent of the transport that carried the query.

`Resolver.answer_fast` runs synchronously on raw bytes: it refuses, rejects, or answers from
the cache. Only when it needs an upstream does it hand back the parsed Query, and the
transport runs `Resolver.answer_slow` as a task.
"""

from __future__ import annotations

import asyncio
import logging
import math
import struct
import time
from collections.abc import Sequence
from datetime import datetime
from pathlib import Path
from typing import Protocol
from zoneinfo import ZoneInfo

from blocklists.spec import ListSpec
from resolver import counters as kinds
from resolver import wire
from resolver.access import AccessList
from resolver.answers import Sinkhole, any_entry, blocked_entry, local_entry, rewritten_entry
from resolver.cache import AnswerCache, Entry, render
from resolver.clientid import BadClientSubnet, client_identity
from resolver.counters import Counters
from resolver.groups import (
    Group,
    GroupSettings,
    PolicyFactory,
    next_minute,
)
from resolver.groups import retire as retire_groups
from resolver.groups import tick as tick_groups
from resolver.localnames import (
    ForwardRule,
    LocalAnswer,
    LocalNames,
    LocalRecordError,
    build_local_names,
    ddr_records,
    file_stamp,
)
from resolver.operator_state import NO_OPERATOR_STATE, OperatorState, PolicySource
from resolver.policy import ACTION_CODES, Block, Policy
from resolver.policy import NXDOMAIN as NXDOMAIN_ACTION
from resolver.ratelimit import Bucket, RateLimiter, RateLimitSettings
from resolver.settings import (
    AccessSettings,
    BlockingSettings,
    CacheSettings,
    DnsSettings,
    LocalSettings,
    UpstreamTlsSettings,
)
from resolver.upstream import Forwarder, UpstreamBusy, UpstreamError
from resolver.upstream_spec import Strategy, UpstreamSpec

log = logging.getLogger("straja.resolver")

_H = struct.Struct("!HHHHHH")
_U32 = struct.Struct("!I")

_ONE_QUESTION = b"\x00\x01\x00\x00\x00\x00"  # QDCOUNT 1, ANCOUNT 0, NSCOUNT 0
_NO_RECORDS = b"\x00\x00"
_ONE_RECORD = b"\x00\x01"
_NO_EDNS = (0, wire.MIN_UDP)  # a query without OPT: no key flag, 512-byte answers

# Response kinds of the parsing path that no cache entry carries (see resolver/counters.py)
_REFUSED_REFUSED = (kinds.REFUSED, wire.REFUSED, None)
_REFUSED_FORMERR = (kinds.REFUSED, wire.FORMERR, None)
_RATELIMITED_SLIPPED = (kinds.RATELIMITED, wire.NOERROR, None)  # TC=1: retry over TCP
_REFUSED_NOTIMP = (kinds.REFUSED, wire.NOTIMP, None)
_REFUSED_BADVERS = (kinds.REFUSED, wire.BADVERS, None)
SERVFAIL_KIND = (kinds.SERVFAIL, wire.SERVFAIL, None)


def _fresh(entry: Entry) -> kinds.Kind:
    """The kind of an entry's answer sent as it arrives from the slow path: an upstream
    answer is `answered` (its later hits are `cached`); blocked and rewritten stay so."""
    kind = entry.box.kind
    if kind[0] == kinds.CACHED:
        return (kinds.ANSWERED, kind[1], None)
    return kind


class ServerConfig(Protocol):
    """The config sections the data plane reads (admin.config.Config provides them)."""

    dns: DnsSettings
    cache: CacheSettings
    access: AccessSettings
    upstreams: list[UpstreamSpec]
    upstream_strategy: Strategy
    upstream_tls: UpstreamTlsSettings
    blocking: BlockingSettings
    local: LocalSettings
    lists: list[ListSpec]
    groups: list[GroupSettings]
    timezone: str | None
    forward: list[ForwardRule]
    local_records: list[str]
    local_hosts: str | None
    rate_limit: RateLimitSettings

    @property
    def state_path(self) -> Path: ...


# Names whose NXDOMAIN tells clients not to bypass the network's resolver: Firefox's DoH
# canary and iCloud Private Relay.
BYPASS_CANARIES = ("use-application-dns.net", "mask.icloud.com", "mask-h2.icloud.com")

# Allowed by the ACL, its group, a trusted forwarder, its rate-limit bucket (None: unlimited)
Client = tuple[bool, Group, bool, Bucket | None]


def local_now(timezone: str | None) -> datetime:
    """The wall-clock time schedules are read in: the config's timezone, else the system's."""
    if timezone:
        return datetime.now(ZoneInfo(timezone))
    return datetime.now().astimezone()


class Resolver:
    """Answers queries: ACL, parsing, groups, cache, policy, forwarding. One per worker."""

    def __init__(self, config: ServerConfig) -> None:
        self.counters = Counters()
        self.counters.probe = self._probe
        self.cache = AnswerCache(config.cache.max_entries, config.cache.max_bytes)
        self._inflight: dict[bytes, asyncio.Future[Entry | None]] = {}
        self.generation = 0
        self.make_policy: PolicyFactory = lambda ids: Policy(())
        self.policy_source: PolicySource = lambda local: lambda ids: Policy(())
        self.operator: OperatorState = NO_OPERATOR_STATE  # published overrides, groups, pauses
        self.operator_deadline = math.inf  # unix time an override or pause ends by itself
        self.clients: dict[str, Client] = {}
        self.schedule_deadline = 0.0  # monotonic time of the next schedule boundary
        self.second = int(time.monotonic())  # the current monotonic second, one object
        self.fast_until = 0.0  # min(schedule_deadline, second + 1): when to _advance
        self._background: set[asyncio.Task[None]] = set()
        # Why the last upstream query for a key failed: (EDE code, text), for its SERVFAIL
        self.failures: dict[bytes, tuple[int, str]] = {}
        self._policy_inputs: object = None
        self.local_names: LocalNames | None = None
        self.hosts_stamp: tuple[float, int] | None = None
        self.forwards: dict[bytes, Forwarder] = {}
        self.configure(config)

    def configure(self, config: ServerConfig) -> None:
        """Apply a (re)loaded config without dropping the cache or in-flight queries."""
        self.config = config
        self.acl = AccessList.from_settings(config.access.allow, config.dns.listen)
        self.trusted = AccessList.from_settings(config.access.trusted_forwarders, ())
        self.max_udp = config.dns.max_udp_size
        # OPT records seen (11 bytes) -> (cache key flags, UDP answer limit); see answer_fast
        self.edns_forms: dict[bytes, tuple[int, int]] = {}
        self.cache.resize(config.cache.max_entries, config.cache.max_bytes)
        old_forwards = getattr(self, "forwards", {})
        forwarder = self._forwarder(config, config.upstreams, getattr(self, "forwarder", None))
        forwards = {}
        for rule in config.forward:
            domain = wire.text_to_name(rule.domain)
            forwards[domain] = self._forwarder(config, rule.upstreams, old_forwards.get(domain))
        self.close_upstreams(keep=[forwarder, *forwards.values()])
        self.forwarder, self.forwards = forwarder, forwards
        self.limiter = RateLimiter(config.rate_limit, config.dns.listen)
        c = config.cache
        self.min_ttl = int(c.min_ttl)
        self.max_ttl = int(c.max_ttl)
        self.negative_max_ttl = int(c.negative_max_ttl)
        self.serve_stale = int(c.serve_stale)
        self.stale_ttl = int(c.stale_answer_ttl)
        self.stale_client_timeout = c.stale_answer_client_timeout
        b = config.blocking
        self.block_action = ACTION_CODES[b.action]
        self.block_ttl = int(b.ttl)
        self.sinkhole = Sinkhole(b.sinkhole.ipv4, b.sinkhole.ipv6)
        self.canaries = (
            {wire.text_to_name(n) for n in BYPASS_CANARIES} if b.encrypted_dns_canaries else set()
        )
        self.timezone = config.timezone
        # A reload that changes nothing the decisions depend on (upstreams, cache sizes,
        # timeouts, the ACL) keeps the policy generation, so the cache stays valid.
        policy_inputs = (config.groups, config.local, config.blocking, config.timezone,
                         config.lists, config.forward, config.local_records,
                         config.local_hosts)
        if policy_inputs != self._policy_inputs:
            self._policy_inputs = policy_inputs
            self.load_local_names()
            self.rebuild()
        else:
            self.clients = {}

    def _probe(self) -> dict[str, object]:
        """What the counter snapshot carries beside counts: the cache's size and each
        upstream's consecutive failures (0: its last answer was usable)."""
        return {
            "cache_entries": len(self.cache.entries),
            "upstream_health": {u.label: u.failures for u in self.forwarder.upstreams},
            "upstream_errors": {u.label: u.last_error for u in self.forwarder.upstreams
                                if u.last_error},
        }

    def _forwarder(self, config: ServerConfig, upstreams: list[UpstreamSpec],
                   previous: Forwarder | None) -> Forwarder:
        return Forwarder(
            upstreams,
            timeout=config.dns.upstream_timeout,
            max_in_flight=config.dns.max_upstream_in_flight,
            udp_size=config.dns.max_udp_size,
            max_wait=config.dns.upstream_max_wait,
            counters=self.counters,
            previous=previous,
            strategy=config.upstream_strategy,
            ca_file=config.upstream_tls.ca_file,
            results=self.counters.upstreams,
            latency=self.counters.latency,
        )

    def _all_forwarders(self) -> list[Forwarder]:
        current = getattr(self, "forwarder", None)
        return [f for f in (current, *getattr(self, "forwards", {}).values()) if f is not None]

    def close_upstreams(self, keep: Sequence[Forwarder] = ()) -> None:
        """Close the kept DoT/DoH connections of the current forwarders, but for upstreams
        that `keep` carries on (a reload keeps an unchanged upstream and its health)."""
        kept = {id(u) for f in keep for u in f.upstreams}
        for forwarder in self._all_forwarders():
            for upstream in forwarder.upstreams:
                if id(upstream) not in kept:
                    upstream.close()

    def load_local_names(self) -> None:
        """(Re)build the local answers from the config and the hosts file. A hosts file
        that cannot be read leaves its names out; bad config lines never get this far
        (`config check` refuses them)."""
        config = self.config
        self.hosts_stamp = file_stamp(config.local_hosts)
        try:
            dns = config.dns
            extra = ddr_records(dns.listen, dns.tls_listen, dns.https_listen,
                                dns.tls_cert or "") if dns.ddr else []
            self.local_names = build_local_names(
                config.local_records, config.local_hosts, config.forward, extra
            )
        except (LocalRecordError, OSError, ValueError) as exc:
            log.error("local names not loaded, the previous ones stay: %s", exc)

    def poll_files(self) -> None:
        """Called once a second by the list watcher: re-read a changed `local_hosts` file
        and move the generation on, so no answer from the old file is served again."""
        path = self.config.local_hosts
        if path and file_stamp(path) != self.hosts_stamp:
            log.info("local_hosts %s changed; reloading it", path)
            self.load_local_names()
            self.rebuild()

    def set_policy_source(self, source: PolicySource) -> None:
        """Swap in new lists (`source` makes a policy factory from the local overrides):
        every group's policy is rebuilt under a new generation, so no cached answer made
        under the old lists is served again."""
        self.policy_source = source
        self.rebuild()

    def set_operator_state(self, state: OperatorState) -> None:
        """Take newly published overrides, groups and pauses, under a new generation."""
        self.operator = state
        self.rebuild()

    def rebuild(self) -> None:
        self.generation = (self.generation + 1) & 0xFFFFFFFF
        # Every cache key ends with its group's tag, which holds the generation, so no entry
        # made before can be hit again: free them now rather than let them hold the cache's
        # bound (and memory) until the FIFO pushes them out, crowding out live answers.
        self.cache.clear()
        now = local_now(self.timezone)
        self.groups, self.make_policy, self.operator_deadline = self.operator.build(
            self.config.groups, self.config.local, self.policy_source, now, self.generation
        )
        self.clients = {}
        self._schedule_next(now)

    def _schedule_next(self, now: datetime) -> None:
        wait = (next_minute(now) - now).total_seconds()
        if self.operator_deadline < math.inf:  # an override or pause ends before that?
            wait = min(wait, max(0.0, self.operator_deadline - now.timestamp()))
        self.schedule_deadline = time.monotonic() + wait
        self.fast_until = min(self.schedule_deadline, self.second + 1)

    def _now(self) -> int:
        """The current monotonic second, as the one int object of that second that a fresh
        entry's `seen` may point at (see Entry.seen)."""
        if time.monotonic() >= self.fast_until:
            self._advance()
        return self.second

    def _advance(self) -> None:
        """Called when the monotonic clock reaches `fast_until`: a new second began (a new
        `second` object, see Entry.seen), a schedule boundary passed, or both."""
        mono = time.monotonic()
        self.second = int(mono)
        if mono >= self.schedule_deadline:
            self.tick()  # calls _schedule_next
        else:
            self.fast_until = min(self.schedule_deadline, self.second + 1)

    def tick(self) -> None:
        """A minute boundary passed: open or close schedule windows. When a published
        override or pause has ended, everything is rebuilt under a new generation."""
        now = local_now(self.timezone)
        if now.timestamp() >= self.operator_deadline:
            log.info("a published override or pause ended; the policy is rebuilt")
            retire_groups(self.groups)  # answer_fast may hold one of them right now
            self.rebuild()
            return
        tags = {id(g): g.tag for g in self.groups.groups}
        changed = tick_groups(self.groups, self.make_policy, now)
        if changed:
            log.info("schedule windows changed for %s", ", ".join(changed))
            # The changed groups' old tags can no longer be hit (see rebuild).
            self.cache.drop_tagged({tags[id(g)] for g in self.groups.groups
                                    if g.tag != tags[id(g)]})
        self._schedule_next(now)

    def client(self, host: str) -> Client:
        """What we know about a client address (cached per address)."""
        found = self.clients.get(host)
        if found is None:
            trusted = self.trusted.allowed(host)
            found = (self.acl.allowed(host), self.groups.for_address(host), trusted,
                     self.limiter.bucket(host, trusted))
            if len(self.clients) > 65536:
                self.clients.clear()
            self.clients[host] = found
        return found

    def forwarded_group(self, data: bytes, query: wire.Query, group: Group) -> Group:
        """The group of the client behind a trusted forwarder: by dnsmasq's MAC option
        (65001), else by EDNS Client Subnet; the forwarder's own group otherwise."""
        identity = client_identity(wire.edns_options(data, query.opt_at, query.opt_len))
        if identity.mac is not None:
            by_mac = self.groups.for_mac(identity.mac)
            if by_mac is not None:
                return by_mac
        if identity.address is not None:
            return self.groups.for_address(identity.address)
        return group

    # -- the hot path ------------------------------------------------------------------

    def answer_fast(self, data: bytes, host: str, tcp: bool) -> bytes | wire.Query | None:
        """Bytes to send, a Query that needs the slow path, or None to drop the packet."""
        counters = self.counters
        # The common case first, on raw bytes and without building a Query: one question,
        # no other records but an OPT without options, a client that is allowed and is not
        # a forwarder, and the answer in the cache. A key can only be in the cache if the
        # same bytes once parsed as a valid question, so no parsing is needed to trust it.
        n = len(data)
        if n > 16 and data[4:10] == _ONE_QUESTION and not data[2] & 0xF8:
            ar = data[10:12]
            form = None
            if ar == _NO_RECORDS:
                qend = n
                form = _NO_EDNS
            elif ar == _ONE_RECORD:
                # An OPT record the slow path has parsed before, byte for byte
                form = self.edns_forms.get(data[n - 11 :])
                qend = n - 11
            if form is not None:
                client = self.clients.get(host)
                if client is not None and client[0] and not client[2]:
                    if time.monotonic() >= self.fast_until:  # self._now(), inlined
                        self._advance()
                    now = self.second
                    # Keys hold names in lowercase: most queries' bytes are the key as
                    # they are, and their answer is the entry's frame as it is. The CD bit
                    # (0x10 of header byte 3) shifted right by 2 is the key's KEY_CD (4).
                    key_end = client[1].key_ends[form[0] | (data[3] & 0x10) >> 2]
                    entries = self.cache.entries
                    entry = entries.get(data[12:qend] + key_end)
                    qname = None
                    if entry is None:
                        qname = data[12 : qend - 4]
                        entry = entries.get(qname.lower() + data[qend - 4 : qend] + key_end)
                    if entry is not None and (entry.seen is now or now < entry.expires):
                        # The rate limit only here, so a miss is charged once (below)
                        bucket = client[3]
                        if bucket is not None and not tcp and not self.limiter.take(bucket,
                                                                                   now):
                            counters.queries += 1
                            return self._limited(data, bucket)
                        if entry.seen is now and qname is None and data[2] & 1:
                            response = data[0:2] + entry.frame  # render()'s common case
                        else:
                            response = render(entry, data, qname, now)
                        if tcp or len(response) <= form[1]:
                            # A query, a cache hit, a response of the entry's kind and
                            # (blocked) a hit on its list, in one count (see counters.py).
                            entry.box.n += 1
                            return response
        counters.queries += 1
        if len(data) < 12 or data[2] & 0x80:
            counters.dropped += 1  # not even a header, or a response: never answer those
            return None
        allowed, group, trusted, bucket = self.clients.get(host) or self.client(host)
        if bucket is not None and not tcp and not self.limiter.take(bucket, self._now()):
            return self._limited(data, bucket)
        # The opcode before anything else (genreport's `opcode`: a header-only query with
        # opcode 15 is NOTIMP, not FORMERR for its missing question).
        if data[2] & 0x78:
            counters.notimp += 1
            counters.count(_REFUSED_NOTIMP)
            return wire.salvage_response(data, wire.NOTIMP, self.max_udp)
        try:
            query = wire.parse_query(data)
        except wire.WireError:
            counters.formerr += 1
            counters.count(_REFUSED_FORMERR)
            return wire.salvage_response(data, wire.FORMERR, self.max_udp)
        if not allowed:
            counters.refused_acl += 1
            counters.count(_REFUSED_REFUSED)
            return wire.error_response(data, wire.REFUSED, query, self.max_udp)
        if query.edns_version:
            counters.badvers += 1
            counters.count(_REFUSED_BADVERS)
            return wire.error_response(data, wire.BADVERS, query, self.max_udp)
        if query.qclass != wire.CLASS_IN or query.qtype in (wire.TYPE_AXFR, wire.TYPE_IXFR):
            counters.count(_REFUSED_REFUSED)
            return wire.error_response(data, wire.REFUSED, query, self.max_udp)
        if query.has_opt and query.opt_at == len(data) and query.qend == len(data) - 11:
            self._learn_edns_form(data, query)
        now = self._now()
        if trusted and query.opt_len:
            try:
                group = self.forwarded_group(data, query, group)
            except BadClientSubnet:
                counters.formerr += 1
                return wire.error_response(data, wire.FORMERR, query, self.max_udp)
        query.key += group.tag
        query.group = group
        entry = self.cache.entries.get(query.key)
        if entry is not None and now < entry.expires:
            counters.cache_hits += 1
            counters.count(entry.box.kind)
            return self.fit(render(entry, data, query.qname, now), query, tcp)
        counters.cache_misses += 1
        qname = query.question[:-4]
        block: Block | None
        labels = wire.name_labels(qname)
        if qname in self.canaries:
            block = Block("encrypted-dns-canary", "operator", NXDOMAIN_ACTION, 0)
        else:
            policy = group.policy
            if policy.client_lists and policy.client_dependent(labels, query.qtype):
                # A `$client` rule names this name (h/lists): decided for this client, and
                # cached under a key of its own, never served to the group's others.
                query.key += b"\x00" + host.encode()
                block = policy.decide(labels, query.qtype, host)
            else:
                block = policy.decide(labels, query.qtype)
        if block is not None:
            if block.rewrite is not None and block.rewrite.cname is not None:
                # `$dnsrewrite` to a CNAME (h/lists): its target is resolved upstream, and
                # checked by policy like any CNAME target in an answer.
                query.rewrite = block.rewrite.cname
                return query
            entry = self._block(query, block, group, now)
            counters.count(entry.box.kind)
            return self.fit(render(entry, data, query.qname, now), query, tcp)
        if query.qtype == wire.TYPE_ANY:
            # RFC 8482 4.2: one synthesized HINFO RRset, without asking the upstreams
            entry = any_entry(query, now)
            entry.box = counters.box(kinds.LOCAL, wire.NOERROR)
            self.cache.put(query.key, entry)
            counters.any_synthesized += 1
            counters.count(entry.box.kind)
            return self.fit(render(entry, data, query.qname, now), query, tcp)
        local = self.local_names.answer(
            qname, query.qtype, labels[0] if labels else b""
        ) if self.local_names else None
        if local is not None:
            if local.chase is None:
                entry = self._local(query, local, now)
                counters.count(entry.box.kind)
                return self.fit(render(entry, data, query.qname, now), query, tcp)
            query.rewrite = local.chase  # a local CNAME to a name resolved upstream
            return query
        if group.safe:
            query.rewrite = group.safe.get(qname)
        return query

    def _limited(self, data: bytes, bucket: Bucket) -> bytes | None:
        """A query over its client's rate: dropped, or every `slip`th one answered with an
        empty truncated answer so that a real client retries over TCP."""
        counters = self.counters
        counters.ratelimited += 1
        if not self.limiter.slips(bucket) or len(data) < 12 or data[2] & 0xF8:
            return None
        try:
            query = wire.parse_query(data)
        except wire.WireError:
            return None
        counters.ratelimit_slipped += 1
        counters.count(_RATELIMITED_SLIPPED)
        empty = wire.error_response(data, wire.NOERROR, query, self.max_udp)
        return empty[:2] + bytes((empty[2] | 0x02,)) + empty[3:]  # TC: retry over TCP

    def _learn_edns_form(self, data: bytes, query: wire.Query) -> None:
        """Remember a valid option-less OPT record, the query's last 11 bytes, so that the
        fast path takes the next query ending in the same bytes without parsing it."""
        if len(self.edns_forms) >= 256:  # a client cycling through sizes and flags
            self.edns_forms.clear()
        self.edns_forms[data[-11:]] = (
            wire.KEY_OPT | (wire.KEY_DO if query.do else 0),
            min(query.udp_size, self.max_udp),
        )

    def _block(self, query: wire.Query, block: Block, group: Group, now: int) -> Entry:
        """Build and cache the blocked answer for `query` (counted where it is sent)."""
        action = block.action
        if action is None:
            action = group.action if group.action is not None else self.block_action
        if block.rewrite is None:
            entry = blocked_entry(
                query, action, self.block_ttl, self.sinkhole, block.ede, block.list_id, now
            )
            entry.box = self.counters.box(
                kinds.BLOCKED, entry.frame[1] & 0x0F, block.list_id, block.tier
            )
        else:  # a list's `$dnsrewrite`: counted as `rewritten`, not as a hit of the list
            rewrite = block.rewrite
            entry = rewritten_entry(query, rewrite.action, rewrite.ipv4, rewrite.ipv6,
                                    self.block_ttl, now)
            entry.box = self.counters.box(kinds.REWRITTEN, entry.frame[1] & 0x0F)
        entry.blocked_by = block.list_id
        self.cache.put(query.key, entry)
        return entry

    def _local(self, query: wire.Query, local: LocalAnswer, now: int) -> Entry:
        """Build and cache a locally made answer (counted where it is sent)."""
        entry = local_entry(query, local, now)
        entry.box = self.counters.box(kinds.LOCAL, local.rcode)
        self.cache.put(query.key, entry)
        return entry

    def forwarder_for(self, question: bytes) -> Forwarder:
        """The upstreams for a question: the longest matching `forward:` domain's, else the
        default ones."""
        forwards = self.forwards
        if forwards:
            name = question[:-4]
            i = 0
            while i < len(name) and name[i]:
                found = forwards.get(name[i:])
                if found is not None:
                    return found
                i += 1 + name[i]
        return self.forwarder

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
        """Resolve through the upstreams (coalescing identical questions), cache, answer.

        With an expired answer still in the serve-stale window, the client waits at most
        `cache.stale_answer_client_timeout` (RFC 8767's 1.8 s) before it gets the stale
        answer; the upstream query goes on and refreshes the cache when it answers.
        """
        counters = self.counters
        stale_first = self.cache.entries.get(query.key)
        if stale_first is not None:
            mono = time.monotonic()
            if int(mono) < stale_first.expires:
                # Cached after answer_fast missed, by a fetch of the same question that
                # finished before this task ran: a hit after all, not stale to fetch again.
                counters.cache_misses -= 1
                counters.cache_hits += 1
                counters.count(stale_first.box.kind)
                return self.fit(render(stale_first, data, query.qname, int(mono)), query, tcp)
            if mono >= stale_first.expires + self.serve_stale:
                stale_first = None  # too old even to serve stale
        entry = await self._resolve(query, stale_first)
        # A fresh int, not self._now(): an answer rendered here may be at its expiry second
        # (TTL 0), and only an entry checked fresh may have `seen` set to the shared one.
        now = int(time.monotonic())
        if entry is not None and now <= entry.expires:
            counters.count(_fresh(entry))
            return self.fit(render(entry, data, query.qname, now), query, tcp)
        stale = self.cache.entries.get(query.key)
        if stale is not None and now < stale.expires + self.serve_stale:
            counters.stale_served += 1
            counters.count((kinds.STALE, stale.box.kind[1], None))
            return self.fit(self._stale(stale, data, query, now), query, tcp)
        if entry is not None:
            # Answered but not cacheable (TTL 0, or an rcode we do not cache).
            counters.count(_fresh(entry))
            return self.fit(render(entry, data, query.qname, now), query, tcp)
        counters.servfail += 1
        counters.count(SERVFAIL_KIND)
        return wire.error_response(data, wire.SERVFAIL, query, self.max_udp,
                                   self._failure_ede(query))

    def failed(self, data: bytes, query: wire.Query) -> bytes:
        """The SERVFAIL for a query whose slow path raised (counted like any SERVFAIL)."""
        self.counters.servfail += 1
        self.counters.count(SERVFAIL_KIND)
        return wire.error_response(data, wire.SERVFAIL, query, self.max_udp,
                                   self._failure_ede(query))

    async def _resolve(self, query: wire.Query, stale: Entry | None) -> Entry | None:
        """The entry for `query` from the upstreams: joined to a fetch already in flight,
        else a new one. With a `stale` answer to fall back on, waited for at most
        `stale_client_timeout` (None when it ran out), the fetch going on by itself."""
        pending = self._inflight.get(query.key)
        if pending is not None:
            self.counters.coalesced += 1
        elif stale is not None and self.stale_client_timeout:
            pending = self._fetch_in_background(query)
        if pending is not None:
            if stale is not None and self.stale_client_timeout:
                done, _ = await asyncio.wait((pending,), timeout=self.stale_client_timeout)
                return pending.result() if done else None
            return await asyncio.shield(pending)
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
        return entry

    def _stale(self, entry: Entry, data: bytes, query: wire.Query, now: int) -> bytes:
        """A stale answer (RFC 8767) with the Extended DNS Error that says so (RFC 8914):
        3, Stale Answer, or 19, Stale NXDOMAIN Answer."""
        response = render(entry, data, query.qname, now, self.stale_ttl)
        if not query.has_opt:
            return response
        nxdomain = response[3] & 0xF == wire.NXDOMAIN
        code = wire.EDE_STALE_NXDOMAIN if nxdomain else wire.EDE_STALE_ANSWER
        return wire.add_ede(response, code)

    def _failure_ede(self, query: wire.Query) -> bytes:
        """The Extended DNS Error of a SERVFAIL the upstreams caused: 22 (No Reachable
        Authority) when none answered in time or all are marked down, 23 (Network Error)
        when they refused, failed or sent answers we could not use."""
        if not query.has_opt:
            return b""
        failure = self.failures.get(query.key)
        if failure is None:
            return wire.ede_option(wire.EDE_NO_REACHABLE_AUTHORITY)
        return wire.ede_option(failure[0], failure[1])

    def _fetch_in_background(self, query: wire.Query) -> asyncio.Future[Entry | None]:
        """Start fetching `query` in a task of its own, registered for coalescing."""
        loop = asyncio.get_running_loop()
        future: asyncio.Future[Entry | None] = loop.create_future()
        key = query.key
        self._inflight[key] = future

        async def fetch() -> None:
            try:
                result = await self._fetch(query)
            except Exception:
                log.exception("refreshing %s failed", query.name_text())
                result = None
            finally:
                self._inflight.pop(key, None)
            future.set_result(result)

        task = loop.create_task(fetch())
        self._background.add(task)
        task.add_done_callback(self._background.discard)
        return future

    async def _fetch(self, query: wire.Query) -> Entry | None:
        question = query.question
        if query.rewrite is not None:
            question = query.rewrite + question[-4:]
        forwarder = self.forwarder_for(question)
        try:
            raw, upstream = await forwarder.exchange(question, query.has_opt, query.do, query.cd)
        except UpstreamBusy:
            self.counters.upstream_busy += 1
            self._failed(query, wire.EDE_NETWORK_ERROR, "too many upstream queries in flight")
            return None
        except UpstreamError as exc:
            self.counters.upstream_failures += 1
            log.debug("no upstream answered %s: %s", query.name_text(), exc)
            self._failed(query, exc.ede, "")
            return None
        try:
            if query.rewrite is not None:
                raw = safe_search_answer(raw, query)
            parsed = wire.parse_answer(raw, query.qend)
        except wire.WireError as exc:
            self.counters.upstream_failures += 1
            self.counters.upstream_malformed += 1
            forwarder.count(upstream, kinds.UPSTREAM_BAD_ANSWER)
            log.warning("malformed upstream answer for %s: %s", query.name_text(), exc)
            self._failed(query, wire.EDE_NETWORK_ERROR, "malformed upstream answer")
            return None
        self.counters.upstream_answers += 1
        forwarder.count(upstream, kinds.UPSTREAM_OK)
        group: Group = query.group
        for target in parsed.targets:
            # CNAME cloaking: a tracker or a listed site behind an innocent-looking alias.
            block = group.policy.decide(wire.name_labels(target))
            if block is not None:
                self.counters.blocked_cname += 1
                return self._block(query, block, group, int(time.monotonic()))
        return self._store(query, query.question, parsed)

    def _failed(self, query: wire.Query, code: int, text: str) -> None:
        if len(self.failures) >= 1024:
            self.failures.clear()
        self.failures[query.key] = (code, text)

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

        entry = Entry.from_wire(response, base, offsets, ttls, self._now(), lifetime)
        action = kinds.CACHED if query.rewrite is None else kinds.REWRITTEN
        entry.box = self.counters.box(action, rcode)
        if cacheable:
            self.cache.put(query.key, entry)
        return entry


def safe_search_answer(raw: bytes, query: wire.Query) -> bytes:
    """The answer for a safe-search name: a CNAME to the engine's safe host followed by that
    host's records, so the very first query gets addresses. Built with dnslib (slow path)."""
    import dnslib

    try:
        upstream = dnslib.DNSRecord.parse(raw)
    except (dnslib.DNSError, struct.error, IndexError, ValueError) as exc:
        raise wire.WireError(f"unreadable upstream answer: {exc}") from None
    name = wire.name_to_text(query.question[:-4]) + "."
    target = wire.name_to_text(query.rewrite or b"\x00") + "."
    ttls = [rr.ttl for rr in upstream.rr] or [300]
    reply = dnslib.DNSRecord(
        dnslib.DNSHeader(id=0, qr=1, rd=1, ra=1, rcode=upstream.header.rcode),
        q=dnslib.DNSQuestion(name, query.qtype, query.qclass),
    )
    reply.add_answer(dnslib.RR(name, dnslib.QTYPE.CNAME, ttl=min(ttls),
                               rdata=dnslib.CNAME(target)))
    for rr in upstream.rr:
        reply.add_answer(rr)
    for rr in upstream.auth:
        reply.add_auth(rr)
    return bytes(reply.pack())
