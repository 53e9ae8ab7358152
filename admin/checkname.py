"""Explaining a name's answer as data: which lists match it (entry, tier, serial), the local
overrides, and what a client gets at a moment. `straja check` prints it; the web UI's
"Check a name" page and `GET /api/v1/check` show the same thing."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from zoneinfo import ZoneInfo

from blocklists.errors import ListError
from blocklists.names import normalise_name
from blocklists.store import ListStore
from blocklists.trie import (
    ACTION_NAMES,
    EXACT_ALLOW,
    EXACT_BLOCK,
    SUBTREE_ALLOW,
    SUBTREE_BLOCK,
    CompiledList,
    name_to_labels,
)
from resolver.explain import Decision, decide
from resolver.operator_state import load_operator_state
from resolver.policy import QTYPE_NAMES, SuffixSet

ANSWERS = {
    "sinkhole": "the sinkhole address ({ipv4} for A, {ipv6} for AAAA; NODATA for other types)",
    "nxdomain": "NXDOMAIN",
    "nodata": "NODATA (NOERROR, no records)",
    "refused": "REFUSED",
}
EDE = {"mandatory": "16 Censored", "operator": "15 Blocked", "family": "17 Filtered"}


@dataclass(frozen=True)
class ListMatch:
    """One configured list's view of the name."""

    list_id: str
    tier: str
    state: str  # "inactive", "unreadable", "none", "allow" or "block"
    serial: int | None = None
    entry: str | None = None  # the deciding entry ("*.example.com"), "hashed entry" when hashed
    action: str | None = None  # the entry's own answer, when not the default
    error: str | None = None


@dataclass
class NameCheck:
    name: str
    client: str | None
    at: datetime
    lists: list[ListMatch] = field(default_factory=list)
    local_allow: bool = False
    local_deny: bool = False
    # published overrides covering the name: (kind, name, expires as unix time or None)
    overrides: list[tuple[str, str, float | None]] = field(default_factory=list)
    decision: Decision | None = None
    answer: str = ""  # the answer in words, as `straja check` prints it
    # what each list says, as `straja check` prints it: entries quoted from the source with
    # their line when the list was compiled here, and the text rules that match
    list_lines: list[str] = field(default_factory=list)

    @property
    def blocked(self) -> bool:
        assert self.decision is not None
        decision = self.decision
        return decision.canary or (decision.block is not None and decision.dnsrewrite is None)


def check_name(config: object, name: str, client: str | None = None,
               at: datetime | None = None, qtype: int = 1) -> NameCheck:
    """The explanation for `name`; raises InvalidNameError for a name that is not one."""
    normal = normalise_name(name)
    labels = name_to_labels(normal)
    store = ListStore(config.state_path)  # type: ignore[attr-defined]
    opened: dict[str, CompiledList] = {}
    tz = ZoneInfo(config.timezone) if config.timezone else None  # type: ignore[attr-defined]
    moment = datetime.now(tz).astimezone(tz) if at is None else at
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=tz) if tz else moment.astimezone()
    result = NameCheck(normal, client, moment)
    try:
        for spec in config.lists:  # type: ignore[attr-defined]
            match = _match(spec, store, labels, opened)
            result.lists.append(match)
            lst = opened.get(spec.id)
            if lst is None:
                where = f"{spec.id} [{spec.tier}]"
                result.list_lines.append(f"{where}: no active version" if match.error is None
                                         else f"{where}: cannot be read: {match.error}")
            else:
                result.list_lines += list_matches(store, spec.id, lst, labels, normal,
                                                  QTYPE_NAMES.get(qtype, f"TYPE{qtype}"))
        local = config.local  # type: ignore[attr-defined]
        result.local_allow = SuffixSet(local.allow).match(labels) > 0
        result.local_deny = SuffixSet(local.deny).match(labels) > 0
        operator = load_operator_state(config.state_path)  # type: ignore[attr-defined]
        result.overrides = [
            (o.kind, o.name, o.expires) for o in operator.active_overrides(moment.timestamp())
            if SuffixSet((o.name,)).match(labels)]
        result.decision = decide(config, opened, normal, client, moment,  # type: ignore[arg-type]
                                 operator, qtype)
    finally:
        for lst in opened.values():
            lst.close()
    result.answer = _answer(config, result.decision)
    return result


