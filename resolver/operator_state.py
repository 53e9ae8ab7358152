"""The operator's published state (overrides, managed groups, pauses), as workers read it.

Workers never open the database. The control side (admin.publish) writes each section as
its own file under `state_dir/operator/`, then bumps `operator/generation`; every serving
process polls that file once a second (beside the lists' generation, in one loop, see
resolver.lists) and re-reads only the sections whose file changed:

    generation             bumped after every section write
    .lock                  flock'ed by writers, so CLI and daemon never interleave
    overrides.json         {"format": 1, "overrides": [{"kind", "name", "expires"}]}
    pauses.json            {"format": 1, "pauses": [{"group", "until"}]}
    groups.json            {"format": 1, "groups": [{"name", "lists", "safe_search",
                            "schedules", "macs", "prefixes"}]}
    clients/<sha256>.pfx   one group's client networks (resolver.prefixes), immutable and
                           named by the SHA-256 of its bytes, which groups.json refers to

A pause or an override never rewrites the groups; a group change rewrites groups.json and
only the prefix files whose content changed. A file that cannot be read is logged by name
and its section keeps its previous content: the mandatory tier does not depend on any of
this, so nothing here can fail it open.
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
import os
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from pathlib import Path
from typing import Any

from resolver.groups import (
    GroupSettings,
    GroupTable,
    Managed,
    PolicyFactory,
    SafeSearchSettings,
    build_groups,
    parse_schedule,
    strict_safe_search,
)
from resolver.prefixes import EMPTY_INDEX, PrefixIndex, Records, decode_prefixes
from resolver.safesearch import safe_search_map
from resolver.settings import LocalSettings

log = logging.getLogger("straja.operator")

OPERATOR_DIR = "operator"
FORMAT = 1
SECTIONS = ("overrides", "groups", "pauses")
KINDS = ("allow", "deny")
CLIENTS_DIR = "clients"
PREFIX_SUFFIX = ".pfx"

_NAME = re.compile(r"^(\*\.)?([a-z0-9_-]{1,63}\.)*[a-z0-9_-]{1,63}$")
_MAC = re.compile(r"^[0-9a-f]{2}(:[0-9a-f]{2}){5}$")
_HASH = re.compile(r"^[0-9a-f]{64}$")

# What the lists give the resolver: the local overrides in, a policy factory out.
PolicySource = Callable[[LocalSettings], PolicyFactory]


@dataclass(frozen=True, slots=True)
class Override:
    """A published allow or deny, acting like `local.allow`/`local.deny` until `expires`."""

    kind: str  # "allow" or "deny"
    name: str  # normalised; "*.name" covers only the subdomains
    expires: float | None  # unix time; None: until removed

    def active(self, at: float) -> bool:
        return self.expires is None or at < self.expires


@dataclass(frozen=True, slots=True)
class Pause:
    """The operator and family tiers off for `group` (None: every group) until `until`."""

    group: str | None
    until: float  # unix time

    def covers(self, group: str, at: float) -> bool:
        return at < self.until and (self.group is None or self.group == group)


@dataclass(frozen=True)
class OperatorState:
    """One reading of every published section."""

    overrides: tuple[Override, ...] = ()
    groups: tuple[GroupSettings, ...] = ()
    prefixes: PrefixIndex = EMPTY_INDEX  # client prefix -> position in groups
    macs: Mapping[str, int] = field(default_factory=dict)  # MAC -> position in groups
    pauses: tuple[Pause, ...] = ()

    def active_overrides(self, at: float) -> list[Override]:
        return [o for o in self.overrides if o.active(at)]

    def local_settings(self, local: LocalSettings, at: float) -> LocalSettings:
        """The config's `local:` plus the overrides in force at `at` (same precedence)."""
        active = self.active_overrides(at)
        if not active:
            return local
        return LocalSettings(
            allow=[*local.allow, *(o.name for o in active if o.kind == "allow")],
            deny=[*local.deny, *(o.name for o in active if o.kind == "deny")],
        )

    def pause_for(self, group: str, at: float) -> Pause | None:
        """The pause in force for `group` at `at` that lasts longest, if any."""
        found = [p for p in self.pauses if p.covers(group, at)]
        return max(found, key=lambda p: p.until) if found else None

    def managed(self, at: float) -> Managed:
        return Managed(
            groups=self.groups,
            prefixes=self.prefixes,
            macs=self.macs,
            paused_all=any(p.group is None and at < p.until for p in self.pauses),
            paused=frozenset(p.group for p in self.pauses if p.group is not None
                             and at < p.until),
        )

    def next_change(self, at: float) -> float:
        """When an override or a pause in force at `at` ends by itself (inf: never)."""
        ends = [o.expires for o in self.overrides if o.expires is not None and o.expires > at]
        ends += [p.until for p in self.pauses if p.until > at]
        return min(ends, default=math.inf)

    def build(self, settings: Sequence[GroupSettings], local: LocalSettings,
              source: PolicySource, now: datetime, generation: int
              ) -> tuple[GroupTable, PolicyFactory, float]:
        """The run-time groups at `now`, the policy factory they were built with, and when
        this must be built again because an override or pause ends. The resolver and
        `straja check` both decide through this, so they agree."""
        at = now.timestamp()
        make_policy = source(self.local_settings(local, at))
        table = build_groups(settings, make_policy, safe_search_map, now, generation,
                             self.managed(at))
        return table, make_policy, self.next_change(at)


