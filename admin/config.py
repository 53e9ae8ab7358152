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
from urllib.parse import parse_qs, urlsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import yaml

from admin.alerts import AlertSettings
from admin.settings import AdminSettings, QueryLogSettings
from blocklists.spec import ListSpec
from resolver.groups import GroupSettings
from resolver.localnames import (
    ForwardRule,
    LocalRecordError,
    build_local_names,
    ddr_problem,
    parse_record,
)
from resolver.ratelimit import RateLimitSettings
from resolver.settings import (
    AccessSettings,
    BlockingSettings,
    CacheSettings,
    DnsSettings,
    LocalSettings,
    UpstreamTlsSettings,
)
from resolver.stoppage import StopPageSettings
from resolver.upstream_spec import Strategy, UpstreamSpec, parse_upstream


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


def _parse_address(text: object) -> str:
    import ipaddress

    try:
        return str(ipaddress.ip_address(str(text)))
    except ValueError:
        raise ValueError(f"{text!r} is not an IP address") from None


def _parse_record(text: object) -> str:
    """A `local_records` line, checked here so `config check` names the bad one."""
    if not isinstance(text, str):
        raise ValueError(f"expected a zone-file line as text, got {text!r}")
    try:
        parse_record(text, "this line")
    except LocalRecordError as exc:
        raise ValueError(str(exc)) from None
    return text


@dataclass(slots=True)
class Config:
    """The whole config file. `source` is the file it came from, for messages and reloads."""

    dns: DnsSettings = field(default_factory=DnsSettings)
    upstreams: list[UpstreamSpec] = field(
        default_factory=list, metadata={"parse": parse_upstream}
    )
    upstream_strategy: Strategy = "failover"
    upstream_bootstrap: list[str] = field(default_factory=list,
                                          metadata={"parse": _parse_address})
    upstream_tls: UpstreamTlsSettings = field(default_factory=UpstreamTlsSettings)
    cache: CacheSettings = field(default_factory=CacheSettings)
    access: AccessSettings = field(default_factory=AccessSettings)
    rate_limit: RateLimitSettings = field(default_factory=RateLimitSettings)
    state_dir: str = "state"
    log: LogSettings = field(default_factory=LogSettings)
    blocking: BlockingSettings = field(default_factory=BlockingSettings)
    local: LocalSettings = field(default_factory=LocalSettings)
    lists: list[ListSpec] = field(default_factory=list)
    groups: list[GroupSettings] = field(default_factory=list)
    timezone: str | None = None
    forward: list[ForwardRule] = field(default_factory=list)
    local_records: list[str] = field(default_factory=list, metadata={"parse": _parse_record})
    local_hosts: str | None = None
    stop_page: StopPageSettings = field(default_factory=StopPageSettings)
    admin: AdminSettings = field(default_factory=AdminSettings)
    query_log: QueryLogSettings = field(default_factory=QueryLogSettings)
    alerts: AlertSettings = field(default_factory=AlertSettings)
    source: str = field(default="", metadata={"internal": True})

    def validate(self) -> None:
        if not self.upstreams:
            raise ValueError("upstreams is empty; name at least one resolver as host:port")
        for i, upstream in enumerate(self.upstreams):
            if upstream.needs_bootstrap:
                if not self.upstream_bootstrap:
                    raise ValueError(
                        f"upstreams[{i}]: {upstream} names its server by host name; give "
                        "its addresses with bootstrap: in the mapping form, or a global "
                        "upstream_bootstrap: list, so Straja need not resolve its own "
                        "resolver"
                    )
                self.upstreams[i] = upstream.with_bootstrap(tuple(self.upstream_bootstrap))
        page = {*self.stop_page.listen, *self.stop_page.https_reject} \
            if self.stop_page.enabled else set()
        for key in ("tls_listen", "https_listen"):
            for address in getattr(self.dns, key):
                if address in page or address in self.dns.listen:
                    raise ValueError(f"dns.{key}: {address} is also a STOP page or plain DNS "
                                     "address; give encrypted DNS its own address or port")
        domains = [rule.domain for rule in self.forward]
        for domain in domains:
            if domains.count(domain) > 1:
                raise ValueError(f"forward: the domain {domain!r} is listed twice")
        try:
            build_local_names(self.local_records, None, self.forward)
        except LocalRecordError as exc:
            raise ValueError(str(exc)) from None
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

    def check_files(self) -> tuple[str, str] | None:
        """Check the files the config names once their paths are resolved: (key, reason)
        of the first that cannot be used, else None."""
        ca_file = self.upstream_tls.ca_file
        if ca_file is not None and not Path(ca_file).is_file():
            return "upstream_tls.ca_file", f"{ca_file} does not exist"
        dns = self.dns
        if not (dns.tls_listen or dns.https_listen):
            return None
        import ssl

        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        try:
            context.load_cert_chain(dns.tls_cert or "", dns.tls_key or "")
        except (OSError, ssl.SSLError) as exc:
            reason = getattr(exc, "strerror", None) or exc
            return "dns.tls_cert", f"cannot use {dns.tls_cert} with {dns.tls_key}: {reason}"
        if dns.ddr:
            problem = ddr_problem(dns.listen, dns.tls_cert or "")
            if problem is not None:
                return "dns.ddr", problem
        return None

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
        if self.local_hosts and not Path(self.local_hosts).is_absolute():
            self.local_hosts = str(base / self.local_hosts)
        for section, key in ((self.dns, "tls_cert"), (self.dns, "tls_key"),
                             (self.upstream_tls, "ca_file")):
            value = getattr(section, key)
            if value and not Path(value).is_absolute():
                setattr(section, key, str(base / value))
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
    problem = config.check_files()
    if problem is not None:
        raise builder.error(*problem)
    _check_keys(config, builder)
    return config


