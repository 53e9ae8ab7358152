"""List source parsers: domains, hosts, AdBlock and RPZ text into (name, rule flags) pairs.

Each parser streams: it reads one line at a time and yields rules as it goes. A bad line is
recorded in the `ParseReport` with its number and skipped; it never sinks the list. Rules a
parser recognises but Straja does not enforce (AdBlock options and cosmetic rules, RPZ IP
triggers, ...) are counted as unsupported.

Semantics (a public spec, keep exactly; docs/lists.md carries the same table):

    domains   `d`                 d and every subdomain; `*.d` the subdomains only
    wildcard  `*.d`               d and every subdomain (Blocky >= 0.23, HaGeZi "wildcard
                                  asterisk"); a bare `d` the name only
    hosts     `0.0.0.0 d [d2...]` exactly d (also `127.0.0.1`, `::`, `::1`)
    adblock   `||d^`, `||d^|`     d and every subdomain
              `|d^`, `|d^|`, `d`  exactly d (a plain domain line is the name only)
              `||*.d^`, `.d^`     the subdomains of d, not d itself
              `||d`, `||d.`       a pattern: names with a label starting with d
              globs `*`, `/re/`   patterns, matched on the whole name
              `@@` before any of them: an exception; `$important`, `$badfilter`,
              `$dnstype=`, `$denyallow=` modifiers; browser-only rules are "not DNS"
    rpz       owner `d`/`*.d`     exactly d / the subdomains of d; `CNAME .` NXDOMAIN,
                                  `CNAME *.` NODATA, `CNAME rpz-passthru.` exception,
                                  any other record a block with the default action
"""

from __future__ import annotations

import ipaddress
import os
import re
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import IO

from blocklists.errors import InvalidNameError, SourceFormatError
from blocklists.names import normalise_name
from blocklists.patterns import (
    CLIENT_TAGS,
    TextRule,
    glob_to_regex,
    glob_token,
    normalise_rule_text,
    regex_token,
)
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

FORMATS = ("domains", "wildcard", "hosts", "adblock", "rpz")

Rule = tuple[str, int]
"""A normalised name and the flag bits (see blocklists.trie) its rule sets."""

BLOCK_WITH_SUBDOMAINS = EXACT_BLOCK | SUBTREE_BLOCK
ALLOW_WITH_SUBDOMAINS = EXACT_ALLOW | SUBTREE_ALLOW

MAX_BAD_LINES_KEPT = 50
MAX_UNSUPPORTED_KEPT = 100_000  # all of any real list; `--report FILE` writes them


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
    """What a parser saw: lines read, rules yielded, bad, unsupported and not-DNS lines.

    `text_rules` collects the rules the trie cannot hold (patterns, modifiers); `origins`,
    when set, receives one "name<TAB>line<TAB>rule as written" line per trie rule, so that
    `straja check` can quote the source."""

    source: str
    format: str
    lines: int = 0
    rules: int = 0  # trie rules (blocks and exceptions)
    exceptions: int = 0  # exceptions among all rules (trie and text)
    trie_exceptions: int = 0  # of which in the trie
    skipped: int = 0  # bad lines (at least one rejected entry on them)
    unsupported: int = 0  # valid rules of a kind Straja does not enforce
    not_dns: int = 0  # browser-only rules (cosmetic, $image, $third-party, paths...)
    bad_lines: list[BadLine] = field(default_factory=list)  # the first MAX_BAD_LINES_KEPT
    unsupported_lines: list[BadLine] = field(default_factory=list)
    text_rules: list[TextRule] = field(default_factory=list)
    origins: IO[str] | None = None

    def bad(self, line: int, text: str, reason: str) -> None:
        """Record a bad line."""
        self.skipped += 1
        if len(self.bad_lines) < MAX_BAD_LINES_KEPT:
            self.bad_lines.append(BadLine(line, text.strip()[:200], reason))

    def unsupported_rule(self, line: int, text: str, reason: str = "not enforced") -> None:
        """Record a valid rule that Straja does not enforce."""
        self.unsupported += 1
        if line and len(self.unsupported_lines) < MAX_UNSUPPORTED_KEPT:
            self.unsupported_lines.append(BadLine(line, text.strip()[:200], reason))

    def origin(self, rule: Rule, line: int, text: str) -> None:
        """Remember where a trie rule was written (when a side file is kept)."""
        if self.origins is not None:
            self.origins.write(f"{rule[0]}\t{line}\t{text.strip()}\n")

    @property
    def patterns(self) -> int:
        """Text rules that are patterns (not one domain name)."""
        return sum(1 for rule in self.text_rules if rule.is_pattern)

    def summary(self) -> dict[str, int]:
        """The counts `lists compile`, `lists update` and `lists status` show."""
        return {
            "entries": self.rules - self.trie_exceptions,  # trie rules that block
            "exceptions": self.exceptions,
            "patterns": self.patterns,
            "modifier_rules": len(self.text_rules) - self.patterns,
            "not_dns": self.not_dns,
            "unsupported": self.unsupported,
            "bad_lines": self.skipped,
        }


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
    return _parse_names(lines, report, wildcard=False)


