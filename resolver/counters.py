"""Per-worker counters: plain integers, bumped on the query path, collected by the control plane."""

from __future__ import annotations

from dataclasses import asdict, dataclass


@dataclass(slots=True)
class Counters:
    queries: int = 0
    udp: int = 0
    tcp: int = 0
    cache_hits: int = 0
    cache_misses: int = 0
    coalesced: int = 0
    refused_acl: int = 0
    formerr: int = 0
    notimp: int = 0
    badvers: int = 0
    servfail: int = 0
    truncated: int = 0
    dropped: int = 0
    upstream_answers: int = 0
    upstream_failures: int = 0
    upstream_busy: int = 0
    stale_served: int = 0
    tcp_connections: int = 0
    tcp_refused: int = 0

    def snapshot(self) -> dict[str, int]:
        """A copy to hand to the control plane."""
        return asdict(self)
