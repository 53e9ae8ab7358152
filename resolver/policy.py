"""The policy decision: which list, if any, blocks a name, and what answer that gives.

Precedence (docs/policy.md has the full order):
1. mandatory lists (plain blocks only; nothing below can weaken them);
2. `local.allow`;
3. `local.deny` (the operator's own deny beats any subscribed allowlist or exception);
4. the group's operator and family lists, as AdGuard Home orders their rules:
   `@@…$important`, then `$important`, then exceptions (`@@` rules and `kind: allow`
   lists, from any of these lists), then plain blocks; `$badfilter` removes a rule first;
5. otherwise the name is allowed.
When several lists block, the highest tier decides. Lists are walked from the TLD down
with the same label list. Groups whose lists hold no exception, pattern or modifier take
the short path (one trie lookup per list), which is what the policy always did.
"""

from __future__ import annotations

import copy
import logging
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass

from blocklists.patterns import RuleSet, TextRule, client_allows, tags_allow
from blocklists.spec import TIER_RANK, ListSpec
from blocklists.trie import (
    ACTION_NODATA,
    ACTION_NXDOMAIN,
    EXACT_ALLOW,
    EXACT_BLOCK,
    SUBTREE_ALLOW,
    SUBTREE_BLOCK,
    CompiledList,
    Match,
)
from resolver import wire
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
    rules: ListRules | None = None  # what the operator/family rule order needs


@dataclass(frozen=True, slots=True)
class Block:
    """A decision to block: by which list, tier and (when the entry says so) which action."""

    list_id: str
    tier: str
    action: int | None  # the entry's or the list's action; None: the configured default
    depth: int  # labels of the listed name that matched
    rule: TextRule | None = None  # the pattern or modifier rule that decided, if one did
    rewrite: Rewrite | None = None  # a `$dnsrewrite` answer instead of a block answer

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
        # Exceptions cross lists, so one list that needs the rule order puts all in it.
        self.rule_order = any(a.rules is not None for a in self.others)
        self.tags: frozenset[str] = frozenset()  # the group's `tags:`, for `$ctag` rules
        # Lists with `$client` rules: names they match are decided per client (the answer
        # cache is per group, so the resolver keys those answers by client too).
        self.client_lists = [a for a in self.others if a.rules is not None and a.rules.has_client]

    def with_tags(self, tags: Iterable[str]) -> Policy:
        """This policy for a group with client `tags` (`$ctag` rules depend on them)."""
        tags = frozenset(tags)
        if tags == self.tags:
            return self
        clone = copy.copy(self)
        clone.tags = tags
        return clone

    def client_dependent(self, labels: Sequence[bytes], qtype: int | None) -> bool:
        """Whether a `$client` rule matches this name, so its decision is per client."""
        name = b".".join(reversed(labels)).decode("ascii", "replace")
        qtype_name = None if qtype is None else QTYPE_NAMES.get(qtype, f"TYPE{qtype}")
        return any(
            rule.client
            for lst in self.client_lists
            if lst.rules is not None and lst.rules.text is not None
            for rule in lst.rules.text.matches(name, qtype_name)
        )

    def decide(self, labels: Sequence[bytes], qtype: int | None = None,
               client: str | None = None) -> Block | None:
        """The Block for a name (labels from the TLD down) asked with type `qtype` (None: a
        CNAME target or a type-less check) by the client at address `client` (None: no
        `$client` rule applies), or None when it is allowed."""
        for lst in self.mandatory:
            m = lst.lookup(labels)
            if m is not None:
                return Block(lst.list_id, "mandatory", _action(m, lst), m.depth)
        if self.local_allow and self.local_allow.match(labels):
            return None
        if self.local_deny:
            depth = self.local_deny.match(labels)
            if depth:
                return Block("local-deny", "operator", None, depth)
        if self.rule_order:
            return decide_by_rule_order(self.others, labels, qtype, self.tags, client)
        for lst in self.others:
            m = lst.lookup(labels)
            if m is not None:
                return Block(lst.list_id, lst.tier, _action(m, lst), m.depth)
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
    chosen = [(spec, opened[spec.id]) for spec in specs if spec.id in opened]
    cancelled = badfilter_cancellations(
        [lst for _, lst in chosen if lst.header.tier != "mandatory"]
    )
    for spec, lst in chosen:
        action = ACTION_CODES[spec.action] if spec.action else None
        rules = None
        if lst.header.tier != "mandatory":
            rules = list_rules(lst, cancelled, allow_rewrites=spec.allow_rewrites)
        active.append(ActiveList(spec.id, lst.header.tier, action, lst.lookup, rules))
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


