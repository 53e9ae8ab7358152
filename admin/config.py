"""Loading `config.yaml` into typed config sections, refusing anything doubtful.

Every section is a dataclass that lives beside the code that uses it (resolver.settings for
the data plane). This module turns YAML into those objects: unknown keys, wrong types and
bad values are refused with an error naming the file, the line, the key and the reason.
"""

from __future__ import annotations

import dataclasses
import re
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import yaml

from admin.alerts import AlertSettings
from admin.settings import AdminSettings, QueryLogSettings
from blocklists.spec import ListSpec
from resolver.groups import GroupSettings
from resolver.settings import (
    AccessSettings,
    BlockingSettings,
    CacheSettings,
    DnsSettings,
    HostPort,
    LocalSettings,
)
from resolver.stoppage import StopPageSettings


class ConfigError(Exception):
    """A config file that cannot be used. The message names file, line, key and reason."""


_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h|d|w)\s*$")
_DURATION_UNITS = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}
_SIZE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(b|kb|mb|gb|kib|mib|gib)?\s*$", re.IGNORECASE)
_SIZE_UNITS = {
    "b": 1, "kb": 1000, "mb": 1000**2, "gb": 1000**3,
    "kib": 1024, "mib": 1024**2, "gib": 1024**3,
}  # fmt: skip


def parse_duration(value: object) -> float:
    """Seconds from `30s`, `15m`, `12h`, `7d` (also `500ms`, `2w`); 0 may be written bare."""
    if value == 0 and not isinstance(value, bool):
        return 0.0
    if isinstance(value, str):
        m = _DURATION.match(value)
        if m:
            return float(m.group(1)) * _DURATION_UNITS[m.group(2)]
    raise ValueError(f"{value!r} is not a duration; write it like 30s, 15m, 12h or 7d")


def parse_size(value: object) -> int:
    """Bytes from a number or `512KB`, `64MB`, `1GiB`."""
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    if isinstance(value, str):
        m = _SIZE.match(value)
        if m:
            return int(float(m.group(1)) * _SIZE_UNITS[(m.group(2) or "b").lower()])
    raise ValueError(f"{value!r} is not a size; write it like 65536, 512KB or 64MB")


@dataclass(slots=True)
class LogSettings:
    """`log:` how much the daemon says on stderr."""

    level: Literal["debug", "info", "warning", "error"] = "info"


BUILTIN = "builtin:"


def builtin_list_path(name: str) -> Path:
    """The file of a list shipped with Straja (`source: builtin:doh-resolvers`)."""
    import blocklists

    return Path(blocklists.__file__).parent / "builtin" / f"{name}.txt"


def _parse_upstream(text: str) -> HostPort:
    return HostPort.parse(text, default_port=53)


@dataclass(slots=True)
class Config:
    """The whole config file. `source` is the file it came from, for messages and reloads."""

    dns: DnsSettings = field(default_factory=DnsSettings)
    upstreams: list[HostPort] = field(
        default_factory=list, metadata={"parse": _parse_upstream}
    )
    cache: CacheSettings = field(default_factory=CacheSettings)
    access: AccessSettings = field(default_factory=AccessSettings)
    state_dir: str = "state"
    log: LogSettings = field(default_factory=LogSettings)
    blocking: BlockingSettings = field(default_factory=BlockingSettings)
    local: LocalSettings = field(default_factory=LocalSettings)
    lists: list[ListSpec] = field(default_factory=list)
    groups: list[GroupSettings] = field(default_factory=list)
    timezone: str | None = None
    stop_page: StopPageSettings = field(default_factory=StopPageSettings)
    admin: AdminSettings = field(default_factory=AdminSettings)
    query_log: QueryLogSettings = field(default_factory=QueryLogSettings)
    alerts: AlertSettings = field(default_factory=AlertSettings)
    source: str = field(default="", metadata={"internal": True})

    def validate(self) -> None:
        if not self.upstreams:
            raise ValueError("upstreams is empty; name at least one resolver as host:port")
        ids = [spec.id for spec in self.lists]
        for list_id in ids:
            if ids.count(list_id) > 1:
                raise ValueError(f"lists: the id {list_id!r} is used twice")
        tiers = {spec.id: spec.tier for spec in self.lists}
        names = [g.name for g in self.groups]
        for group in self.groups:
            if names.count(group.name) > 1:
                raise ValueError(f"groups: the name {group.name!r} is used twice")
            wanted = list(group.lists) + [i for s in group.schedules for i in s.lists]
            for list_id in wanted:
                if list_id not in tiers:
                    raise ValueError(f"groups: {group.name} names list {list_id!r}, which is "
                                     "not configured under lists:")
                if tiers[list_id] == "mandatory":
                    raise ValueError(f"groups: {group.name} names mandatory list {list_id!r}; "
                                     "mandatory lists apply to every client and are not "
                                     "assigned to groups")
        if self.timezone is not None:
            try:
                ZoneInfo(self.timezone)
            except (ZoneInfoNotFoundError, ValueError):
                raise ValueError(f"timezone {self.timezone!r} is unknown; write an IANA name "
                                 "such as Europe/Chisinau (install tzdata if none is known)"
                                 ) from None

    def resolve_paths(self) -> None:
        """Make relative list sources and key files relative to the config file's folder."""
        if not self.source:
            return
        base = Path(self.source).resolve().parent
        for spec in self.lists:
            if spec.source.startswith(BUILTIN):
                spec.source = str(builtin_list_path(spec.source[len(BUILTIN):]))
            elif not spec.is_url and not Path(spec.source).is_absolute():
                spec.source = str(base / spec.source)
            spec.keys = [
                str(base / k) if k.endswith(".pub") and not Path(k).is_absolute() else k
                for k in spec.keys
            ]
        for attr in ("tls_cert", "tls_key"):
            value = getattr(self.admin, attr)
            if value is not None and not Path(value).is_absolute():
                setattr(self.admin, attr, str(base / value))

    @property
    def state_path(self) -> Path:
        """state_dir, relative to the config file's folder when not absolute."""
        path = Path(self.state_dir)
        if not path.is_absolute() and self.source:
            path = Path(self.source).resolve().parent / path
        return path


