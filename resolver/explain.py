"""Explaining one decision the way the resolver would make it (for `straja check`)."""

from __future__ import annotations

import functools
from dataclasses import dataclass, field
from datetime import datetime

from blocklists.trie import CompiledList
from resolver import wire
from resolver.core import BYPASS_CANARIES, ServerConfig
from resolver.operator_state import NO_OPERATOR_STATE, OperatorState, Override, Pause
from resolver.policy import ACTION_CODES, Block, SuffixSet, policy_factory

ACTION_NAMES = {code: name for name, code in ACTION_CODES.items()}


@dataclass
class Decision:
    group: str
    open_windows: list[str] = field(default_factory=list)
    block: Block | None = None
    action: str | None = None  # the answer a blocked name gets
    action_from: str | None = None  # "entry", "list", "group" or "blocking.action"
    rewrite: str | None = None  # a safe-search target
    canary: bool = False
    override: Override | None = None  # the published allow or deny that decided
    pause: Pause | None = None  # the published pause in force for the group


def decide(config: ServerConfig, opened: dict[str, CompiledList], name: str,
           client: str | None, at: datetime,
           operator: OperatorState = NO_OPERATOR_STATE) -> Decision:
    """The decision for `name` (normalised) asked by `client` (an IP, a MAC or None) at `at`,
    with the published operator state as the resolver reads it."""
    table, _, _ = operator.build(config.groups, config.local,
                                 functools.partial(policy_factory, config.lists, opened), at, 0)
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
    if group.paused:
        decision.pause = operator.pause_for(group.name, at.timestamp())
    qname = wire.text_to_name(name)
    if name in BYPASS_CANARIES and config.blocking.encrypted_dns_canaries:
        decision.canary = True
        decision.action = "nxdomain"
        return decision
    labels = wire.name_labels(qname)
    block = group.policy.decide(labels)
    if not group.paused:
        decision.override = _deciding_override(config, operator, labels, block, at)
    if block is None:
        target = group.safe.get(qname)
        decision.rewrite = wire.name_to_text(target) if target else None
        return decision
    decision.block = block
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


def _deciding_override(config: ServerConfig, operator: OperatorState, labels: list[bytes],
                       block: Block | None, at: datetime) -> Override | None:
    """The published override that made the decision, when the config's `local:` did not:
    an allow for an allowed name that a list would block, a deny for a name blocked as
    local-deny."""
    kind = "allow" if block is None else "deny" if block.list_id == "local-deny" else None
    if kind is None:
        return None
    configured = config.local.allow if kind == "allow" else config.local.deny
    if SuffixSet(configured).match(labels):
        return None
    for override in operator.active_overrides(at.timestamp()):
        if override.kind == kind and SuffixSet((override.name,)).match(labels):
            return override
    return None
