"""Client groups and their schedules: who gets which lists, at what hour.

Each group owns a Policy built from the mandatory lists, its own lists, the lists of its
schedules whose window is open now, and the local overrides; and a cache tag that changes
whenever that policy changes, so no cached answer crosses a window boundary or a list swap.
"""

from __future__ import annotations

import ipaddress
import re
import struct
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Literal

from blocklists.patterns import CLIENT_TAGS
from resolver.policy import ACTION_CODES, Policy, paused_policy
from resolver.prefixes import EMPTY_INDEX, PrefixIndex
from resolver.settings import IPAddress, IPNetwork
from resolver.wire import FLAG_BYTES

DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
_HHMM = re.compile(r"^([01]\d|2[0-3]):([0-5]\d)$")
_MAC = re.compile(r"^[0-9a-f]{2}([:-][0-9a-f]{2}){5}$")


def parse_client(text: str) -> IPNetwork | str:
    """A group member: a CIDR, an address, or a MAC address (normalised aa:bb:cc:dd:ee:ff)."""
    text = str(text).strip().lower()
    if _MAC.match(text):
        return text.replace("-", ":")
    try:
        return ipaddress.ip_network(text, strict=False)
    except ValueError:
        raise ValueError(
            f"{text!r} is neither a network (10.0.1.0/24), an address nor a MAC address "
            "(aa:bb:cc:dd:ee:ff)"
        ) from None


def _parse_day(text: str) -> str:
    day = str(text).strip().lower()[:3]
    if day not in DAYS:
        raise ValueError(f"{text!r} is not a day; write mon, tue, wed, thu, fri, sat or sun")
    return day


def _parse_hhmm(text: object) -> str:
    if isinstance(text, int):  # YAML 1.1 reads 08:00 unquoted as sexagesimal minutes
        text = f"{text // 60:02d}:{text % 60:02d}"
    value = str(text).strip()
    if value == "24:00":
        return value
    if not _HHMM.match(value):
        raise ValueError(f"{text!r} is not a time of day; write it as \"HH:MM\", e.g. \"08:00\"")
    return value


@dataclass(slots=True)
class ScheduleSettings:
    """A window in which `lists` apply on top of the group's lists.

    `days` are the days the window starts on; `from` after `to` is an overnight window that
    ends on the next day.
    """

    days: list[str] = field(default_factory=lambda: list(DAYS), metadata={"parse": _parse_day})
    start: str = field(default="00:00", metadata={"parse": _parse_hhmm, "key": "from"})
    end: str = field(default="24:00", metadata={"parse": _parse_hhmm, "key": "to"})
    lists: list[str] = field(default_factory=list)

    def validate(self) -> None:
        if not self.days:
            raise ValueError("days is empty; name at least one day")
        if not self.lists:
            raise ValueError("lists is empty; a schedule adds lists during its window")

    def is_open(self, now: datetime) -> bool:
        """Whether the window is open at `now` (a naive or aware local time)."""
        minute = now.hour * 60 + now.minute
        start = _minutes(self.start)
        end = _minutes(self.end)
        today = DAYS[now.weekday()]
        yesterday = DAYS[(now.weekday() - 1) % 7]
        if start < end:
            return today in self.days and start <= minute < end
        if start == end:  # the whole day
            return today in self.days
        return (today in self.days and minute >= start) or (yesterday in self.days
                                                             and minute < end)


def parse_schedule(data: Mapping[str, object]) -> ScheduleSettings:
    """A schedule from its config-shaped mapping ({days, from, to, lists}), validated the
    same way as one in the config file (for schedules the control side publishes)."""
    unknown = set(data) - {"days", "from", "to", "lists"}
    if unknown:
        raise ValueError(f"unknown schedule key {sorted(unknown)[0]!r}; the keys are: days, "
                         "from, lists, to")
    days = data.get("days", list(DAYS))
    lists = data.get("lists", [])
    if not isinstance(days, list) or not isinstance(lists, list):
        raise ValueError("a schedule's days and lists must be lists")
    schedule = ScheduleSettings(
        days=[_parse_day(d) for d in days],
        start=_parse_hhmm(data.get("from", "00:00")),
        end=_parse_hhmm(data.get("to", "24:00")),
        lists=[str(i) for i in lists],
    )
    schedule.validate()
    return schedule


