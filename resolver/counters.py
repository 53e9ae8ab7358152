"""Per-worker counters: plain integers, bumped on the query path, collected by the control plane."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field


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
    blocked: int = 0
    blocked_mandatory: int = 0
    blocked_operator: int = 0
    blocked_family: int = 0
    blocked_cname: int = 0
    list_hits: dict[str, int] = field(default_factory=dict)

    def count_block(self, list_id: str, tier: str) -> None:
        """One blocked answer; mandatory hits are counted, never logged with a client."""
        self.blocked += 1
        if tier == "mandatory":
            self.blocked_mandatory += 1
        elif tier == "operator":
            self.blocked_operator += 1
        else:
            self.blocked_family += 1
        self.list_hits[list_id] = self.list_hits.get(list_id, 0) + 1

    def snapshot(self) -> dict[str, int]:
        """A copy to hand to the control plane."""
        return asdict(self)
