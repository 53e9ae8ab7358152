"""The policy decision: which list, if any, blocks a name, and what answer that gives.

Precedence (DESIGN.md): mandatory lists always block; then local allow; then operator and
family lists and local deny; else the name is allowed. When several lists match, the
highest tier decides. Lists are walked from the TLD down with the same label list.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass

from blocklists.spec import TIER_RANK, ListSpec
from blocklists.trie import ACTION_NODATA, ACTION_NXDOMAIN, CompiledList, Match
from resolver.settings import LocalSettings

log = logging.getLogger("straja.policy")

# RFC 8914 Extended DNS Error codes by tier.
EDE_BY_TIER = {"mandatory": 16, "operator": 15, "family": 17}

# Block actions as small ints, for the answer builder.
SINKHOLE, NXDOMAIN, NODATA, REFUSED = 0, 1, 2, 3
ACTION_CODES = {"sinkhole": SINKHOLE, "nxdomain": NXDOMAIN, "nodata": NODATA, "refused": REFUSED}
_ENTRY_ACTIONS = {ACTION_NXDOMAIN: NXDOMAIN, ACTION_NODATA: NODATA}


@dataclass(frozen=True, slots=True)
class ActiveList:
    """A list as the policy uses it: its lookup and what a hit means."""

    list_id: str
    tier: str
    action: int | None  # the list's configured action, None: the group's or the default
    lookup: Callable[[Sequence[bytes]], Match | None]


@dataclass(frozen=True, slots=True)
class Block:
    """A decision to block: by which list, tier and (when the entry says so) which action."""

    list_id: str
    tier: str
    action: int | None  # the entry's or the list's action; None: the configured default
    depth: int  # labels of the listed name that matched

    @property
    def ede(self) -> int:
        return EDE_BY_TIER[self.tier]


class SuffixSet:
    """A small in-memory trie for the local allow/deny overrides."""

    def __init__(self, names: Iterable[str]) -> None:
        self.root: dict[bytes, tuple[dict, list[bool]]] = {}
        self.size = 0
        for name in names:
            self.add(name)

    def add(self, name: str) -> None:
        name = name.strip().lower().rstrip(".")
        subdomains_only = name.startswith("*.")
        if subdomains_only:
            name = name[2:]
        if not name:
            return
        node = self.root
        labels = [label.encode("ascii") for label in reversed(name.split("."))]
        flags: list[bool] = []
        for label in labels:
            child = node.get(label)
            if child is None:
                child = ({}, [False, False])
                node[label] = child
            node, flags = child
        # flags[0]: the name itself, flags[1]: its subdomains
        if not subdomains_only:
            flags[0] = True
        flags[1] = True
        self.size += 1

    def match(self, labels: Sequence[bytes]) -> int:
        """Depth of the deepest entry covering the name, 0 when none does."""
        node = self.root
        found = 0
        last = len(labels) - 1
        for depth, label in enumerate(labels):
            child = node.get(label)
            if child is None:
                break
            node, flags = child
            if flags[0] if depth == last else flags[1]:
                found = depth + 1
        return found

    def __bool__(self) -> bool:
        return self.size > 0


class Policy:
    """One generation of the policy: the active lists and the local overrides."""

    def __init__(
        self,
        lists: Sequence[ActiveList],
        local_allow: SuffixSet | None = None,
        local_deny: SuffixSet | None = None,
    ) -> None:
        ordered = sorted(lists, key=lambda a: -TIER_RANK[a.tier])
        self.mandatory = [a for a in ordered if a.tier == "mandatory"]
        self.others = [a for a in ordered if a.tier != "mandatory"]
        self.local_allow = local_allow or SuffixSet(())
        self.local_deny = local_deny or SuffixSet(())
        self.lists = ordered

    def decide(self, labels: Sequence[bytes]) -> Block | None:
        """The Block for a name (labels from the TLD down), or None when it is allowed."""
        for lst in self.mandatory:
            m = lst.lookup(labels)
            if m is not None:
                return Block(lst.list_id, "mandatory", _action(m, lst), m.depth)
        if self.local_allow and self.local_allow.match(labels):
            return None
        for lst in self.others:
            m = lst.lookup(labels)
            if m is not None:
                return Block(lst.list_id, lst.tier, _action(m, lst), m.depth)
        if self.local_deny:
            depth = self.local_deny.match(labels)
            if depth:
                return Block("local-deny", "operator", None, depth)
        return None


def _action(match: Match, lst: ActiveList) -> int | None:
    entry = _ENTRY_ACTIONS.get(match.action)
    return entry if entry is not None else lst.action


def build_policy(
    specs: Sequence[ListSpec],
    opened: dict[str, CompiledList],
    allow: SuffixSet | None = None,
    deny: SuffixSet | None = None,
) -> Policy:
    """A Policy from the configured lists and their opened active files.

    The tier comes from the file's signed header, which wins over the config.
    """
    active = []
    for spec in specs:
        lst = opened.get(spec.id)
        if lst is None:
            continue
        action = ACTION_CODES[spec.action] if spec.action else None
        active.append(ActiveList(spec.id, lst.header.tier, action, lst.lookup))
    return Policy(active, allow, deny)


def policy_factory(
    specs: Sequence[ListSpec], opened: dict[str, CompiledList], local: LocalSettings
) -> Callable[[Sequence[str] | None], Policy]:
    """What groups build their policies with: given a group's list ids (None: every list),
    a Policy of those lists, every list whose signed header says mandatory, and the local
    overrides."""
    specs = list(specs)
    allow, deny = SuffixSet(local.allow), SuffixSet(local.deny)  # shared by every group

    def make_policy(ids: Sequence[str] | None) -> Policy:
        chosen = [
            s
            for s in specs
            if ids is None
            or s.id in ids
            or (s.id in opened and opened[s.id].header.tier == "mandatory")
        ]
        return build_policy(chosen, opened, allow, deny)

    return make_policy


# -- published operator state (resolver.operator_state) ---------------------------------


def paused_policy(policy: Policy) -> Policy:
    """A paused group's policy: the same mandatory lists and nothing else. A pause turns
    off the operator and family tiers, and `local.deny` with them (it blocks as an
    operator list); the mandatory tier is never paused."""
    return Policy(policy.mandatory)