def _minutes(hhmm: str) -> int:
    h, m = hhmm.split(":")
    return int(h) * 60 + int(m)


SafeSearchLevel = Literal["strict", "moderate", "off"]


def strict_safe_search() -> SafeSearchSettings:
    """`safe_search: strict`: every engine, YouTube strict."""
    return SafeSearchSettings(google=True, bing=True, duckduckgo=True, youtube="strict")


def _parse_safe_search(value: object) -> object:
    if value == "strict" or value is True:
        return strict_safe_search()
    if value in ("off", None, False):
        return SafeSearchSettings()
    if isinstance(value, dict):
        unknown = set(value) - {"google", "bing", "duckduckgo", "youtube"}
        if unknown:
            raise ValueError(f"unknown key {sorted(unknown)[0]!r}; the keys here are: "
                             "bing, duckduckgo, google, youtube")
        youtube = value.get("youtube", "off")
        if youtube is True:
            youtube = "strict"
        if youtube is False:
            youtube = "off"
        if youtube not in ("strict", "moderate", "off"):
            raise ValueError(f"youtube: {youtube!r} is not one of: strict, moderate, off")
        flags = {}
        for engine in ("google", "bing", "duckduckgo"):
            v = value.get(engine, False)
            if not isinstance(v, bool):
                raise ValueError(f"{engine}: expected true or false, got {v!r}")
            flags[engine] = v
        return SafeSearchSettings(youtube=youtube, **flags)
    raise ValueError(f"{value!r}: write safe_search: strict, or a mapping such as "
                     "{google: true, bing: true, duckduckgo: true, youtube: moderate}")


@dataclass(slots=True)
class SafeSearchSettings:
    google: bool = False
    bing: bool = False
    duckduckgo: bool = False
    youtube: SafeSearchLevel = "off"

    @property
    def enabled(self) -> bool:
        return self.google or self.bing or self.duckduckgo or self.youtube != "off"


@dataclass(slots=True)
class GroupSettings:
    """`groups[]`: a set of clients and the operator/family lists they get."""

    name: str
    clients: list[IPNetwork | str] = field(default_factory=list,
                                           metadata={"parse": parse_client})
    lists: list[str] = field(default_factory=list)
    schedules: list[ScheduleSettings] = field(default_factory=list)
    safe_search: SafeSearchSettings = field(default_factory=SafeSearchSettings,
                                            metadata={"parse": _parse_safe_search})
    action: Literal["sinkhole", "nxdomain", "nodata", "refused"] | None = None
    # A secret path for DoH clients of this group: https://HOST/dns-query/{doh_token}.
    doh_token: str | None = field(default=None, repr=False, metadata={"secret": True})
    tags: list[str] = field(default_factory=list)  # AdGuard client tags, for `$ctag` rules

    def validate(self) -> None:
        if self.doh_token is not None and not re.match(r"^[A-Za-z0-9_-]{16,128}$",
                                                       self.doh_token):
            raise ValueError("doh_token must be 16 to 128 letters, digits, '-' or '_' "
                             "(e.g. from `openssl rand -hex 16`)")
        if not re.match(r"^[A-Za-z0-9][A-Za-z0-9 ._-]{0,63}$", self.name):
            raise ValueError(f"group name {self.name!r} must be letters, digits, ' ', '.', "
                             "'_' or '-'")
        unknown = [tag for tag in self.tags if tag not in CLIENT_TAGS]
        if unknown:
            raise ValueError(f"group {self.name}: tags: {', '.join(unknown)} is not one of "
                             f"AdGuard's client tags ({', '.join(sorted(CLIENT_TAGS))})")