NO_OPERATOR_STATE = OperatorState()


class OperatorStateError(ValueError):
    """A published file that cannot be used; the message names the entry and field."""


def section_path(state_dir: Path, section: str) -> Path:
    return state_dir / OPERATOR_DIR / f"{section}.json"


def prefix_path(state_dir: Path, digest: str) -> Path:
    return state_dir / OPERATOR_DIR / CLIENTS_DIR / f"{digest}{PREFIX_SUFFIX}"


def generation_path(state_dir: Path) -> Path:
    return state_dir / OPERATOR_DIR / "generation"


def _signature(path: Path) -> tuple[int, int, int] | None:
    """What changes when a file is replaced: a rename brings a new inode."""
    try:
        st = path.stat()
    except OSError:
        return None
    return (st.st_ino, st.st_mtime_ns, st.st_size)


class OperatorReader:
    """Reads `state_dir/operator/` section by section, keeping the last good version of
    each section when a file is malformed."""

    def __init__(self, state_dir: str | os.PathLike[str]) -> None:
        self.state_dir = Path(state_dir)
        self.state = NO_OPERATOR_STATE
        self._generation: tuple[int, int, int] | None = None
        self._seen: dict[str, tuple[int, int, int] | None] = {}
        # prefix file digest -> its verified bytes (5 bytes a prefix; the decoded tuples
        # would take ~20 times that, in every worker)
        self._files: dict[str, bytes] = {}

    def generation_stamp(self) -> tuple[int, int, int] | None:
        return _signature(generation_path(self.state_dir))

    def changed(self) -> bool:
        """Whether the generation moved since the last refresh (one stat)."""
        return self.generation_stamp() != self._generation

    def refresh(self) -> bool:
        """Re-read the sections whose file changed; True when the state changed."""
        self._generation = self.generation_stamp()
        state = self.state
        for section in SECTIONS:
            changes = self._refresh_section(section)
            if changes is not None:
                state = replace(state, **changes)
        # By value: the store republishes every section when its control process starts
        # (each SIGHUP), and the same content read again must not start a new policy
        # generation, which empties the answer cache, serve-stale's answers with it. (A
        # PrefixIndex compares by the digests of the prefix files it was read from.)
        changed = state != self.state
        self.state = state
        return changed

    def _refresh_section(self, section: str) -> dict[str, Any] | None:
        """The new content of a section whose file changed, None to keep the current one."""
        path = section_path(self.state_dir, section)
        for _attempt in range(3):
            signature = _signature(path)
            if section in self._seen and signature == self._seen[section]:
                return None
            try:
                changes = self._read(section, path) if signature is not None else _EMPTY[section]
            except (OSError, ValueError, TypeError, KeyError, AttributeError) as exc:
                if _signature(path) != signature:
                    continue  # replaced while we read it (a prefix file it named is gone)
                self._seen[section] = signature  # a bad version is reported once
                what = "" if isinstance(exc, OperatorStateError) else " cannot be read"
                log.error("%s%s: %s; the previous %s stay in force", path, what, exc, section)
                return None
            self._seen[section] = signature
            return changes
        return None

    def _read(self, section: str, path: Path) -> dict[str, Any]:
        try:
            data = json.loads(path.read_bytes())
        except json.JSONDecodeError as exc:
            raise OperatorStateError(f"not valid JSON (partly written?): {exc}") from None
        if not isinstance(data, dict) or data.get("format") != FORMAT:
            raise OperatorStateError(f"expected a mapping with \"format\": {FORMAT}")
        items = data.get(section)
        if not isinstance(items, list):
            raise OperatorStateError(f"{section}: expected a list")
        if section == "overrides":
            return {"overrides": tuple(_override(item, i) for i, item in enumerate(items))}
        if section == "pauses":
            return {"pauses": tuple(_pause(item, i) for i, item in enumerate(items))}
        return self._groups(items)

    def _groups(self, items: list[Any]) -> dict[str, Any]:
        groups: list[GroupSettings] = []
        records: list[Records] = []
        keys: list[str | None] = []  # each group's prefix file digest, None: none
        macs: dict[str, int] = {}
        digests: set[str] = set()
        for i, item in enumerate(items):
            where = f"groups[{i}]"
            if not isinstance(item, dict):
                raise OperatorStateError(f"{where}: expected a mapping")
            groups.append(_group(item, where))
            for mac in _strings(item.get("macs", []), f"{where}.macs"):
                if not _MAC.match(mac):
                    raise OperatorStateError(f"{where}.macs: {mac!r} is not aa:bb:cc:dd:ee:ff")
                macs.setdefault(mac, i)
            digest = item.get("prefixes")
            keys.append(digest)
            if digest is None:
                records.append(([], []))
                continue
            if not isinstance(digest, str) or not _HASH.match(digest):
                raise OperatorStateError(f"{where}.prefixes: expected a SHA-256 in hex")
            records.append(self._prefix_records(digest))
            digests.add(digest)
        self._files = {d: b for d, b in self._files.items() if d in digests}
        index = PrefixIndex(records, tuple(keys)) if any(keys) else EMPTY_INDEX
        return {"groups": tuple(groups), "prefixes": index, "macs": macs}

    def _prefix_records(self, digest: str) -> Records:
        path = prefix_path(self.state_dir, digest)
        data = self._files.get(digest)  # files are immutable: the same name, the same bytes
        if data is None:
            try:
                data = path.read_bytes()
            except OSError as exc:
                raise OperatorStateError(f"the prefix file {path} cannot be read: "
                                         f"{exc.strerror or exc}") from None
            if hashlib.sha256(data).hexdigest() != digest:
                raise OperatorStateError(f"the prefix file {path} does not match its name "
                                         "(corrupt or partly written)")
        try:
            found = decode_prefixes(data, str(path))
        except ValueError as exc:
            raise OperatorStateError(str(exc)) from None
        self._files[digest] = data
        return found


