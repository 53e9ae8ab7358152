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
from blocklists.trie import ACTION_NAMES, CompiledList, name_to_labels
from resolver.explain import Decision, decide
from resolver.operator_state import load_operator_state
from resolver.policy import SuffixSet

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

    @property
    def blocked(self) -> bool:
        assert self.decision is not None
        return self.decision.canary or self.decision.block is not None


def check_name(config: object, name: str, client: str | None = None,
               at: datetime | None = None) -> NameCheck:
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
            result.lists.append(_match(spec, store, labels, opened))
        local = config.local  # type: ignore[attr-defined]
        result.local_allow = SuffixSet(local.allow).match(labels) > 0
        result.local_deny = SuffixSet(local.deny).match(labels) > 0
        operator = load_operator_state(config.state_path)  # type: ignore[attr-defined]
        result.overrides = [
            (o.kind, o.name, o.expires) for o in operator.active_overrides(moment.timestamp())
            if SuffixSet((o.name,)).match(labels)]
        result.decision = decide(config, opened, normal, client, moment,  # type: ignore[arg-type]
                                 operator)
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
        if decision.rewrite:
            return f"safe search: CNAME {decision.rewrite} and its addresses"
        if decision.override is not None:
            return (f"allowed by override allow {decision.override.name}, "
                    "forwarded to the upstreams")
        return "allowed, forwarded to the upstreams"
    blocking = config.blocking  # type: ignore[attr-defined]
    action = decision.action or blocking.action
    answer = ANSWERS[action].format(ipv4=blocking.sinkhole.ipv4,
                                    ipv6=blocking.sinkhole.ipv6 or "NODATA")
    by = block.list_id
    if decision.override is not None:
        by = f"override deny {decision.override.name}"
    return (f"blocked by {by} ({block.tier} tier): {answer} "
            f"(action from {decision.action_from}), TTL {int(blocking.ttl)}s, "
            f"EDE {EDE[block.tier]} when the query carries EDNS")
