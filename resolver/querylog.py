"""The opt-in query log, worker side: installed only when `query_log.enabled`, so with it
off not one instruction runs on the query path and nothing at all is recorded.

When on, the resolver's two answer methods are wrapped: each answered query becomes one
short tuple in a bounded in-memory buffer, and a background task appends the buffer to
state_dir/run/querylog-N.jsonl every INTERVAL seconds (the control side ingests and
removes those files). The query path never touches a file.

What is kept depends on the level: 0 the client's address, 1 its /24 (IPv4) or /48
(IPv6), 2 no client. A name a mandatory list blocks is never kept with a client, at any
level: the worker's live policy says so at the moment of the answer.
"""

from __future__ import annotations

import asyncio
import fcntl
import ipaddress
import json
import logging
import os
import struct
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from resolver import wire

log = logging.getLogger("straja.querylog")

INTERVAL = 2.0
MAX_BUFFER = 20000  # entries held between two writes; more are counted and dropped
MAX_SPOOL = 64 * 1024 * 1024  # bytes a spool file may reach while nobody ingests it

_QTYPES = {1: "A", 2: "NS", 5: "CNAME", 6: "SOA", 12: "PTR", 15: "MX", 16: "TXT", 28: "AAAA",
           33: "SRV", 64: "SVCB", 65: "HTTPS", 255: "ANY"}
_RCODES = {0: "NOERROR", 1: "FORMERR", 2: "SERVFAIL", 3: "NXDOMAIN", 4: "NOTIMP",
           5: "REFUSED"}


def spool_path(state_dir: Path, index: int) -> Path:
    return state_dir / "run" / f"querylog-{index}.jsonl"


def anonymise(host: str, level: int) -> str | None:
    """The client as the level keeps it: 0 as is, 1 its /24 or /48 network, 2 nothing."""
    if level >= 2 or not host:
        return None
    if level == 0:
        return host
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return None
    prefix = 24 if address.version == 4 else 48
    return str(ipaddress.ip_network(f"{address}/{prefix}", strict=False))


class QueryLog:
    """One worker's query log: the wrappers, the buffer and its writer."""

    def __init__(self, resolver: Any, state_dir: Path, index: int, level: int) -> None:
        self.resolver = resolver
        self.path = spool_path(state_dir, index)
        self.level = level
        self.enabled = True
        self.buffer: list[tuple[Any, ...]] = []
        self.dropped = 0
        self.task: asyncio.Task[None] | None = None  # the writer, when started

    def configure(self, enabled: bool, level: int) -> None:
        """A reload: turning the log off (or raising the level) applies at once."""
        self.enabled, self.level = enabled, level
        if not enabled:
            self.buffer.clear()

    def install(self) -> None:
        """Wrap the resolver's answer methods (before the sockets open, which bind them).
        answer_slow is not given the client's address; the transports always call
        answer_fast first with it, so it is remembered there per query id and question."""
        fast: Callable[[bytes, str, bool], Any] = self.resolver.answer_fast
        slow: Callable[[bytes, wire.Query, bool], Awaitable[bytes]] = self.resolver.answer_slow
        record = self.record
        hosts: dict[bytes, str] = {}

        def answer_fast(data: bytes, host: str, tcp: bool) -> Any:
            result = fast(data, host, tcp)
            if result.__class__ is bytes:
                record(data, host, result, True)
            elif result is not None and self.enabled:
                if len(hosts) > MAX_BUFFER:
                    hosts.clear()  # answers that never completed: forget them
                hosts[data[:2] + result.question] = host
            return result

        async def answer_slow(data: bytes, query: wire.Query, tcp: bool) -> bytes:
            response = await slow(data, query, tcp)
            record(data, hosts.pop(data[:2] + query.question, ""), response, False)
            return response

        self.resolver.answer_fast = answer_fast
        self.resolver.answer_slow = answer_slow

    def record(self, data: bytes, host: str, response: bytes, fast: bool) -> None:
        if not self.enabled or len(response) < 4:
            return
        if len(self.buffer) >= MAX_BUFFER:
            self.dropped += 1
            return
        self.buffer.append((time.time(), host, data, response[3] & 0x0F, fast))

    def entries(self, batch: list[tuple[Any, ...]]) -> list[dict[str, Any]]:
        """The buffered tuples as spool entries, decided and anonymised (off the query path,
        in the writer task)."""
        out = []
        groups = self.resolver.groups
        for at, host, data, rcode, fast in batch:
            try:
                query = wire.parse_query(data) if len(data) >= 12 else None
            except (wire.WireError, struct.error):
                query = None
            if query is None:
                continue
            labels = wire.name_labels(query.qname.lower())
            block = groups.for_address(host).policy.decide(labels) if labels else None
            if block is not None:
                action = "blocked"
            elif rcode == 5:
                action = "refused"
            elif rcode == 2:
                action = "servfail"
            else:
                action = "cached" if fast else "answered"
            tier = block.tier if block is not None else None
            client = None if tier == "mandatory" else anonymise(host, self.level)
            out.append({"at": round(at, 3), "client": client, "name": query.name_text(),
                        "qtype": _QTYPES.get(query.qtype, f"TYPE{query.qtype}"),
                        "action": action,
                        "rcode": _RCODES.get(rcode, f"RCODE{rcode}"),
                        "list": block.list_id if block is not None else None, "tier": tier})
        return out

    def flush(self) -> None:
        """Append the buffer to the spool file (under an flock the ingest also takes)."""
        batch, self.buffer = self.buffer, []
        if not batch or not self.enabled:
            return
        lines = "".join(json.dumps(e, separators=(",", ":")) + "\n"
                        for e in self.entries(batch)).encode()
        self.path.parent.mkdir(parents=True, exist_ok=True)
        while True:
            fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX)
                try:
                    same = os.fstat(fd).st_ino == os.stat(self.path).st_ino
                except FileNotFoundError:
                    same = False
                if not same:
                    continue  # the control side took the file meanwhile: write a new one
                if os.fstat(fd).st_size + len(lines) > MAX_SPOOL:
                    self.dropped += len(batch)
                    return
                os.write(fd, lines)
                return
            finally:
                os.close(fd)

    async def writer(self) -> None:
        """Flush every INTERVAL seconds until cancelled, and once more then."""
        try:
            while True:
                await asyncio.sleep(INTERVAL)
                try:
                    self.flush()
                except OSError as exc:
                    log.warning("cannot write the query log to %s: %s", self.path, exc)
        finally:
            try:
                self.flush()
            except OSError:
                pass