_EMPTY: dict[str, dict[str, Any]] = {
    "overrides": {"overrides": ()},
    "pauses": {"pauses": ()},
    "groups": {"groups": (), "prefixes": EMPTY_INDEX, "macs": {}},
}


def load_operator_state(state_dir: str | os.PathLike[str]) -> OperatorState:
    """Everything published, read once (for `straja check` and the control side)."""
    reader = OperatorReader(state_dir)
    reader.refresh()
    return reader.state


def _strings(value: object, where: str) -> list[str]:
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise OperatorStateError(f"{where}: expected a list of strings")
    return value


def _time(value: object, where: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise OperatorStateError(f"{where}: expected a unix time, got {value!r}")
    return float(value)


def _override(item: object, i: int) -> Override:
    where = f"overrides[{i}]"
    if not isinstance(item, dict):
        raise OperatorStateError(f"{where}: expected a mapping")
    kind, name, expires = item.get("kind"), item.get("name"), item.get("expires")
    if kind not in KINDS:
        raise OperatorStateError(f"{where}.kind: {kind!r} is not allow or deny")
    if not isinstance(name, str) or len(name) > 255 or not _NAME.match(name):
        raise OperatorStateError(f"{where}.name: {name!r} is not a normalised domain name")
    return Override(kind, name, None if expires is None else _time(expires, f"{where}.expires"))


def _pause(item: object, i: int) -> Pause:
    where = f"pauses[{i}]"
    if not isinstance(item, dict):
        raise OperatorStateError(f"{where}: expected a mapping")
    group = item.get("group")
    if group is not None and not isinstance(group, str):
        raise OperatorStateError(f"{where}.group: expected a group name or null (every group)")
    return Pause(group, _time(item.get("until"), f"{where}.until"))


def _group(item: dict[str, Any], where: str) -> GroupSettings:
    name = item.get("name")
    if not isinstance(name, str):
        raise OperatorStateError(f"{where}.name: expected text")
    safe = item.get("safe_search", False)
    if not isinstance(safe, bool):
        raise OperatorStateError(f"{where}.safe_search: expected true or false")
    schedules = item.get("schedules", [])
    if not isinstance(schedules, list):
        raise OperatorStateError(f"{where}.schedules: expected a list")
    try:
        settings = GroupSettings(
            name=name,
            lists=_strings(item.get("lists", []), f"{where}.lists"),
            schedules=[parse_schedule(s) if isinstance(s, dict) else _not_a_mapping(s)
                       for s in schedules],
            safe_search=strict_safe_search() if safe else SafeSearchSettings(),
        )
        settings.validate()
    except OperatorStateError:
        raise
    except ValueError as exc:
        raise OperatorStateError(f"{where}: {exc}") from None
    return settings


def _not_a_mapping(value: object) -> Any:
    raise ValueError(f"a schedule must be a mapping, got {value!r}")