def _check_keys(config: Config, builder: _Builder) -> None:
    """Refuse a pinned publisher key that does not parse, or a .pub path that is not there:
    such a list could never activate, so the config is wrong, not the list."""
    from blocklists import minisign  # cryptography: only when lists pin keys

    for i, spec in enumerate(config.lists):
        for j, key in enumerate(spec.keys):
            try:
                minisign.PublicKey.parse(key)
            except (minisign.MalformedKeyError, OSError) as exc:
                raise builder.error(f"lists[{i}].keys[{j}]", f"list {spec.id}: {exc}") from None


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


def exposed_secrets_warning(path: str | Path) -> str | None:
    """A warning when the config file holds secrets and users other than its owner may
    read it. A secret is a value of a key the schema marks `secret` (an SMTP password, a
    webhook URL, whose path is usually its token, a group's `doh_token`), or any URL with a
    password in it (`admin.database`, an upstream, a list source). The warning names the
    keys and their lines, never the values."""
    path = Path(path)
    try:
        mode = path.stat().st_mode
        text = path.read_text(encoding="utf-8")
        data = yaml.safe_load(text)
        lines = _line_map(yaml.compose(text, Loader=yaml.SafeLoader))
    except (OSError, yaml.YAMLError, UnicodeDecodeError):
        return None
    if not mode & 0o044:
        return None
    found = sorted({*_schema_secrets(Config, data, ""), *_url_secrets(data, "")})
    if not found:
        return None
    named = ", ".join(f"{key} (line {lines[key]})" if key in lines else key for key in found)
    return (f"{path} holds secrets ({named}) but is readable by "
            f"{'others' if mode & 0o004 else 'its group'} (mode {mode & 0o777:o}); "
            f"run chmod 600 {path}")


def _schema_secrets(hint: object, data: object, prefix: str) -> list[str]:
    """Key paths in `data` whose field in the schema (`hint`) is marked secret and set."""
    origin = typing.get_origin(hint)
    if origin in (typing.Union, types.UnionType):
        return [k for arg in typing.get_args(hint) if arg is not type(None)
                for k in _schema_secrets(arg, data, prefix)]
    if origin is list and isinstance(data, list):
        (item,) = typing.get_args(hint)
        return [k for i, value in enumerate(data)
                for k in _schema_secrets(item, value, f"{prefix}[{i}]")]
    if not (isinstance(hint, type) and dataclasses.is_dataclass(hint)
            and isinstance(data, dict)):
        return []
    found: list[str] = []
    hints = typing.get_type_hints(hint)
    for f in dataclasses.fields(hint):
        key = f.metadata.get("key", f.name)
        if key not in data:
            continue
        name = f"{prefix}.{key}" if prefix else key
        if f.metadata.get("secret"):
            if data[key] not in (None, "", [], {}):
                found.append(name)
        else:
            found.extend(_schema_secrets(hints[f.name], data[key], name))
    return found


def _url_secrets(data: object, prefix: str) -> list[str]:
    """Key paths in `data` whose value is a URL carrying a password: in its userinfo
    (`postgresql+psycopg://straja:PW@host/db`) or as a `password=` query parameter."""
    if isinstance(data, dict):
        return [k for key, value in data.items()
                for k in _url_secrets(value, f"{prefix}.{key}" if prefix else str(key))]
    if isinstance(data, list):
        return [k for i, value in enumerate(data) for k in _url_secrets(value, f"{prefix}[{i}]")]
    if isinstance(data, str) and "://" in data and _url_has_password(data):
        return [prefix]
    return []


def _url_has_password(text: str) -> bool:
    try:
        url = urlsplit(text.strip())
        query = parse_qs(url.query)
    except ValueError:  # not a URL after all (the loader says what is wrong with it)
        return False
    return bool(url.password) or any(q.lower() in ("password", "passwd") for q in query)