@dataclass
class Group:
    """A group at run time: its current policy and the cache tag of that policy."""

    settings: GroupSettings
    index: int
    policy: Policy
    open_windows: tuple[bool, ...]
    tag: bytes = b""
    action: int | None = None
    paused: bool = False  # a published pause: the operator and family tiers are off
    safe: dict[bytes, bytes] = field(default_factory=dict)  # qname wire -> target wire
    # The end of this group's cache keys, by the key's flag bits: FLAG_BYTES[k] + tag
    key_ends: tuple[bytes, ...] = ()

    @property
    def name(self) -> str:
        return self.settings.name

    def retag(self, tag: bytes) -> None:
        """Give the group's policy a new cache tag: no answer cached under the old one is
        served to this group again."""
        self.tag = tag
        self.key_ends = tuple(flag + tag for flag in FLAG_BYTES)


PolicyFactory = Callable[[Sequence[str] | None], Policy]  # list ids (None: all) -> Policy


@dataclass(frozen=True)
class Managed:
    """The groups and pauses the control side published, at one moment (built by
    resolver.operator_state): groups after the config file's, their client prefixes in an
    index that maps to positions in `groups`, and who is paused."""

    groups: Sequence[GroupSettings] = ()
    prefixes: PrefixIndex = EMPTY_INDEX
    macs: Mapping[str, int] = field(default_factory=dict)  # MAC -> position in groups
    paused_all: bool = False
    paused: frozenset[str] = frozenset()  # names of the paused groups

    def is_paused(self, name: str) -> bool:
        return self.paused_all or name in self.paused


NOT_MANAGED = Managed()


class GroupTable:
    """Maps clients to groups (longest prefix for addresses, exact for MACs).

    The config file's groups list their clients in their settings; managed groups come with
    a prefix index (100k prefixes are not worth a Python object each). The most specific
    prefix wins; at equal length the config file's group does.
    """

    def __init__(self, groups: Sequence[Group], default: Group,
                 managed: Sequence[Group | None] = (), managed_prefixes: PrefixIndex = EMPTY_INDEX,
                 managed_macs: Mapping[str, int] = {}) -> None:  # noqa: B006 - never mutated
        self.groups = list(groups) + [g for g in managed if g is not None]
        self.default = default
        nets: list[tuple[IPNetwork, Group]] = []
        self.by_mac: dict[str, Group] = {}
        for group in groups:
            for member in group.settings.clients:
                if isinstance(member, str):
                    self.by_mac[member] = group
                else:
                    nets.append((member, group))
        for mac, position in managed_macs.items():
            group_at = managed[position]
            if group_at is not None:
                self.by_mac.setdefault(mac, group_at)
        nets.sort(key=lambda item: -item[0].prefixlen)
        self.v4 = [(n, g) for n, g in nets if n.version == 4]
        self.v6 = [(n, g) for n, g in nets if n.version == 6]
        self.managed = list(managed)
        self.managed_prefixes = managed_prefixes
        self._cache: dict[str, Group] = {}

    def for_address(self, host: str) -> Group:
        group = self._cache.get(host)
        if group is None:
            group = self._lookup(host)
            if len(self._cache) > 65536:
                self._cache.clear()
            self._cache[host] = group
        return group

    def _lookup(self, host: str) -> Group:
        try:
            ip: IPAddress = ipaddress.ip_address(host.split("%", 1)[0])
        except ValueError:
            return self.default
        if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
            ip = ip.ipv4_mapped
        found: tuple[int, Group] | None = None
        for net, group in self.v4 if ip.version == 4 else self.v6:
            if ip in net:
                found = (net.prefixlen, group)
                break
        if len(self.managed_prefixes):
            hit = self.managed_prefixes.lookup(ip)
            if hit is not None and (found is None or hit[0] > found[0]):
                managed = self.managed[hit[1]]
                if managed is not None:
                    return managed
        return found[1] if found is not None else self.default

    def for_mac(self, mac: str) -> Group | None:
        return self.by_mac.get(mac)


