"""OpenWrt's /etc/config/straja (UCI) translated into Straja's YAML config.

The procd init script runs `python3 -m admin.uci ...` with what it knows of the router (the
LAN's addresses, the WAN's DHCP resolvers, the local domain), then `straja config check` on
the result before it restarts anything. Every option is listed in OPTIONS and
deploy/openwrt/files/straja.config; an unknown option is an error naming its line.

The two dnsmasq modes:
- forward: dnsmasq keeps port 53 and DHCP and forwards to Straja on loopback; Straja trusts
  it as a forwarder (127.0.0.1, ::1), so dnsmasq's MAC and subnet options still pick the
  client's group.
- replace: Straja answers on the LAN's addresses on port 53; dnsmasq keeps DHCP and answers
  the DHCP hostnames on 127.0.0.1:5354, which Straja's `forward:` entries point at.
In both modes Straja's upstreams are the WAN's DHCP resolvers (or the `upstream` list),
never dnsmasq, which would loop.
"""

from __future__ import annotations

import argparse
import ipaddress
import shlex
import sys
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

import yaml

DNSMASQ_LOCAL_PORT = 5354  # replace mode: dnsmasq's DNS, for the DHCP hostnames only
WAN_RESOLV = "/tmp/resolv.conf.d/resolv.conf.auto"
ROUTER_FLUSH_INTERVAL = "10m"  # admin.flush_interval unless UCI says otherwise


class UciError(ValueError):
    """A UCI file or option that cannot be translated; the message names file, line, option."""


@dataclass
class Section:
    kind: str
    name: str
    line: int
    options: dict[str, tuple[str, int]] = field(default_factory=dict)
    lists: dict[str, list[tuple[str, int]]] = field(default_factory=dict)


def parse_uci(text: str, source: str = "/etc/config/straja") -> list[Section]:
    """The sections of a UCI file (`config`, `option`, `list` lines; quotes as uci writes)."""
    sections: list[Section] = []
    anonymous: dict[str, int] = {}
    for number, raw in enumerate(text.splitlines(), 1):
        try:
            words = shlex.split(raw, comments=True)
        except ValueError as exc:
            raise UciError(f"{source}:{number}: cannot read this line ({exc})") from None
        if not words:
            continue
        keyword = words[0]
        if keyword == "package":
            continue
        if keyword == "config":
            if len(words) not in (2, 3):
                raise UciError(f"{source}:{number}: write config TYPE ['NAME']")
            kind = words[1]
            if len(words) == 3:
                name = words[2]
            else:
                anonymous[kind] = anonymous.get(kind, -1) + 1
                name = f"@{kind}[{anonymous[kind]}]"
            sections.append(Section(kind, name, number))
            continue
        if keyword not in ("option", "list") or len(words) != 3:
            raise UciError(f"{source}:{number}: expected option NAME 'VALUE' or list NAME 'VALUE'")
        if not sections:
            raise UciError(f"{source}:{number}: {keyword} {words[1]} comes before any config line")
        section = sections[-1]
        if keyword == "option":
            section.options[words[1]] = (words[2], number)
        else:
            section.lists.setdefault(words[1], []).append((words[2], number))
    return sections


@dataclass
class RouterFacts:
    """What the init script found out about the router (all optional)."""

    lan_ipv4: list[str] = field(default_factory=list)  # "192.168.1.1/24"
    lan_ipv6: list[str] = field(default_factory=list)  # "fd12:3456::1/64"
    wan_resolvers: list[str] = field(default_factory=list)
    domain: str = "lan"


def read_resolv_conf(path: str | Path) -> list[str]:
    """The nameservers of a resolv.conf (the WAN's DHCP ones), loopback left out."""
    try:
        lines = Path(path).read_text().splitlines()
    except OSError:
        return []
    found = []
    for line in lines:
        words = line.split()
        if len(words) >= 2 and words[0] == "nameserver":
            try:
                address = ipaddress.ip_address(words[1].split("%")[0])
            except ValueError:
                continue
            if not address.is_loopback and str(address) not in found:
                found.append(str(address))
    return found