def _parse_wildcard(lines: Iterable[str], report: ParseReport) -> Iterator[Rule]:
    return _parse_names(lines, report, wildcard=True)


def _parse_names(lines: Iterable[str], report: ParseReport, *, wildcard: bool) -> Iterator[Rule]:
    """One name a line. `domains`: `d` is d and its subdomains, `*.d` the subdomains only;
    `wildcard` (Blocky): `*.d` is d and its subdomains, `d` the name only."""
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
            if wildcard:
                rule = _wildcard_rule(line, EXACT_BLOCK, BLOCK_WITH_SUBDOMAINS)
            else:
                rule = _name_rule(line, BLOCK_WITH_SUBDOMAINS, normalise)
            yield rule
            report.rules += 1
            report.origin(rule, number, raw)
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
                try:  # a real address: a rewrite ("255.255.255.255 broadcasthost" aside)
                    if len(tokens) > 1:
                        _hosts_rewrite(tokens, number, raw, report)
                except (_Unsupported, _Bad) as exc:
                    report.unsupported_rule(number, raw, str(exc))
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
                report.unsupported += 1  # never worth listing: every hosts file has them
                continue
            try:
                rule = _name_rule(token, EXACT_BLOCK, normalise)
                yield rule
                report.rules += 1
                report.origin(rule, number, raw)
            except _Bad as exc:
                problem = problem or str(exc)
        if problem:
            report.bad(number, raw, problem)
    report.lines += number


def _parse_adblock(lines: Iterable[str], report: ParseReport) -> Iterator[Rule]:
    number = 0
    for number, raw in enumerate(lines, 1):
        line = raw.strip()
        if not line or line[0] in "![":
            continue
        if line[0] == "#" and line[1:2] not in ("#", "@", "?", "$", "%"):
            continue  # a comment
        try:
            rule = _adblock_rule(line, number, report)
            if rule is not None:
                yield rule
                report.rules += 1
                report.origin(rule, number, raw)
        except _NotDns:
            report.not_dns += 1
        except _Unsupported as exc:
            report.unsupported_rule(number, raw, str(exc) or "not enforced")
        except _Bad as exc:
            report.bad(number, raw, str(exc))
    report.lines += number


class _NotDns(Exception):
    """Internal: a browser-only rule (cosmetic, content type, path), not a DNS rule."""


# Cosmetic and scriptlet rule separators: a browser applies these to pages.
_COSMETIC = re.compile(r"#[@?$%]?#|#@?\$\??#|#@?%#|\$@?\$")
# Modifiers that only mean something to a browser (content types, parties, pages).
_BROWSER_MODIFIERS = frozenset(
    [
        "third-party", "3p", "first-party", "1p", "~third-party", "~first-party",
        "script", "image", "stylesheet", "css", "xmlhttprequest", "xhr", "media",
        "font", "popup", "subdocument", "frame", "object", "websocket", "webrtc",
        "ping", "other", "doc", "document", "elemhide", "ehide", "generichide", "ghide",
        "specifichide", "shide", "genericblock", "content", "jsinject", "urlblock",
        "extension", "stealth", "domain", "from", "to", "match-case", "redirect",
        "redirect-rule", "removeparam", "removeheader", "csp", "permissions", "header",
        "cookie", "replace", "hls", "jsonprune", "network", "app", "method",
        "strict-first-party", "strict-third-party", "all", "inline-script", "inline-font",
        "popunder", "empty", "mp4", "object-subrequest", "rewrite", "sitekey",
        "collapse", "~script", "~image", "~stylesheet", "~xhr", "~subdocument",
        "~media", "~font", "~object", "~websocket", "~ping", "~other", "~document",
    ]
)
_DNS_MODIFIERS = frozenset({"important", "badfilter", "dnstype", "denyallow", "ctag",
                            "dnsrewrite", "client"})