def load_config(path: str | Path) -> Config:
    """Read and validate a config file; raises ConfigError naming what is wrong and where."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read the config file: {exc.strerror or exc}") from None
    return load_config_text(text, str(path))


def load_config_text(text: str, source: str = "<config>") -> Config:
    """Like load_config, from text already read."""
    try:
        node = yaml.compose(text, Loader=yaml.SafeLoader)
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"{source}:{mark.line + 1}" if mark is not None else source
        problem = getattr(exc, "problem", None) or str(exc)
        raise ConfigError(f"{where}: the file is not valid YAML: {problem}") from None
    if data is None:
        data = {}
    lines = _line_map(node)
    builder = _Builder(source, lines)
    config = builder.build(Config, data, "")
    config.source = source
    config.resolve_paths()
    return config


def _line_map(node: yaml.Node | None, prefix: str = "") -> dict[str, int]:
    """Key path (`dns.listen[0]`) -> 1-based line, from the YAML node tree."""
    lines: dict[str, int] = {}
    if isinstance(node, yaml.MappingNode):
        for key_node, value_node in node.value:
            key = f"{prefix}.{key_node.value}" if prefix else str(key_node.value)
            lines[key] = key_node.start_mark.line + 1
            lines.update(_line_map(value_node, key))
    elif isinstance(node, yaml.SequenceNode):
        for i, item in enumerate(node.value):
            key = f"{prefix}[{i}]"
            lines[key] = item.start_mark.line + 1
            lines.update(_line_map(item, key))
    return lines


_TYPE_NAMES = {int: "a whole number", float: "a number", str: "text", bool: "true or false"}


class _Builder:
    """Builds dataclasses from plain YAML data, with errors that name file, line and key."""

    def __init__(self, source: str, lines: dict[str, int]) -> None:
        self.source = source
        self.lines = lines

    def error(self, key: str, reason: str) -> ConfigError:
        probe = key
        line = self.lines.get(probe)
        while line is None and probe:
            parent = re.sub(r"(\.[^.\[]+|\[\d+\])$", "", probe)
            if parent == probe:
                break
            probe = parent
            line = self.lines.get(probe)
        where = f"{self.source}:{line}" if line else self.source
        shown = key or "top level"
        return ConfigError(f"{where}: {shown}: {reason}")

    def build(self, cls: type[Any], data: object, key: str) -> Any:
        if not isinstance(data, dict):
            raise self.error(key, f"expected a mapping of keys, got {_describe(data)}")
        hints = typing.get_type_hints(cls)
        fields = {
            f.metadata.get("key", f.name): f
            for f in dataclasses.fields(cls)
            if not f.metadata.get("internal")
        }
        unknown = [k for k in data if k not in fields]
        if unknown:
            known = ", ".join(sorted(fields))
            name = f"{key}.{unknown[0]}" if key else str(unknown[0])
            raise self.error(name, f"unknown key; the keys here are: {known}")
        values = {}
        for name, value in data.items():
            f = fields[name]
            sub = f"{key}.{name}" if key else name
            values[f.name] = self.convert(hints[f.name], value, sub, f.metadata)
        obj = cls(**values)
        validate = getattr(obj, "validate", None)
        if validate is not None:
            try:
                validate()
            except ValueError as exc:
                raise self.error(key, str(exc)) from None
        return obj

    def convert(self, hint: Any, value: object, key: str, meta: Any) -> Any:
        origin = typing.get_origin(hint)
        args = typing.get_args(hint)
        if origin is list:
            if not isinstance(value, list):
                raise self.error(key, f"expected a list, got {_describe(value)}")
            return [self.convert(args[0], v, f"{key}[{i}]", meta) for i, v in enumerate(value)]
        parse = meta.get("parse")
        unit = meta.get("unit")
        try:
            if parse is not None:
                return parse(value)
            if unit == "duration":
                return parse_duration(value)
            if unit == "bytes":
                return parse_size(value)
        except ValueError as exc:
            raise self.error(key, str(exc)) from None
        if origin in (typing.Union, types.UnionType):
            if value is None and type(None) in args:
                return None
            inner = [a for a in args if a is not type(None)]
            if len(inner) == 1:
                return self.convert(inner[0], value, key, meta)
        if origin is Literal:
            if value not in args:
                choices = ", ".join(str(a) for a in args)
                raise self.error(key, f"{value!r} is not one of: {choices}")
            return value
        if dataclasses.is_dataclass(hint):
            return self.build(hint, value, key)  # type: ignore[arg-type]
        if hint is float and isinstance(value, int) and not isinstance(value, bool):
            return float(value)
        if hint in _TYPE_NAMES:
            if type(value) is not hint:
                raise self.error(key, f"expected {_TYPE_NAMES[hint]}, got {_describe(value)}")
            return value
        if hint is Any:
            return value
        raise self.error(key, f"cannot read a value of type {hint}")  # a bug in a section


def _describe(value: object) -> str:
    if value is None:
        return "nothing"
    if isinstance(value, bool):
        return f"{str(value).lower()} (true/false)"
    if isinstance(value, dict):
        return "a mapping"
    if isinstance(value, list):
        return "a list"
    return f"{value!r}"