# Every option of the main section: (kind, where it goes). Kinds: str, int, bool, list.
OPTIONS: dict[str, str] = {
    "enabled": "bool",          # the init script's own switch
    "dnsmasq_mode": "str",      # forward | replace
    "port": "int",              # forward mode: Straja's loopback port (default 5353)
    "workers": "int",
    "upstream": "list",         # default: the WAN's DHCP resolvers
    "allow": "list",            # access.allow (default: local)
    "state_dir": "str",         # on flash: the last-known-good lists survive a reboot
    "counters_dir": "str",      # RAM: the workers' counter files (see the init script)
    "log_level": "str",
    "cache_size": "str",        # cache.max_bytes, e.g. 16MB
    "cache_entries": "int",     # cache.max_entries
    "blocking_action": "str",
    "sinkhole_ipv4": "str",     # default: the router's LAN address (the STOP page)
    "sinkhole_ipv6": "str",
    "stop_page": "bool",
    "stop_page_https_reject": "bool",
    "deployment": "str",
    "language": "str",
    "operator_name": "str",
    "contact": "str",
    "timezone": "str",
    "local_allow": "list",
    "local_deny": "list",
    "ui": "bool",               # admin.enabled (once the admin UI is part of the build)
    "ui_port": "int",           # admin.listen on the LAN address and loopback
    "query_log": "bool",        # query_log.enabled
    "query_log_storage": "str",  # query_log.storage: memory (default here: RAM) or database
    "query_log_entries": "int",  # query_log.memory_entries
    "flush_interval": "str",    # admin.flush_interval (default here 10m: spares the flash)
    "firewall": "bool",         # the fw4 include: redirect LAN DNS, reject DoT/DoQ
    "extra": "str",             # a YAML file merged last, for what UCI does not cover
}
LIST_OPTIONS: dict[str, str] = {
    "id": "str",  # when the list id is no valid UCI section name (uci allows [A-Za-z0-9_])
    "source": "str", "tier": "str", "format": "str", "key": "list", "refresh": "str",
    "action": "str", "signed": "bool", "category": "str", "enabled": "bool",
}
# Options the init script reads itself; the translator only checks them.
INIT_ONLY = {"enabled", "counters_dir", "firewall"}


def _value(section: Section, name: str, kind: str, source: str) -> Any:
    if kind == "list":
        values = [v for v, _ in section.lists.get(name, [])]
        if name in section.options:  # `option key 'X'` for a single value is common
            values.insert(0, section.options[name][0])
        return values
    if name in section.lists:
        raise UciError(f"{source}:{section.lists[name][0][1]}: {name} is an option, not a list")
    if name not in section.options:
        return None
    text, line = section.options[name]
    if kind == "bool":
        if text in ("1", "yes", "on", "true", "enabled"):
            return True
        if text in ("0", "no", "off", "false", "disabled"):
            return False
        raise UciError(f"{source}:{line}: {name} is '{text}'; write '1' or '0'")
    if kind == "int":
        try:
            return int(text)
        except ValueError:
            raise UciError(f"{source}:{line}: {name} is '{text}'; write a whole number") from None
    return text


def _check_names(section: Section, known: dict[str, str], source: str) -> None:
    for name, (_, line) in section.options.items():
        if name not in known:
            raise UciError(f"{source}:{line}: unknown option {name} in config {section.kind}; "
                           f"known: {', '.join(sorted(known))}")
    for name, entries in section.lists.items():
        if name not in known:
            raise UciError(f"{source}:{entries[0][1]}: unknown list {name} in config "
                           f"{section.kind}; known: {', '.join(sorted(known))}")


def _bracket(host: str) -> str:
    return f"[{host}]" if ":" in host else host