# --- The operator and family rule order (AdGuard Home's) -------------------------------
# Kept apart from the short path above: groups without exceptions, patterns or modifiers
# never come here, so their cache misses cost what they always did.

_ALLOW_BITS = EXACT_ALLOW | SUBTREE_ALLOW
# Query type numbers to the names `$dnstype=` uses (the common ones; others as TYPEn).
QTYPE_NAMES = {1: "A", 2: "NS", 5: "CNAME", 6: "SOA", 12: "PTR", 15: "MX", 16: "TXT",
               28: "AAAA", 33: "SRV", 35: "NAPTR", 43: "DS", 48: "DNSKEY", 64: "SVCB",
               65: "HTTPS", 255: "ANY", 257: "CAA"}


@dataclass(frozen=True)
class Cancellations:
    """What the `$badfilter` rules of a group's operator and family lists cancel: text
    rules by their normalised text, trie rules by (name, flags) in adblock lists."""

    keys: frozenset[str] = frozenset()
    trie: frozenset[tuple[str, int]] = frozenset()

    def __bool__(self) -> bool:
        return bool(self.keys or self.trie)


@dataclass(frozen=True)
class ListRules:
    """One operator/family list as the rule order reads it."""

    compiled: CompiledList
    text: RuleSet | None  # None: the list has no text rules
    cancelled: Cancellations
    allow_only: bool  # a `kind: allow` list
    allow_rewrites: bool = False  # `lists[].allow_rewrites`: its `$dnsrewrite` rules apply
    has_client: bool = False  # some rule carries `$client`


@dataclass(frozen=True, slots=True)
class Rewrite:
    """A `$dnsrewrite` answer: an rcode (NXDOMAIN, REFUSED, NODATA), or addresses."""

    action: int  # NXDOMAIN, REFUSED, NODATA, or SINKHOLE with the addresses below
    ipv4: str | None = None
    ipv6: str | None = None
    cname: bytes | None = None  # wire name: resolved upstream, and checked by policy again


def _rewrite_of(rules: Sequence[TextRule]) -> Rewrite:
    """One answer from the rewrite rules of a name: an rcode rule wins, then a CNAME; else
    the first A and the first AAAA address (a type with none gets NODATA)."""
    ipv4 = ipv6 = None
    for rule in rules:
        value = rule.rewrite or ""
        if value in _REWRITE_RCODES:
            return Rewrite(_REWRITE_RCODES[value])
    for rule in rules:
        value = rule.rewrite or ""
        if value.startswith("CNAME:"):
            return Rewrite(SINKHOLE, cname=wire.text_to_name(value[len("CNAME:"):]))
    for rule in rules:
        value = rule.rewrite or ""
        rtype, _, address = value.partition(":")
        if rtype == "A" and ipv4 is None:
            ipv4 = address
        elif rtype == "AAAA" and ipv6 is None:
            ipv6 = address
    return Rewrite(SINKHOLE, ipv4, ipv6)


_REWRITE_RCODES = {"NXDOMAIN": NXDOMAIN, "REFUSED": REFUSED, "NODATA": NODATA}


def badfilter_cancellations(lists: Sequence[CompiledList]) -> Cancellations:
    """Every `$badfilter` of these lists (a group's operator and family lists)."""
    keys: set[str] = set()
    trie: set[tuple[str, int]] = set()
    for lst in lists:
        if not lst.layout.rules_length:
            continue
        for rule in lst.text_rules.rules:
            if rule.badfilter:
                keys.add(rule.key)
                if rule.target is not None:
                    trie.add(rule.target)
    return Cancellations(frozenset(keys), frozenset(trie))


def list_rules(lst: CompiledList, cancelled: Cancellations, *, allow_rewrites: bool = False
               ) -> ListRules | None:
    """What the rule order needs of `lst`, or None when the short path decides it exactly
    (no exceptions, no text rules, nothing cancelled, not an allowlist)."""
    header = lst.header
    has_text = lst.layout.rules_length > 0
    needs = header.kind == "allow" or header.exceptions != 0 or has_text or (
        cancelled.trie and header.source_format == "adblock"
    )
    if not needs:
        return None
    text = lst.text_rules if has_text else None
    if text is not None and not text:
        text = None
    trie_cancelled = cancelled.trie if header.source_format == "adblock" else frozenset()
    has_client = text is not None and any(rule.client for rule in text.rules)
    return ListRules(lst, text, Cancellations(cancelled.keys, trie_cancelled),
                     header.kind == "allow", allow_rewrites, has_client)