# Understood, but not enforced yet: counted and listed as unsupported.
_LATER_MODIFIERS: frozenset[str] = frozenset()
_DNS_TYPES = re.compile(r"~?[A-Z][A-Z0-9]{0,9}|~?TYPE[0-9]{1,5}")
# Characters that make a network rule a URL rule: a path, a port, a query.
_URL_CHARS = re.compile(r"[/:?=&]")
_PLAIN = re.compile(r"[a-z0-9_.-]+")
_IPV4 = re.compile(r"(?:\d{1,3}\.){3}\d{1,3}")


def _adblock_rule(line: str, number: int, report: ParseReport) -> Rule | None:
    """The trie rule of one adblock line, or None when it became a text rule (added to the
    report); raises _NotDns, _Unsupported or _Bad."""
    if _COSMETIC.search(line):
        raise _NotDns()
    exception = line.startswith("@@")
    body = line[2:] if exception else line
    if not body:
        raise _Bad("An exception marker '@@' with no rule after it.")
    tokens = body.split()
    if len(tokens) >= 2 and (_IPV4.fullmatch(tokens[0]) or ":" in tokens[0]) and not exception:
        return _adblock_hosts_line(tokens, number, line, report)
    regex = None
    if body.startswith("/") and len(body) > 2:
        end = body.rfind("/")
        if end > 0 and (end == len(body) - 1 or body[end + 1] == "$"):
            regex, mods_text = body[1:end], body[end + 2 :]
            body = body[: end + 1]
    if regex is None:
        body, _, mods_text = body.partition("$")
    modifiers = _modifiers(mods_text)
    if regex is not None:
        _text_rule(line, number, report, exception, modifiers, regex, regex_token(regex))
        return None
    body = body.lower()
    if not body or body in ("|", "||", "*", "^", "||*", "*^", "||*^"):
        if "denyallow" not in modifiers:  # `*$denyallow=com|net` is AdGuard's own example
            raise _Unsupported("a rule that matches every name")
        body = "*"
    rule = _domain_rule(body, exception)
    if rule is not None:
        if not modifiers:
            if exception:
                report.exceptions += 1
                report.trie_exceptions += 1
            return rule
        _text_rule(line, number, report, exception, modifiers, glob_to_regex(body), rule[0],
                   target=rule)
        return None
    core = body.lstrip("|").rstrip("|^")
    if _URL_CHARS.search(core) or core.startswith("http"):
        raise _NotDns()  # a URL rule: paths and ports are invisible to DNS
    literal = core.replace("*", "")
    if literal and not _PLAIN.fullmatch(literal):
        raise _Bad(f"'{body}' contains characters that cannot be in a host name.")
    _text_rule(line, number, report, exception, modifiers, glob_to_regex(body), glob_token(body))
    return None


def _domain_rule(body: str, exception: bool) -> Rule | None:
    """The trie rule of a pattern body (lowercase) that names one domain, or None when the
    body is a pattern. `^` is the end of the name: a host name has no other separator."""
    exact, subtree = (EXACT_ALLOW, SUBTREE_ALLOW) if exception else (EXACT_BLOCK, SUBTREE_BLOCK)
    core, end = body, False
    if core.endswith("^|"):
        core, end = core[:-2], True
    elif core.endswith("^") or (core.endswith("|") and len(core.rstrip("|")) > 0):
        core, end = core[:-1], True
    if core.startswith("||"):
        core = core[2:]
        if not end:
            return None  # `||d`, `||d.`: a prefix pattern
        if core.startswith("*."):
            return _exact_domain(core[2:], subtree)
        return _exact_domain(core, exact | subtree)
    if core.startswith("|"):
        return _exact_domain(core[1:], exact) if end else None
    if core.startswith("."):
        return _exact_domain(core[1:], subtree) if end else None
    if not end and "." in core:
        return _exact_domain(core, exact)  # a plain domain line: the name only
    return None  # `d^` without an anchor matches any name ending in d: a pattern