def reverse_zone(cidr: str) -> str:
    """The in-addr.arpa / ip6.arpa zone of a subnet, on an octet or nibble boundary."""
    network = ipaddress.ip_interface(cidr).network
    if network.version == 4:
        octets = str(network.network_address).split(".")[: max(1, network.prefixlen // 8)]
        return ".".join(reversed(octets)) + ".in-addr.arpa"
    nibbles = network.network_address.exploded.replace(":", "")[: max(1, network.prefixlen // 4)]
    return ".".join(reversed(nibbles)) + ".ip6.arpa"


def supported_sections() -> set[str]:
    """Top-level keys this build's config accepts (admin:, query_log:, forward: come with
    the admin UI and upstreams work; the translator emits them only when they exist)."""
    from admin.config import Config

    return {f.name for f in fields(Config)}


def translate(
    sections: list[Section], facts: RouterFacts, source: str = "/etc/config/straja",
    supported: set[str] | None = None,
) -> dict[str, Any]:
    """Straja's config as a dict, from the UCI sections and the router's facts."""
    supported = supported_sections() if supported is None else supported
    mains = [s for s in sections if s.kind == "straja"]
    if len(mains) != 1:
        raise UciError(f"{source}: needs exactly one 'config straja' section, found {len(mains)}")
    main = mains[0]
    _check_names(main, OPTIONS, source)
    for section in sections:
        if section.kind not in ("straja", "list"):
            raise UciError(f"{source}:{section.line}: unknown section type {section.kind}; "
                           "use 'config straja' and 'config list'")
    opt = {name: _value(main, name, kind, source) for name, kind in OPTIONS.items()}

    mode = opt["dnsmasq_mode"] or "forward"
    if mode not in ("forward", "replace"):
        line = main.options["dnsmasq_mode"][1]
        raise UciError(f"{source}:{line}: dnsmasq_mode is '{mode}'; write forward or replace")
    lan4 = [str(ipaddress.ip_interface(a).ip) for a in facts.lan_ipv4]
    lan6 = [str(ipaddress.ip_interface(a).ip) for a in facts.lan_ipv6]

    config: dict[str, Any] = {}
    dns: dict[str, Any] = {"workers": opt["workers"] or 1}
    access: dict[str, Any] = {"allow": opt["allow"] or ["local"]}
    if mode == "forward":
        port = opt["port"] or 5353
        dns["listen"] = [f"127.0.0.1:{port}", f"[::1]:{port}"]
        access["trusted_forwarders"] = ["127.0.0.1", "::1"]
    else:
        # `port` is forward mode's loopback port; replace mode answers on 53, so a port
        # left from forward mode (the shipped file sets one) does not stop a switch.
        dns["listen"] = [f"{_bracket(a)}:53" for a in ["127.0.0.1", "::1", *lan4, *lan6]]
    config["dns"] = dns

    upstreams = opt["upstream"] or facts.wan_resolvers
    if not upstreams:
        raise UciError(f"{source}: no upstream: the WAN has no DHCP resolvers yet ({WAN_RESOLV} "
                       "is empty) and no 'list upstream' is set")
    config["upstreams"] = [_with_port(u) for u in upstreams]
    config["access"] = access

    cache: dict[str, Any] = {}
    if opt["cache_size"]:
        cache["max_bytes"] = opt["cache_size"]
    if opt["cache_entries"]:
        cache["max_entries"] = opt["cache_entries"]
    if cache:
        config["cache"] = cache

    blocking: dict[str, Any] = {}
    if opt["blocking_action"]:
        blocking["action"] = opt["blocking_action"]
    sinkhole: dict[str, Any] = {}
    stop_page_on = opt["stop_page"] is not False
    if opt["sinkhole_ipv4"]:
        sinkhole["ipv4"] = opt["sinkhole_ipv4"]
    elif stop_page_on and lan4:
        sinkhole["ipv4"] = lan4[0]  # blocked names land on the router's STOP page
    if opt["sinkhole_ipv6"]:
        sinkhole["ipv6"] = opt["sinkhole_ipv6"]
    elif stop_page_on and lan6:
        sinkhole["ipv6"] = lan6[0]
    if sinkhole:
        blocking["sinkhole"] = sinkhole
    if blocking:
        config["blocking"] = blocking

    local = {k: v for k, v in (("allow", opt["local_allow"]), ("deny", opt["local_deny"])) if v}
    if local:
        config["local"] = local

    lists = []
    for section in sections:
        if section.kind != "list":
            continue
        _check_names(section, LIST_OPTIONS, source)
        entry = _list_entry(section, source)
        if entry is not None:
            lists.append(entry)
    config["lists"] = lists

    page: dict[str, Any] = {"enabled": stop_page_on}
    if stop_page_on:
        # On the router's LAN addresses, port 80 (the sinkhole points there), HTTPS refused
        # fast on 443 so browsers give up at once; 127.0.0.1 without a LAN address.
        hosts = [*lan4, *lan6] or ["127.0.0.1"]
        page["listen"] = [f"{_bracket(h)}:80" for h in hosts]
        if opt["stop_page_https_reject"] is not False and (lan4 or lan6):
            page["https_reject"] = [f"{_bracket(h)}:443" for h in hosts]
    for name in ("deployment", "language", "operator_name", "contact"):
        if opt[name]:
            page[name] = opt[name]
    config["stop_page"] = page

    if opt["timezone"]:
        config["timezone"] = opt["timezone"]
    config["state_dir"] = opt["state_dir"] or "/etc/straja/state"
    config["log"] = {"level": opt["log_level"] or "info"}

    if "admin" in supported:
        admin: dict[str, Any] = {"enabled": opt["ui"] is not False}
        ui_port = opt["ui_port"] or 8053
        ui_hosts = dict.fromkeys(["127.0.0.1", *lan4])  # loopback once, even as the LAN's
        admin["listen"] = [f"{_bracket(h)}:{ui_port}" for h in ui_hosts]
        admin["flush_interval"] = _flush_interval(main, opt["flush_interval"], source)
        config["admin"] = admin
    elif opt["ui"]:
        pass  # the admin UI is not part of this build; nothing to switch on
    if "query_log" in supported:
        query_log: dict[str, Any] = {"enabled": bool(opt["query_log"]),
                                     "storage": opt["query_log_storage"] or "memory"}
        if query_log["storage"] not in ("memory", "database"):
            line = main.options["query_log_storage"][1]
            raise UciError(f"{source}:{line}: query_log_storage is '{query_log['storage']}'; "
                           "write memory (RAM, lost on reboot) or database (on flash)")
        if opt["query_log_entries"] is not None:
            query_log["memory_entries"] = opt["query_log_entries"]
        config["query_log"] = query_log
    if mode == "replace" and "forward" in supported:
        local_dns = [f"127.0.0.1:{DNSMASQ_LOCAL_PORT}"]
        zones = [facts.domain, *(reverse_zone(a) for a in [*facts.lan_ipv4, *facts.lan_ipv6])]
        config["forward"] = [{"domain": zone, "upstreams": local_dns} for zone in zones]

    if opt["extra"]:
        config = merge(config, _read_extra(opt["extra"], source, main))
    return config


def _flush_interval(main: Section, text: str | None, source: str) -> str:
    """admin.flush_interval: the router's default is 10m (flash is written six times an
    hour); a value the config would refuse is named with its UCI line here."""
    if text is None:
        return ROUTER_FLUSH_INTERVAL
    from admin.config import parse_duration
    from admin.settings import MAX_FLUSH, MIN_FLUSH

    try:
        seconds = parse_duration(text)
    except ValueError as exc:
        raise UciError(f"{source}:{main.options['flush_interval'][1]}: flush_interval is "
                       f"'{text}': {exc}") from None
    if not MIN_FLUSH <= seconds <= MAX_FLUSH:
        raise UciError(f"{source}:{main.options['flush_interval'][1]}: flush_interval is "
                       f"'{text}'; write between 1s and 1h, e.g. 10m")
    return text


def _with_port(upstream: str) -> str:
    """A bare address gets port 53; host:port and [v6]:port stay as written."""
    try:
        address = ipaddress.ip_address(upstream)
    except ValueError:
        return upstream
    return f"{_bracket(str(address))}:53"


def _list_entry(section: Section, source: str) -> dict[str, Any] | None:
    values = {name: _value(section, name, kind, source) for name, kind in LIST_OPTIONS.items()}
    if values["enabled"] is False:
        return None
    if section.name.startswith("@"):
        raise UciError(f"{source}:{section.line}: a list needs a name, its id: "
                       "config list 'hotline'")
    for required in ("source", "tier"):
        if not values[required]:
            raise UciError(f"{source}:{section.line}: list {section.name} needs option {required}")
    entry: dict[str, Any] = {"id": values["id"] or section.name, "source": values["source"],
                             "tier": values["tier"]}
    if values["format"]:
        entry["format"] = values["format"]
    if values["key"]:
        entry["keys"] = values["key"]
    for name in ("refresh", "action", "category"):
        if values[name]:
            entry[name] = values[name]
    if values["signed"] is False:
        entry["signed"] = False
    return entry


def _read_extra(path: str, source: str, main: Section) -> dict[str, Any]:
    line = main.options["extra"][1]
    try:
        data = yaml.safe_load(Path(path).read_text())
    except (OSError, yaml.YAMLError) as exc:
        raise UciError(f"{source}:{line}: extra {path} cannot be read: {exc}") from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise UciError(f"{source}:{line}: extra {path} must hold a mapping of config sections")
    return data


def merge(base: dict[str, Any], extra: dict[str, Any]) -> dict[str, Any]:
    """`extra` over `base`: mappings merge key by key, anything else is replaced."""
    out = dict(base)
    for key, value in extra.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = merge(out[key], value)
        else:
            out[key] = value
    return out


HEADER = "# Generated from {source} by the straja init script; edit that file, not this one.\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python3 -m admin.uci",
                                     description="Translate /etc/config/straja into YAML.")
    parser.add_argument("--uci", default="/etc/config/straja")
    parser.add_argument("--out", required=True, help="where to write the YAML config")
    parser.add_argument("--resolv", default=WAN_RESOLV, help="the WAN's DHCP resolv.conf")
    parser.add_argument("--lan", action="append", default=[], help="a LAN address/prefix")
    parser.add_argument("--domain", default="lan", help="the DHCP hostnames' domain")
    args = parser.parse_args(argv)
    facts = RouterFacts(
        lan_ipv4=[a for a in args.lan if ":" not in a],
        lan_ipv6=[a for a in args.lan if ":" in a],
        wan_resolvers=read_resolv_conf(args.resolv),
        domain=args.domain,
    )
    try:
        text = Path(args.uci).read_text()
        config = translate(parse_uci(text, args.uci), facts, args.uci)
    except OSError as exc:
        print(f"straja: cannot read {args.uci}: {exc.strerror}", file=sys.stderr)
        return 78
    except (UciError, ValueError) as exc:
        print(f"straja: {exc}", file=sys.stderr)
        return 78
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_suffix(".tmp")
    tmp.write_text(HEADER.format(source=args.uci) + yaml.safe_dump(config, sort_keys=False))
    tmp.replace(out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
