"""Per-worker counters: plain integers, bumped on the query path, collected by the control plane.

Every response is counted once by its kind: the action that produced it (`answered`,
`cached`, `blocked`, `rewritten`, `stale`, `refused`, `servfail`, ...), its rcode and, for
blocked answers, the list. A cache entry holds the `Box` of its kind, shared by every entry
of that kind, so a cache hit answered without parsing costs one increment: the box counts
that hit as a query, a cache hit, a response of its kind and (blocked) a hit on its list.
Responses of the parsing path go to a dict beside the boxes; snapshots sum both.
Mandatory hits are counted like any other and never logged with a client's identity.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field, fields
from typing import Any

# Actions, the `action` label of straja_dns_responses_total. Later issues add sources of
# LOCAL and RATELIMITED, and may add actions; they never rename these.
ANSWERED = "answered"  # forwarded and answered fresh from an upstream
CACHED = "cached"  # an upstream answer served from the cache
BLOCKED = "blocked"  # a list (or the DoH canary) blocked it, decided now or cached
REWRITTEN = "rewritten"  # safe search: answered with the engine's safe host
STALE = "stale"  # RFC 8767: an expired answer served because no upstream answered
REFUSED = "refused"  # not served: ACL, class or zone transfer, FORMERR/NOTIMP/BADVERS
SERVFAIL = "servfail"  # no upstream answered and nothing stale was left
LOCAL = "local"  # answered from local data (no source yet)
RATELIMITED = "ratelimited"  # answered (REFUSED, or TC=1 slipped) by a rate limit (no source yet)

# Upstream results, the `result` label of straja_upstream_responses_total.
UPSTREAM_OK = "ok"
UPSTREAM_TIMEOUT = "timeout"
UPSTREAM_ERROR = "error"  # network error, or SERVFAIL/REFUSED/NOTIMP from the upstream
UPSTREAM_BAD_ANSWER = "bad_answer"  # an answer we could not parse

RCODE_NAMES = {
    0: "NOERROR", 1: "FORMERR", 2: "SERVFAIL", 3: "NXDOMAIN", 4: "NOTIMP", 5: "REFUSED",
    6: "YXDOMAIN", 7: "YXRRSET", 8: "NXRRSET", 9: "NOTAUTH", 10: "NOTZONE", 16: "BADVERS",
}  # fmt: skip

TIERS = ("mandatory", "operator", "family")


def rcode_name(rcode: int) -> str:
    """The mnemonic of an rcode (`NOERROR`, `NXDOMAIN`, ...), `RCODE<n>` for the unnamed."""
    return RCODE_NAMES.get(rcode) or f"RCODE{rcode}"


Kind = tuple[str, int, str | None]  # action, rcode, list id (blocked answers only)


class Box:
    """The cache-hit counter of one kind of response, held by every entry of that kind."""

    __slots__ = ("n", "kind")

    def __init__(self, kind: Kind) -> None:
        self.n = 0
        self.kind = kind


@dataclass(slots=True)
class Counters:
    queries: int = 0  # queries that took the parsing path (box hits are added in snapshots)
    tcp: int = 0  # queries over TCP; UDP is the rest
    cache_hits: int = 0  # on the parsing path (box hits are added in snapshots)
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
    boxes: dict[Kind, Box] = field(default_factory=dict)  # hits without parsing, by kind
    responses: dict[Kind, int] = field(default_factory=dict)  # the parsing path's, by kind
    upstreams: dict[tuple[str, str], int] = field(default_factory=dict)  # (upstream, result)
    list_tiers: dict[str, str] = field(default_factory=dict)
    # What a previous worker with the same index had counted (stats.restore): added to
    # every snapshot, so counters never go backwards across a restart.
    carried: dict[str, Any] = field(default_factory=dict)
    # Set by the resolver: what is not a count but belongs in the snapshot (cache entries,
    # each upstream's consecutive failures).
    probe: Callable[[], dict[str, Any]] | None = None
    last_sample: tuple[float, int] | None = None  # (monotonic time, queries) of the last snapshot

    def box(self, action: str, rcode: int, list_id: str | None = None,
            tier: str | None = None) -> Box:
        """The box of a kind of response, created on first use (for a cache entry)."""
        kind = (action, rcode, list_id)
        box = self.boxes.get(kind)
        if box is None:
            box = self.boxes[kind] = Box(kind)
            if list_id is not None:
                self.list_tiers[list_id] = tier or "operator"
        return box

    def count(self, kind: Kind) -> None:
        """One response of the parsing path."""
        self.responses[kind] = self.responses.get(kind, 0) + 1

    def snapshot(self) -> dict[str, Any]:
        """A copy to hand to the control plane (state_dir/run/counters-N.json): the integer
        counters with box hits added, blocked totals per tier, and the labelled counts
        (`responses`, `proto`, `upstreams`, `list_hits`, `list_tiers`) that
        `admin/metrics.py` and the rollups read."""
        out: dict[str, Any] = {
            f.name: getattr(self, f.name)
            for f in fields(self)
            if f.type in ("int", int)
        }
        fast = 0
        by_kind: dict[Kind, int] = dict(self.responses)
        for kind, box in self.boxes.items():
            fast += box.n
            by_kind[kind] = by_kind.get(kind, 0) + box.n
        responses: dict[str, int] = {}
        per_list: dict[str, int] = {}
        for (action, rcode, list_id), n in by_kind.items():
            label = f"{action}|{rcode_name(rcode)}"
            responses[label] = responses.get(label, 0) + n
            if list_id is not None:
                per_list[list_id] = per_list.get(list_id, 0) + n
        upstreams = {f"{u}|{result}": n for (u, result), n in self.upstreams.items()}
        carried = self.carried
        for name in out:
            out[name] += int(carried.get(name, 0))
        out["queries"] += fast
        out["cache_hits"] += fast
        _add(responses, carried.get("responses"))
        _add(per_list, carried.get("list_hits"))
        _add(upstreams, carried.get("upstreams"))
        tiers = dict.fromkeys(TIERS, 0)
        list_tiers = {**carried.get("list_tiers", {}), **self.list_tiers}
        for list_id, hits in per_list.items():
            tier = list_tiers.get(list_id, "operator")
            tiers[tier] = tiers.get(tier, 0) + hits
        out["blocked"] = sum(tiers.values())
        out.update({f"blocked_{tier}": hits for tier, hits in tiers.items()})
        out["list_hits"] = per_list
        out["list_tiers"] = {k: v for k, v in list_tiers.items() if k in per_list}
        out["responses"] = responses
        out["proto"] = {"udp": out["queries"] - out["tcp"], "tcp": out["tcp"]}
        out["upstreams"] = upstreams
        if self.probe is not None:
            out.update(self.probe())
        # Queries per second since the previous snapshot (the writer takes one every 2 s)
        mono = time.monotonic()
        last, self.last_sample = self.last_sample, (mono, out["queries"])
        out["qps"] = 0.0
        if last is not None and mono > last[0]:
            out["qps"] = round((out["queries"] - last[1]) / (mono - last[0]), 2)
        out["written_at"] = time.time()
        return out


def _add(into: dict[str, int], more: object) -> None:
    if isinstance(more, dict):
        for key, n in more.items():
            if isinstance(n, int):
                into[key] = into.get(key, 0) + n