def _exact_domain(domain: str, flags: int) -> Rule | None:
    if "*" in domain or not domain or not _PLAIN.fullmatch(domain):
        return None
    try:
        return normalise_name(domain), flags
    except InvalidNameError as exc:
        raise _Bad(str(exc)) from None


def _modifiers(text: str) -> dict[str, str]:
    """The modifiers of a rule by name (value "" for flags); raises _NotDns for a
    browser-only one and _Unsupported for one Straja does not enforce."""
    if not text:
        return {}
    found: dict[str, str] = {}
    for item in text.split(","):
        name, _, value = item.strip().partition("=")
        name = name.lower()
        if name in _DNS_MODIFIERS:
            found[name] = value
        elif name in _LATER_MODIFIERS:
            raise _Unsupported(f"the ${name} modifier is not enforced yet")
        elif name in _BROWSER_MODIFIERS or name.lstrip("~") in _BROWSER_MODIFIERS:
            raise _NotDns()
        else:
            raise _Unsupported(f"the modifier ${name} is unknown")
    if "dnstype" in found:
        types = tuple(t.upper() for t in found["dnstype"].split("|") if t)
        if not types or not all(_DNS_TYPES.fullmatch(t) for t in types):
            raise _Bad(f"'$dnstype={found['dnstype']}' is not a list of record types.")
    if "ctag" in found:
        tags = found["ctag"].split("|")
        unknown = [t for t in tags if t.lstrip("~") not in CLIENT_TAGS]
        if unknown:
            raise _Bad(f"$ctag: {', '.join(unknown)} is not one of AdGuard's client tags "
                       f"({', '.join(sorted(CLIENT_TAGS))}).")
    if "dnsrewrite" in found:
        found["dnsrewrite"] = _rewrite(found["dnsrewrite"])
    if "client" in found:
        found["client"] = "|".join(_client(c) for c in found["client"].split("|"))
    if "denyallow" in found:
        names = found["denyallow"].split("|")
        try:
            found["denyallow"] = "|".join(normalise_name(n) for n in names)
        except InvalidNameError as exc:
            raise _Bad(f"$denyallow: {exc}") from None
    return found


def _text_rule(
    line: str,
    number: int,
    report: ParseReport,
    exception: bool,
    modifiers: dict[str, str],
    pattern: str,
    token: str,
    target: Rule | None = None,
) -> None:
    """Add a pattern or modifier rule to the report's text rules."""
    try:
        re.compile(pattern)
    except re.error as exc:
        raise _Bad(f"The regular expression does not compile: {exc}.") from None
    badfilter = "badfilter" in modifiers
    dnstype = modifiers.get("dnstype", "")
    denyallow = modifiers.get("denyallow", "")
    ctag = modifiers.get("ctag", "")
    report.text_rules.append(
        TextRule(
            line=number,
            text=line,
            pattern=pattern,
            token=token.lower(),
            exception=exception,
            important="important" in modifiers,
            badfilter=badfilter,
            key=normalise_rule_text(line),
            dnstype=tuple(t.upper() for t in dnstype.split("|") if t),
            denyallow=tuple(n for n in denyallow.split("|") if n),
            target=target,
            ctag=tuple(t for t in ctag.split("|") if t),
            client=tuple(c for c in modifiers.get("client", "").split("|") if c),
            rewrite=modifiers.get("dnsrewrite"),
        )
    )
    if exception and not badfilter:
        report.exceptions += 1


def _client(value: str) -> str:
    """One `$client=` value as a network ("~" kept); client names are not supported."""
    negated = value.startswith("~")
    text = value[1:] if negated else value
    try:
        network = ipaddress.ip_network(text, strict=False)
    except ValueError:
        raise _Unsupported(f"$client names ({text!r}) are not supported; use addresses or "
                           "CIDRs") from None
    return ("~" if negated else "") + str(network)