def decide_by_rule_order(
    lists: Sequence[ActiveList], labels: Sequence[bytes], qtype: int | None,
    tags: frozenset[str] = frozenset(), client: str | None = None,
) -> Block | None:
    """The operator/family decision in AdGuard Home's order: `$dnsrewrite` (unless an
    `@@…$dnsrewrite` removes it), then `@@…$important`, then `$important`, then any
    exception of any list, then plain blocks (highest tier first, as `lists` is ordered).
    `$ctag` rules count only for a group with one of their tags, `$client` rules only for
    their clients; rewrites only from lists with `allow_rewrites`, and never for a CNAME
    target (`qtype` None)."""
    name: str | None = None
    joined: bytes | None = None
    qtype_name = None if qtype is None else QTYPE_NAMES.get(qtype, f"TYPE{qtype}")
    important: Block | None = None
    plain: Block | None = None
    excepted = important_exception = False
    rewrites: list[tuple[ActiveList, TextRule]] = []
    unrewrite: set[str] = set()  # rewrite values removed by exceptions; "" removes all
    for lst in lists:
        rules = lst.rules
        if rules is None:
            if plain is None:
                m = lst.lookup(labels)
                if m is not None:
                    plain = Block(lst.list_id, lst.tier, _action(m, lst), m.depth)
            continue
        match, allowed = rules.compiled.scan(labels)
        if rules.cancelled.trie and (match is not None or allowed):
            match, allowed = _without_cancelled(rules, labels, match, allowed)
        if allowed:
            excepted = True
        if match is not None and plain is None and not rules.allow_only:
            plain = Block(lst.list_id, lst.tier, _action(match, lst), match.depth)
        if rules.text is None:
            continue
        if joined is None:
            joined = b".".join(reversed(labels))
        if not rules.text.gate(joined):
            continue  # nearly every name: no token of the list's text rules is in it
        if name is None:
            name = joined.decode("ascii", "replace")
        for rule in rules.text.matches(name, qtype_name, gated=True):
            if rule.key in rules.cancelled.keys or (rule.ctag and not tags_allow(rule, tags)) \
                    or (rule.client and not client_allows(rule, client)):
                continue
            if rule.rewrite is not None:
                if rule.exception:
                    unrewrite.add(rule.rewrite)
                elif rules.allow_rewrites and qtype is not None:
                    rewrites.append((lst, rule))
                continue
            if rule.exception:
                if rule.important:
                    important_exception = True
                excepted = True
            elif rule.important:
                if important is None:
                    important = Block(lst.list_id, lst.tier, lst.action, len(labels), rule)
            elif plain is None:
                plain = Block(lst.list_id, lst.tier, lst.action, len(labels), rule)
    if rewrites and "" not in unrewrite:
        kept = [(lst, rule) for lst, rule in rewrites if rule.rewrite not in unrewrite]
        if kept:
            lst, rule = kept[0]
            return Block(lst.list_id, lst.tier, None, len(labels), rule,
                         _rewrite_of([r for _, r in kept]))
    if important_exception:
        return None  # `@@…$important` beats everything below mandatory
    if important is not None:
        return important
    if excepted:
        return None
    return plain


def _without_cancelled(
    rules: ListRules, labels: Sequence[bytes], match: Match | None, allowed: int
) -> tuple[Match | None, int]:
    """`scan` again, leaving out the trie rules a `$badfilter` cancelled."""
    block: Match | None = None
    allow = 0
    last = len(labels)
    for depth in range(1, last + 1):
        flags = rules.compiled.flags_at(labels[:depth])
        if not flags:
            continue
        node = b".".join(reversed(labels[:depth])).decode("ascii", "replace")
        for scope in (EXACT_BLOCK | SUBTREE_BLOCK, EXACT_BLOCK, SUBTREE_BLOCK,
                      EXACT_ALLOW | SUBTREE_ALLOW, EXACT_ALLOW, SUBTREE_ALLOW):
            if (node, scope) in rules.cancelled.trie and flags & scope == scope:
                flags &= ~scope
        if depth < last:
            if flags & SUBTREE_ALLOW:
                allow = depth
            if flags & SUBTREE_BLOCK:
                block = Match((flags >> 6) & 3, depth, False)
        else:
            if flags & EXACT_ALLOW:
                allow = depth
            if flags & EXACT_BLOCK:
                block = Match((flags >> 4) & 3, depth, True)
    return block, allow
