"""Per-worker counters: plain integers, bumped on the query path, collected by the control plane.

Blocked answers are counted per list in a one-element list (a "box") that the cache entry
holds, so a cached block costs one increment; tier totals are summed when collected.
Mandatory hits are counted like any other and never logged with a client's identity.
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields


@dataclass(slots=True)
class Counters:
    queries: int = 0  # all queries (fast_hits added in snapshots); over UDP: queries - tcp
    fast_hits: int = 0  # cache hits answered without parsing (counted nowhere else)
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
    blocked_cname: int = 0
    # Reliability (issue 11): limited queries, synthesized ANY answers, upstream answers
    # ignored (malformed, for another question or ID, larger than asked for), upstreams
    # skipped because they are marked down, TCP connections refused per client or closed
    # for reading too slowly.
    ratelimited: int = 0
    ratelimit_slipped: int = 0
    any_synthesized: int = 0
    upstream_malformed: int = 0
    upstream_mismatched: int = 0
    upstream_oversized: int = 0
    upstream_down_skipped: int = 0
    tcp_refused_per_client: int = 0
    tcp_slow_closed: int = 0
    list_hits: dict[str, list[int]] = field(default_factory=dict)
    list_tiers: dict[str, str] = field(default_factory=dict)

    def box(self, list_id: str, tier: str) -> list[int]:
        """The hit counter of a list, created on first use."""
        box = self.list_hits.get(list_id)
        if box is None:
            box = self.list_hits[list_id] = [0]
            self.list_tiers[list_id] = tier
        return box

    def snapshot(self) -> dict[str, object]:
        """A copy to hand to the control plane, with blocked totals per tier."""
        out: dict[str, object] = {
            f.name: getattr(self, f.name)
            for f in fields(self)
            if f.name not in ("list_hits", "list_tiers", "fast_hits")
        }
        out["queries"] = self.queries + self.fast_hits
        out["cache_hits"] = self.cache_hits + self.fast_hits
        per_list = {list_id: box[0] for list_id, box in self.list_hits.items()}
        tiers = {"mandatory": 0, "operator": 0, "family": 0}
        for list_id, hits in per_list.items():
            tiers[self.list_tiers[list_id]] += hits
        out["blocked"] = sum(tiers.values())
        out.update({f"blocked_{tier}": hits for tier, hits in tiers.items()})
        out["list_hits"] = per_list
        return out