def build_groups(
    settings: Sequence[GroupSettings],
    make_policy: PolicyFactory,
    safe_search_map: Callable[[SafeSearchSettings], dict[bytes, bytes]],
    now: datetime,
    generation: int,
    managed: Managed = NOT_MANAGED,
) -> GroupTable:
    """The run-time groups. Without any group configured, one implicit group gets every list.

    A client in no group gets the group named `default`, else the mandatory lists and the
    local overrides only. Managed groups follow the config file's; one whose name the
    config file uses already is left out (the config file's stays, read-only). Adding
    managed groups does not change what clients in no group get.
    """
    groups = []
    for index, gs in enumerate(settings):
        groups.append(_make_group(gs, index + 1, make_policy, safe_search_map, now, generation))
    taken = {gs.name for gs in settings}
    extra: list[Group | None] = []
    for gs in managed.groups:
        if gs.name in taken:
            extra.append(None)
            continue
        taken.add(gs.name)
        index = len(groups) + len(extra) + 1
        extra.append(_make_group(gs, index, make_policy, safe_search_map, now, generation))
    everyone = groups + [g for g in extra if g is not None]
    named_default = next((g for g in everyone if g.name == "default"), None)
    if named_default is not None:
        default = named_default
    elif not settings:
        default = Group(GroupSettings(name="all"), 0, make_policy(None), ())
        default.retag(_tag(generation, 0, 0))
    else:
        default = Group(GroupSettings(name="(no group)"), 0, make_policy([]), ())
        default.retag(_tag(generation, 0, 0))
    for group in {id(g): g for g in [*everyone, default]}.values():
        if managed.is_paused(group.name):
            group.paused = True
            group.policy = paused_policy(group.policy)
    return GroupTable(groups, default, extra, managed.prefixes, managed.macs)


def _make_group(gs: GroupSettings, index: int, make_policy: PolicyFactory,
                safe_search_map: Callable[[SafeSearchSettings], dict[bytes, bytes]],
                now: datetime, generation: int) -> Group:
    windows = tuple(s.is_open(now) for s in gs.schedules)
    group = Group(gs, index, make_policy(active_lists(gs, windows)).with_tags(gs.tags), windows)
    group.action = ACTION_CODES[gs.action] if gs.action else None
    group.safe = safe_search_map(gs.safe_search) if gs.safe_search.enabled else {}
    group.retag(_tag(generation, index, 0))
    return group


def active_lists(gs: GroupSettings, windows: Sequence[bool]) -> list[str]:
    """The group's list ids plus those of its open schedule windows."""
    ids = list(gs.lists)
    for schedule, is_open in zip(gs.schedules, windows, strict=True):
        if is_open:
            ids.extend(i for i in schedule.lists if i not in ids)
    return ids


def _tag(generation: int, index: int, epoch: int) -> bytes:
    return struct.pack("!IHH", generation & 0xFFFFFFFF, index & 0xFFFF, epoch & 0xFFFF)


def tick(table: GroupTable, make_policy: PolicyFactory, now: datetime) -> list[str]:
    """Re-evaluate every schedule at `now`; rebuild (and re-tag) groups whose windows changed.

    Returns the names of the groups that changed.
    """
    changed = []
    for group in table.groups:
        windows = tuple(s.is_open(now) for s in group.settings.schedules)
        if windows == group.open_windows:
            continue
        group.open_windows = windows
        group.policy = make_policy(active_lists(group.settings, windows)).with_tags(
            group.settings.tags)
        if group.paused:
            group.policy = paused_policy(group.policy)
        _next_epoch(group)
        changed.append(group.name)
    return changed


def _next_epoch(group: Group) -> None:
    generation, index, epoch = struct.unpack("!IHH", group.tag)
    group.retag(_tag(generation, index, epoch + 1))


def retire(table: GroupTable) -> None:
    """Move every group of a table that is being replaced to a new epoch, so that a caller
    still holding one of them (the fast path, for the query during which the table is
    replaced) finds none of the answers cached under it."""
    for group in {id(g): g for g in [*table.groups, table.default]}.values():
        _next_epoch(group)


def next_minute(now: datetime) -> datetime:
    """The start of the next minute: when a schedule window can next open or close."""
    return now.replace(second=0, microsecond=0) + timedelta(minutes=1)


def parse_at(text: str) -> datetime:
    """`--at 2026-11-23T09:30` for `straja check`."""
    try:
        return datetime.fromisoformat(text)
    except ValueError:
        raise ValueError(f"{text!r} is not a time; write it like 2026-11-23T09:30") from None