def _match(spec: object, store: ListStore, labels: list[bytes],
           opened: dict[str, CompiledList]) -> ListMatch:
    list_id, tier = spec.id, spec.tier  # type: ignore[attr-defined]
    path = store.active_path(list_id)
    if not path.exists():
        return ListMatch(list_id, tier, "inactive")
    try:
        lst = CompiledList.open(path)
    except ListError as exc:
        return ListMatch(list_id, tier, "unreadable", error=str(exc))
    opened[list_id] = lst
    ex = lst.explain(labels)
    header = lst.header
    if ex.verdict == "none":
        return ListMatch(list_id, header.tier, "none", header.serial)
    entry = "hashed entry" if header.hashed else (
        ("*." if ex.kind == "subtree" and ex.depth < len(labels) else "") + str(ex.matched))
    action = None
    if ex.verdict == "block":
        named = ACTION_NAMES.get(ex.action or 0, "default")
        action = None if named == "default" else named
    return ListMatch(list_id, header.tier, ex.verdict, header.serial, entry, action)


def _answer(config: object, decision: Decision | None) -> str:
    assert decision is not None
    if decision.canary:
        return "NXDOMAIN (encrypted-DNS canary: clients keep using this resolver)"
    block = decision.block
    if block is None:
        if decision.local:
            return f"answered here, never sent upstream ({decision.local})"
        if decision.rewrite:
            return f"safe search: CNAME {decision.rewrite} and its addresses"
        if decision.override is not None:
            return (f"allowed by override allow {decision.override.name}, "
                    "forwarded to the upstreams")
        if decision.forwarded_to:
            return "allowed, forwarded to " + ", ".join(decision.forwarded_to) + " (forward:)"
        return "allowed, forwarded to the upstreams"
    blocking = config.blocking  # type: ignore[attr-defined]
    if decision.dnsrewrite is not None:
        where = f" (line {block.rule.line}: {block.rule.text})" if block.rule else ""
        return (f"rewritten by {block.list_id}{where}: {decision.dnsrewrite}, "
                f"TTL {int(blocking.ttl)}s")
    action = decision.action or blocking.action
    answer = ANSWERS[action].format(ipv4=blocking.sinkhole.ipv4,
                                    ipv6=blocking.sinkhole.ipv6 or "NODATA")
    by = block.list_id
    if decision.override is not None:
        by = f"override deny {decision.override.name}"
    return (f"blocked by {by} ({block.tier} tier): {answer} "
            f"(action from {decision.action_from}), TTL {int(blocking.ttl)}s, "
            f"EDE {EDE[block.tier]} when the query carries EDNS")


def list_matches(store: ListStore, list_id: str, lst: CompiledList, labels: list[bytes],
                 name: str, qtype: str) -> list[str]:
    """What one list says about the name: its trie entries (block and exception, quoted from
    the source with their line when the list was compiled here) and its text rules."""
    header = lst.header
    where = f"{list_id} [{header.tier}{', allowlist' if header.kind == 'allow' else ''}, " \
            f"serial {header.serial}]"
    lines = []
    trail = lst.explain(labels).trail
    last = len(labels)
    for depth, flags in trail:
        covering = flags & (EXACT_BLOCK | EXACT_ALLOW) if depth == last else \
            flags & (SUBTREE_BLOCK | SUBTREE_ALLOW)
        if not covering:
            continue
        listed = ".".join(reversed([label.decode("ascii") for label in labels[:depth]]))
        if header.hashed:
            entry = "hashed entry"
        else:
            entry = ("*." if depth < last else "") + listed
            origin = store.origin_of(list_id, listed)
            if origin is not None:
                entry += f" (line {origin[0]}: {origin[1]})"
        if covering & (EXACT_ALLOW | SUBTREE_ALLOW):
            lines.append(f"{where}: exception {entry}")
        if covering & (EXACT_BLOCK | SUBTREE_BLOCK):
            action = ACTION_NAMES.get(
                (flags >> (4 if depth == last else 6)) & 3, "default")
            lines.append(f"{where}: blocks, entry {entry}"
                         + (f" (entry action {action})" if action != "default" else ""))
    if lst.layout.rules_length:
        for rule in lst.text_rules.matches(name, qtype):
            kind = "exception" if rule.exception else "blocks"
            lines.append(f"{where}: {kind}, rule at line {rule.line}: {rule.text}")
    return lines or [f"{where}: no match"]
