"""Publishing the operator's changes to the workers: overrides, managed groups, pauses.

Workers never open the database. Each change made in the store (by the web UI or the CLI)
ends here: its section is written as one file under `state_dir/operator/` (tmp, fsync,
rename, under the same kind of flock as the list store), then `operator/generation` is
bumped, and every serving process picks it up within its one-second poll. The layout and
the reader are in resolver.operator_state; this module is the only writer.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import logging
import os
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from resolver.groups import parse_client, parse_schedule
from resolver.operator_state import (
    CLIENTS_DIR,
    FORMAT,
    KINDS,
    OPERATOR_DIR,
    PREFIX_SUFFIX,
    generation_path,
    prefix_path,
    section_path,
)
from resolver.prefixes import Prefix, encode_prefixes, network_prefix, parse_prefix
from resolver.settings import parse_override

if TYPE_CHECKING:
    from admin.config import Config

log = logging.getLogger("straja.publish")

# Prefix files no groups.json refers to any more are deleted once they are this old, so a
# worker that read the previous groups.json a moment ago still finds the files it names.
PREFIX_GRACE = 60.0


@dataclass(frozen=True)
class PublishedOverride:
    kind: str  # "allow" or "deny"
    name: str
    expires: float | None  # unix time; None: until removed


@dataclass(frozen=True)
class PublishedGroup:
    name: str
    clients: tuple[str, ...]  # CIDRs, addresses or MAC addresses
    lists: tuple[str, ...]
    safe_search: bool
    schedules: tuple[dict[str, Any], ...]  # {days, from, to, lists}, as in the config file


@dataclass(frozen=True)
class PublishedPause:
    group: str | None  # None: every group
    until: float  # unix time


def publish_overrides(state_dir: Path, overrides: Sequence[PublishedOverride]) -> None:
    """Replace the published overrides (every one in force or to come, not a delta).

    Raises ValueError naming the entry when a kind or name is wrong; nothing is written
    then. Whether an allow conflicts with a mandatory list is the caller's check
    (`mandatory_conflict`); a mandatory list blocks whatever this file says.
    """
    items = []
    for i, o in enumerate(overrides):
        if o.kind not in KINDS:
            raise ValueError(f"overrides[{i}].kind: {o.kind!r} is not allow or deny")
        try:
            name = parse_override(o.name)
        except ValueError as exc:
            raise ValueError(f"overrides[{i}].name: {exc}") from None
        items.append({"kind": o.kind, "name": name,
                      "expires": None if o.expires is None else float(o.expires)})
    _publish(Path(state_dir), "overrides", items)


def publish_pauses(state_dir: Path, pauses: Sequence[PublishedPause]) -> None:
    """Replace the published pauses. A pause ends by itself at `until`; no republish is
    needed then."""
    items = [{"group": p.group, "until": float(p.until)} for p in pauses]
    _publish(Path(state_dir), "pauses", items)


def publish_groups(state_dir: Path, groups: Sequence[PublishedGroup]) -> None:
    """Replace the published groups. Each group's client networks go to a prefix file
    named by its content, written only when no file of that content exists yet; then
    groups.json, which names them, is replaced. Raises ValueError naming the group and
    field when one is wrong; nothing is published then."""
    state_dir = Path(state_dir)
    items = []
    blobs: dict[str, bytes] = {}
    for i, g in enumerate(groups):
        where = f"groups[{i}] ({g.name})"
        networks: list[Prefix] = []
        macs: list[str] = []
        for client in g.clients:
            fast = parse_prefix(client.strip())  # 100k of them: ipaddress would take seconds
            if fast is not None:
                networks.append(fast)
                continue
            try:
                member = parse_client(client)
            except ValueError as exc:
                raise ValueError(f"{where}.clients: {exc}") from None
            if isinstance(member, str):
                macs.append(member)
            else:
                networks.append(network_prefix(member))
        for s in g.schedules:
            try:
                parse_schedule(s)
            except ValueError as exc:
                raise ValueError(f"{where}.schedules: {exc}") from None
        item: dict[str, Any] = {"name": g.name, "lists": list(g.lists),
                                "safe_search": bool(g.safe_search),
                                "schedules": [dict(s) for s in g.schedules], "macs": macs}
        if networks:
            blob = encode_prefixes(networks)
            digest = hashlib.sha256(blob).hexdigest()
            blobs[digest] = blob
            item["prefixes"] = digest
        items.append(item)
    _check_group_names(items)
    with _locked(state_dir):
        for digest, blob in blobs.items():
            path = prefix_path(state_dir, digest)
            if not path.exists():
                _write_atomic(path, blob)
        _write_section(state_dir, "groups", items)
        _bump_generation(state_dir)
        _collect_prefix_files(state_dir, set(blobs))


def mandatory_conflict(config: Config, name: str) -> str | None:
    """The id of the active mandatory list that blocks `name` (so an allow for it would
    change nothing), or None. `*.name` is checked for the subdomains it covers. The tier is
    the one in each list's signed header, as when serving."""
    from blocklists.store import ListStore, open_active
    from blocklists.trie import name_to_labels

    text = parse_override(name)
    wildcard = text.startswith("*.")
    labels = name_to_labels(text[2:] if wildcard else text)
    if wildcard:
        # A label no list can hold (it is not a hostname label): only a rule for the parent's
        # subdomains can match it, which is what blocks every name `*.name` covers.
        labels.append(b"\x00")
    opened = open_active(ListStore(config.state_path), config.lists)
    try:
        for spec in config.lists:
            lst = opened.get(spec.id)
            if lst is not None and lst.header.tier == "mandatory" and lst.lookup(labels):
                return spec.id
        return None
    finally:
        for lst in opened.values():
            lst.close()


