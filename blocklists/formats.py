"""List source parsers: domains, hosts, AdBlock and RPZ text into (name, rule flags) pairs.

Each parser streams: it reads one line at a time and yields rules as it goes. A bad line is
recorded in the `ParseReport` with its number and skipped; it never sinks the list. Rules a
parser recognises but Straja does not enforce (AdBlock options and cosmetic rules, RPZ IP
triggers, ...) are counted as unsupported.

Semantics (a public spec, keep exactly):

    domains  `d`                 d and every subdomain
    hosts    `0.0.0.0 d [d2...]` exactly d (also `127.0.0.1`, `::`, `::1`)
    adblock  `||d^`              d and every subdomain; `@@||d^` an exception for them
    any text `*.d`               the subdomains of d, not d itself
    rpz      owner `d`/`*.d`     exactly d / the subdomains of d; `CNAME .` NXDOMAIN,
                                 `CNAME *.` NODATA, `CNAME rpz-passthru.` exception,
                                 any other record a block with the default action
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import IO

from blocklists.errors import InvalidNameError, SourceFormatError
from blocklists.names import normalise_name
from blocklists.trie import (
    ACTION_DEFAULT,
    ACTION_NODATA,
    ACTION_NXDOMAIN,
    EXACT_ACTION_SHIFT,
    EXACT_ALLOW,
    EXACT_BLOCK,
    SUBTREE_ACTION_SHIFT,
    SUBTREE_ALLOW,
    SUBTREE_BLOCK,
)

FORMATS = ("domains", "hosts", "adblock", "rpz")

Rule = tuple[str, int]
"""A normalised name and the flag bits (see blocklists.trie) its rule sets."""

BLOCK_WITH_SUBDOMAINS = EXACT_BLOCK | SUBTREE_BLOCK
ALLOW_WITH_SUBDOMAINS = EXACT_ALLOW | SUBTREE_ALLOW

MAX_BAD_LINES_KEPT = 50


@dataclass(frozen=True)
class BadLine:
    """A source line that was skipped because it is not valid."""

    line: int
    text: str
    reason: str

    def __str__(self) -> str:
        return f"line {self.line}: {self.reason}"


@dataclass
class ParseReport:
    """What a parser saw: lines read, rules yielded, bad and unsupported lines."""

    source: str
    format: str
    lines: int = 0
    rules: int = 0
    skipped: int = 0  # bad lines (at least one rejected entry on them)
    unsupported: int = 0  # valid rules of a kind Straja does not enforce
    bad_lines: list[BadLine] = field(default_factory=list)  # the first MAX_BAD_LINES_KEPT

    def bad(self, line: int, text: str, reason: str) -> None:
        """Record a bad line."""
        self.skipped += 1
        if len(self.bad_lines) < MAX_BAD_LINES_KEPT:
            self.bad_lines.append(BadLine(line, text.strip()[:200], reason))


class _Bad(Exception):
    """Internal: this line is bad for the reason given."""


class _Unsupported(Exception):
    """Internal: this line is a rule Straja does not enforce."""


def parse_lines(lines: Iterable[str], fmt: str, report: ParseReport) -> Iterator[Rule]:
    """Yield the rules of the source `lines` written in format `fmt` (one of `FORMATS`),
    recording bad and unsupported lines in `report`."""
    try:
        parser = _PARSERS[fmt]
    except KeyError:
        raise SourceFormatError(
            f"Unknown list format {fmt!r}; use one of {', '.join(FORMATS)}."
        ) from None
    return parser(lines, report)


def open_source(path: str | os.PathLike[str]) -> IO[str]:
    """Open a list source as text for streaming (use it in a `with` block). UTF-8, a BOM
    is ignored; undecodable bytes become U+FFFD, so their line is reported bad instead of
    failing the whole list."""
    try:
        return open(path, encoding="utf-8-sig", errors="replace", newline=None)
    except OSError as exc:
        raise SourceFormatError(
            f"The list source {path} cannot be read: {exc.strerror or exc}."
        ) from None


def _wildcard_rule(token: str, plain_flags: int, subtree_flags: int) -> Rule:
    """The rule for `token`: `*.d` gives subtree_flags on d, anything else plain_flags."""
    if token.startswith("*."):
        token = token[2:]
        plain_flags = subtree_flags
    if "*" in token:
        raise _Bad(f"'{token}' has a '*' that is not a leading '*.' label.")
    try:
        return normalise_name(token), plain_flags
    except InvalidNameError as exc:
        raise _Bad(str(exc)) from None


def _name_rule(token: str, flags: int, normalise: Callable[[str], str]) -> Rule:
    """`token` with `flags`, or a `*.d` wildcard (subdomains only); bad names are _Bad."""
    if token[0] == "*":
        return _wildcard_rule(token, flags, SUBTREE_BLOCK)
    try:
        return normalise(token), flags
    except InvalidNameError as exc:
        raise _Bad(str(exc)) from None


def _parse_domains(lines: Iterable[str], report: ParseReport) -> Iterator[Rule]:
    normalise = normalise_name
    number = 0
    for number, raw in enumerate(lines, 1):
        line = raw.strip()
        if not line or line[0] == "#":
            continue
        if "#" in line:
            line = line.split("#", 1)[0].rstrip()
        try:
            if " " in line or "\t" in line:
                raise _Bad("Expected one domain name per line.")
            yield _name_rule(line, BLOCK_WITH_SUBDOMAINS, normalise)
            report.rules += 1
        except _Bad as exc:
            report.bad(number, raw, str(exc))
    report.lines += number


SINKHOLE_ADDRESSES = frozenset({"0.0.0.0", "127.0.0.1", "::", "::1"})
# The housekeeping names every hosts file starts with; blocking them would break the host.
HOSTS_HOUSEKEEPING = frozenset(
    {
        "localhost",
        "localhost.localdomain",
        "local",
        "broadcasthost",
        "ip6-localhost",
        "ip6-loopback",
        "ip6-localnet",
        "ip6-mcastprefix",
        "ip6-allnodes",
        "ip6-allrouters",
        "ip6-allhosts",
        "0.0.0.0",
    }
)
_ADDRESS_LIKE = re.compile(r"[0-9.]+|\S*:\S*")  # IPv4 digits and dots, or anything IPv6-ish


def _parse_hosts(lines: Iterable[str], report: ParseReport) -> Iterator[Rule]:
    normalise = normalise_name
    number = 0
    for number, raw in enumerate(lines, 1):
        line = raw.strip()
        if not line or line[0] == "#":
            continue
        if "#" in line:
            line = line.split("#", 1)[0]
        tokens = line.split()
        address = tokens[0]
        if address not in SINKHOLE_ADDRESSES:
            if _ADDRESS_LIKE.fullmatch(address):
                report.unsupported += 1  # e.g. "255.255.255.255 broadcasthost"
            else:
                report.bad(
                    number,
                    raw,
                    "Expected an address (0.0.0.0, 127.0.0.1, :: or ::1) followed by names.",
                )
            continue
        if len(tokens) == 1:
            report.bad(number, raw, f"No name after the address {address}.")
            continue
        problem = None
        for token in tokens[1:]:
            if token in HOSTS_HOUSEKEEPING:
                report.unsupported += 1
                continue
            try:
                yield _name_rule(token, EXACT_BLOCK, normalise)
                report.rules += 1
            except _Bad as exc:
                problem = problem or str(exc)
        if problem:
            report.bad(number, raw, problem)
    report.lines += number


# Characters that make an AdBlock network rule more than a plain domain (paths, ports,
# queries, separators): such rules are valid AdBlock but not enforceable by DNS.
_ADBLOCK_NOT_A_DOMAIN = re.compile(r"[/:?=&|^]")


def _parse_adblock(lines: Iterable[str], report: ParseReport) -> Iterator[Rule]:
    number = 0
    for number, raw in enumerate(lines, 1):
        line = raw.strip()
        if not line or line[0] in "![":
            continue
        if line[0] == "#" and line[1:2] not in ("#", "@", "?", "$", "%"):
            continue
        try:
            yield _adblock_rule(line)
            report.rules += 1
        except _Unsupported:
            report.unsupported += 1
        except _Bad as exc:
            report.bad(number, raw, str(exc))
    report.lines += number


def _adblock_rule(line: str) -> Rule:
    exception = line.startswith("@@")
    body = line[2:] if exception else line
    if not (body.startswith("||") and body.endswith("^")) or "$" in body or "#" in body:
        raise _Unsupported()
    domain = body[2:-1]
    if _ADBLOCK_NOT_A_DOMAIN.search(domain):
        raise _Unsupported()
    if "*" in domain and not (domain.startswith("*.") and "*" not in domain[2:]):
        raise _Unsupported()  # a glob pattern, not a domain
    if exception:
        return _wildcard_rule(domain, ALLOW_WITH_SUBDOMAINS, SUBTREE_ALLOW)
    return _wildcard_rule(domain, BLOCK_WITH_SUBDOMAINS, SUBTREE_BLOCK)


_TTL = re.compile(r"\d+|(?:\d+[smhdwSMHDW])+")
_CLASSES = frozenset({"IN", "CH", "HS", "CS", "ANY"})
_RPZ_TRIGGERS = frozenset({"rpz-ip", "rpz-nsip", "rpz-nsdname", "rpz-client-ip"})


def _rpz_block(action: int) -> tuple[int, int]:
    """(flags for the owner itself, flags for a `*.` owner) of a block with `action`."""
    return (
        EXACT_BLOCK | action << EXACT_ACTION_SHIFT,
        SUBTREE_BLOCK | action << SUBTREE_ACTION_SHIFT,
    )


_RPZ_DEFAULT_BLOCK = _rpz_block(ACTION_DEFAULT)
# CNAME targets with a meaning in RPZ; any other target is local data, which Straja
# replaces by its own block answer (the default action).
_RPZ_CNAME_FLAGS = {
    ".": _rpz_block(ACTION_NXDOMAIN),
    "*.": _rpz_block(ACTION_NODATA),
    "rpz-passthru.": (EXACT_ALLOW, SUBTREE_ALLOW),
    "rpz-drop.": _RPZ_DEFAULT_BLOCK,
}


class _Zone:
    """Where the RPZ parser is in the zone: the zone apex, the current $ORIGIN and owner."""

    def __init__(self) -> None:
        self.apex: str | None = None  # absolute, lowercase, with trailing dot
        self.origin: str | None = None
        self.owner: str | None = None  # the last owner (absolute, or relative if no origin)

    def absolute(self, name: str) -> str:
        """Resolve an owner or $ORIGIN argument against the current origin."""
        name = name.lower()
        if name == "@":
            if self.origin is None:
                raise _Bad("'@' is used before any $ORIGIN.")
            return self.origin
        if name.endswith("."):
            return name
        return f"{name}.{self.origin}" if self.origin else name

    def relative(self, owner: str) -> str | None:
        """The policy name of an owner: the owner without the zone apex. None at the apex."""
        if self.apex is None:
            return owner[:-1] if owner.endswith(".") else owner
        if owner == self.apex:
            return None
        if owner.endswith("." + self.apex):
            return owner[: -len(self.apex) - 1]
        if not owner.endswith("."):
            return owner
        raise _Bad(f"The owner '{owner}' is outside the zone '{self.apex}'.")


def _zone_lines(lines: Iterable[str], report: ParseReport) -> Iterator[tuple[int, str, bool]]:
    """Logical zone-file lines: comments removed, parenthesised continuations joined.
    Yields (first line number, text, whether it starts with blank space)."""
    pending: list[str] = []
    pending_start = 0
    pending_blank = False
    depth = 0
    number = 0
    for number, raw in enumerate(lines, 1):
        line = raw.rstrip("\r\n")
        if ";" in line:
            line = _strip_zone_comment(line)
        if depth == 0 and "(" not in line:
            if line.strip():
                yield number, line, line[0] in " \t"
            continue
        if depth == 0:
            pending_start = number
            pending_blank = line[:1] in (" ", "\t")
        depth += line.count("(") - line.count(")")
        pending.append(line.replace("(", " ").replace(")", " "))
        if depth <= 0:
            depth = 0
            yield pending_start, " ".join(pending), pending_blank
            pending = []
    if pending:
        report.bad(pending_start, pending[0], "A '(' is never closed.")
    report.lines += number


def _strip_zone_comment(line: str) -> str:
    """Cut a ';' comment, ignoring ';' inside double quotes."""
    if '"' not in line:
        return line.split(";", 1)[0]
    quoted = False
    for index, char in enumerate(line):
        if char == '"':
            quoted = not quoted
        elif char == ";" and not quoted:
            return line[:index]
    return line


def _parse_rpz(lines: Iterable[str], report: ParseReport) -> Iterator[Rule]:
    zone = _Zone()
    for number, line, continued in _zone_lines(lines, report):
        try:
            rule = _rpz_record(zone, line.split(), continued)
            if rule is not None:
                yield rule
                report.rules += 1
        except _Unsupported:
            report.unsupported += 1
        except _Bad as exc:
            report.bad(number, line, str(exc))


def _rpz_record(zone: _Zone, tokens: list[str], continued: bool) -> Rule | None:
    """The rule of one logical zone-file line, or None for directives and apex records."""
    if tokens[0].startswith("$"):
        directive = tokens[0].upper()
        if directive == "$ORIGIN" and len(tokens) >= 2:
            zone.origin = zone.absolute(tokens[1])
            if not zone.origin.endswith("."):
                raise _Bad("$ORIGIN must be an absolute name (ending with a dot).")
            if zone.apex is None:
                zone.apex = zone.origin
            return None
        if directive == "$TTL":
            return None
        raise _Unsupported()  # $INCLUDE, $GENERATE
    if continued:
        if zone.owner is None:
            raise _Bad("A record without an owner name comes before any owner.")
        owner = zone.owner
        fields = tokens
    else:
        if "\\" in tokens[0]:
            raise _Bad("Escaped characters in owner names are not supported.")
        owner = zone.absolute(tokens[0])
        zone.owner = owner
        fields = tokens[1:]
    index = 0
    # A TTL starts with a digit and a type never does; classes are a handful of words.
    while index < len(fields) and (fields[index][0].isdigit() or fields[index].upper() in _CLASSES):
        if fields[index][0].isdigit() and not _TTL.fullmatch(fields[index]):
            raise _Bad(f"'{fields[index]}' is neither a TTL nor a record type.")
        index += 1
    if index >= len(fields):
        raise _Bad("No record type after the owner name.")
    rtype = fields[index].upper()
    rdata = fields[index + 1 :]
    if rtype == "SOA" and zone.apex is None and owner.endswith("."):
        zone.apex = owner
    name = zone.relative(owner)
    if name is None:
        if rtype in ("SOA", "NS"):
            return None
        raise _Unsupported()  # data at the apex of the policy zone itself
    if rtype in ("SOA", "NS"):
        raise _Unsupported()
    if "rpz-" in name and name.rsplit(".", 1)[-1] in _RPZ_TRIGGERS:
        raise _Unsupported()  # IP, NSIP, NSDNAME and client-IP triggers
    flags = _RPZ_DEFAULT_BLOCK
    if rtype == "CNAME":
        if not rdata:
            raise _Bad("A CNAME without a target.")
        target = rdata[0].lower()
        if target == "rpz-tcp-only.":
            raise _Unsupported()
        flags = _RPZ_CNAME_FLAGS.get(target, _RPZ_DEFAULT_BLOCK)
    if name == "*":
        raise _Bad("A wildcard for every name ('*' at the apex) is not allowed.")
    return _wildcard_rule(name, *flags)


_PARSERS: dict[str, Callable[[Iterable[str], ParseReport], Iterator[Rule]]] = {
    "domains": _parse_domains,
    "hosts": _parse_hosts,
    "adblock": _parse_adblock,
    "rpz": _parse_rpz,
}