def _rewrite(value: str) -> str:
    """The stored form of a `$dnsrewrite=` value (see TextRule.rewrite); _Unsupported for
    the forms Straja does not answer yet (CNAME targets, other record types)."""
    text = value.strip()
    upper = text.upper()
    if upper in ("", "NXDOMAIN", "REFUSED"):
        return upper
    if upper in ("NOERROR", "NOERROR;;"):
        return "NODATA"
    parts = text.split(";")
    if len(parts) == 3 and parts[0].upper() == "NOERROR":
        rtype, data = parts[1].upper(), parts[2]
    elif len(parts) == 1:
        rtype, data = ("AAAA" if ":" in text else "A" if _IPV4.fullmatch(text) else "CNAME"), text
    else:
        raise _Bad(f"'$dnsrewrite={value}' is not RCODE or RCODE;TYPE;VALUE.")
    if rtype in ("A", "AAAA"):
        try:
            address = ipaddress.ip_address(data)
        except ValueError:
            raise _Bad(f"'$dnsrewrite={value}': {data!r} is not an address.") from None
        if (address.version == 4) != (rtype == "A"):
            raise _Bad(f"'$dnsrewrite={value}': {data} is not an {rtype} address.")
        return f"{rtype}:{address}"
    if rtype == "CNAME":
        try:
            return f"CNAME:{normalise_name(data)}"
        except InvalidNameError as exc:
            raise _Bad(f"'$dnsrewrite={value}': {exc}") from None
    raise _Unsupported(f"a $dnsrewrite to {rtype} is not answered yet (A, AAAA, CNAME, "
                       "NXDOMAIN, REFUSED and NOERROR are)")


def _hosts_rewrite(tokens: list[str], number: int, line: str, report: ParseReport) -> None:
    """A hosts line with a real address: a rewrite of each name to that address."""
    try:
        address = ipaddress.ip_address(tokens[0].split("%", 1)[0])
    except ValueError:
        raise _Unsupported("an address that is not a sinkhole") from None
    rtype = "A" if address.version == 4 else "AAAA"
    for token in tokens[1:]:
        if token in HOSTS_HOUSEKEEPING:
            report.unsupported += 1  # "255.255.255.255 broadcasthost": never worth listing
            continue
        try:
            name = normalise_name(token)
        except InvalidNameError as exc:
            raise _Bad(str(exc)) from None
        rule = f"|{name}^$dnsrewrite=NOERROR;{rtype};{address}"
        report.text_rules.append(TextRule(
            line=number, text=line.strip(), pattern=f"^{re.escape(name)}$", token=name,
            rewrite=f"{rtype}:{address}", key=normalise_rule_text(rule),
        ))


def _adblock_hosts_line(tokens: list[str], number: int, line: str, report: ParseReport
                        ) -> Rule | None:
    """A hosts-style line inside an adblock list: a sinkhole address blocks the names,
    another address rewrites them (as `$dnsrewrite` would)."""
    if tokens[0] not in SINKHOLE_ADDRESSES:
        _hosts_rewrite(tokens, number, line, report)
        return None
    if len(tokens) > 2:
        raise _Unsupported("several names on one hosts line inside an adblock list")
    try:
        return normalise_name(tokens[1]), EXACT_BLOCK
    except InvalidNameError as exc:
        raise _Bad(str(exc)) from None


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


_APEX = "@"  # the apex of a zone with no $ORIGIN


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
            # With no $ORIGIN, '@' is the zone apex whatever its name, as Unbound reads
            # HaGeZi's RPZ files (`@ SOA ...` and `NS localhost.` before the triggers).
            return self.origin if self.origin is not None else _APEX
        if name.endswith("."):
            return name
        return f"{name}.{self.origin}" if self.origin else name

    def relative(self, owner: str) -> str | None:
        """The policy name of an owner: the owner without the zone apex. None at the apex."""
        if owner == _APEX:
            return None
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
                if rule[1] & (EXACT_ALLOW | SUBTREE_ALLOW):
                    report.exceptions += 1
                    report.trie_exceptions += 1
                report.origin(rule, number, line)
        except _Unsupported as exc:
            report.unsupported_rule(number, line, str(exc) or "not enforced")
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
    if rtype == "SOA" and zone.apex is None and owner.endswith(".") and owner != _APEX:
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
    "wildcard": _parse_wildcard,
    "hosts": _parse_hosts,
    "adblock": _parse_adblock,
    "rpz": _parse_rpz,
}
