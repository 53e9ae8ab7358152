"""Explaining one decision the way the resolver would make it (for `straja check`)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from blocklists.trie import CompiledList
from resolver import wire
from resolver.core import BYPASS_CANARIES, ServerConfig
from resolver.groups import build_groups
from resolver.policy import ACTION_CODES, Block, policy_factory
from resolver.safesearch import safe_search_map

ACTION_NAMES = {code: name for name, code in ACTION_CODES.items()}


@dataclass
class Decision:
    group: str
    open_windows: list[str] = field(default_factory=list)
    block: Block | None = None
    action: str | None = None  # the answer a blocked name gets
    action_from: str | None = None  # "entry", "list", "group" or "blocking.action"
    rewrite: str | None = None  # a safe-search target
    dnsrewrite: str | None = None  # a list's `$dnsrewrite` answer, in words
    canary: bool = False


def decide(config: ServerConfig, opened: dict[str, CompiledList], name: str,
           client: str | None, at: datetime, qtype: int | None = 1) -> Decision:
    """The decision for `name` (normalised) asked by `client` (an IP, a MAC or None) at `at`
    with query type `qtype`: the very `Policy.decide` the resolver calls, so what this says
    is the answer Straja sends."""
    table = build_groups(config.groups, policy_factory(config.lists, opened, config.local),
                         safe_search_map, at, 0)
    group = table.default
    if client:
        if ":" in client and len(client) == 17 and client.count(":") == 5:
            group = table.for_mac(client.lower()) or table.default
        else:
            group = table.for_address(client)
    windows = [
        f"{','.join(s.days)} {s.start}-{s.end} adds {', '.join(s.lists)}"
        for s, is_open in zip(group.settings.schedules, group.open_windows, strict=False)
        if is_open
    ]
    decision = Decision(group.name, windows)
    qname = wire.text_to_name(name)
    if name in BYPASS_CANARIES and config.blocking.encrypted_dns_canaries:
        decision.canary = True
        decision.action = "nxdomain"
        return decision
    address = client if client and not (len(client) == 17 and client.count(":") == 5) else None
    block = group.policy.decide(wire.name_labels(qname), qtype, address)
    if block is None:
        target = group.safe.get(qname)
        decision.rewrite = wire.name_to_text(target) if target else None
        return decision
    decision.block = block
    if block.rewrite is not None:
        rw = block.rewrite
        if rw.cname is not None:
            decision.dnsrewrite = (f"CNAME {wire.name_to_text(rw.cname)}, resolved upstream "
                                   "(the target is checked by policy too)")
        elif rw.action == ACTION_CODES["sinkhole"]:
            decision.dnsrewrite = "NOERROR with " + (
                ", ".join(a for a in (rw.ipv4, rw.ipv6) if a) or "no records")
        else:
            decision.dnsrewrite = ACTION_NAMES[rw.action].upper()
        return decision
    spec = next((s for s in config.lists if s.id == block.list_id), None)
    if block.action is not None and not (spec and spec.action and
                                         ACTION_CODES[spec.action] == block.action):
        decision.action, decision.action_from = ACTION_NAMES[block.action], "entry"
    elif block.action is not None:
        decision.action, decision.action_from = ACTION_NAMES[block.action], "list"
    elif group.action is not None:
        decision.action, decision.action_from = ACTION_NAMES[group.action], "group"
    else:
        decision.action, decision.action_from = config.blocking.action, "blocking.action"
    return decision