# -- writing --------------------------------------------------------------------------


def _publish(state_dir: Path, section: str, items: list[dict[str, Any]]) -> None:
    with _locked(state_dir):
        _write_section(state_dir, section, items)
        _bump_generation(state_dir)
    log.info("published %d %s to %s", len(items), section, state_dir / OPERATOR_DIR)


def _write_section(state_dir: Path, section: str, items: list[dict[str, Any]]) -> None:
    body = json.dumps({"format": FORMAT, section: items}, indent=1, sort_keys=True)
    _write_atomic(section_path(state_dir, section), (body + "\n").encode())


def _write_atomic(path: Path, data: bytes) -> None:
    """tmp + fsync + rename + fsync of the folder: a reader sees the old file or the new
    one, never a part, and a power cut leaves one of the two."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    with open(tmp, "wb") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)
    _fsync_dir(path.parent)


def _fsync_dir(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _bump_generation(state_dir: Path) -> None:
    path = generation_path(state_dir)
    try:
        current = int(path.read_text().strip() or 0)
    except (OSError, ValueError):
        current = 0
    _write_atomic(path, f"{current + 1}\n".encode())


@contextlib.contextmanager
def _locked(state_dir: Path) -> Iterator[None]:
    root = state_dir / OPERATOR_DIR
    root.mkdir(parents=True, exist_ok=True)
    with open(root / ".lock", "a+") as f:
        fcntl.flock(f, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)


def _collect_prefix_files(state_dir: Path, keep: set[str]) -> None:
    directory = state_dir / OPERATOR_DIR / CLIENTS_DIR
    if not directory.is_dir():
        return
    old = time.time() - PREFIX_GRACE
    for path in directory.glob(f"*{PREFIX_SUFFIX}"):
        if path.name.removesuffix(PREFIX_SUFFIX) in keep:
            continue
        with contextlib.suppress(OSError):
            if path.stat().st_mtime < old:
                path.unlink()


def _check_group_names(items: list[dict[str, Any]]) -> None:
    from resolver.groups import GroupSettings

    seen: set[str] = set()
    for i, item in enumerate(items):
        name = item["name"]
        try:
            GroupSettings(name=name).validate()
        except ValueError as exc:
            raise ValueError(f"groups[{i}].name: {exc}") from None
        if name in seen:
            raise ValueError(f"groups[{i}].name: the name {name!r} is used twice")
        seen.add(name)
