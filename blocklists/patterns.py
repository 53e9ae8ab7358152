"""Text rules: the list rules a label trie cannot hold, kept beside it in the same file.

A text rule is either a pattern (a regular expression `/…/`, a glob, `||d` without `^`,
`||d.` for any TLD) or a domain rule that carries a modifier (`$important`, `$badfilter`,
`$dnstype=`, `$denyallow=`). Each becomes a standard-library regular expression over the
normalised name (lowercase, no trailing dot), plus a literal *token* every name it matches
must contain. `RuleSet` finds the tokens of all its rules in a name with one expression,
so a name is tested only against the few rules whose token occurs in it; rules with no
usable token (some regexes) are tried on every name. Only cache misses get here.

Standard library only, like `blocklists.trie`: this module runs in every serving process.
"""

from __future__ import annotations

import ipaddress
import re
import re._parser as _sre_parse  # the standard library's own regex parser (3.11+)
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

TOKEN_MIN = 3  # shorter literals index nothing useful: every name would be a candidate


@dataclass(frozen=True)
class TextRule:
    """One rule of the rules section, with where it came from."""

    line: int  # line number in the source (0: not from a source line)
    text: str  # the rule exactly as written in the source
    pattern: str  # Python regex searched in the normalised name
    token: str  # a literal every matching name contains ("" when there is none)
    exception: bool = False
    important: bool = False
    badfilter: bool = False
    key: str = ""  # the normalised rule text a `$badfilter` is matched on
    dnstype: tuple[str, ...] = ()  # query types (e.g. "AAAA"); "~T" excludes T
    denyallow: tuple[str, ...] = ()  # names (and their subdomains) the rule never matches
    ctag: tuple[str, ...] = ()  # client tags the rule applies to; "~t": not to tag t
    client: tuple[str, ...] = ()  # client addresses/networks; "~n": not to n
    rewrite: str | None = None  # `$dnsrewrite`: "NXDOMAIN", "REFUSED", "NODATA",
    # "A:1.2.3.4", "AAAA:2001:db8::1"; "" on an exception that removes every rewrite
    target: tuple[str, int] | None = None  # (name, trie flags) of the trie rule a
    # badfilter cancels, when the cancelled rule is one the trie holds

    @property
    def is_pattern(self) -> bool:
        """True for rules that are not one domain name (regex, glob, prefix)."""
        return self.target is None and not self.badfilter

    @property
    def modifiers(self) -> bool:
        return bool(self.important or self.badfilter or self.dnstype or self.denyallow
                    or self.ctag or self.client or self.rewrite is not None)

    def to_json(self) -> dict[str, Any]:
        data: dict[str, Any] = {"l": self.line, "t": self.text, "p": self.pattern,
                                "k": self.token}
        if self.exception:
            data["e"] = 1
        if self.important:
            data["i"] = 1
        if self.badfilter:
            data["b"] = 1
        if self.key:
            data["n"] = self.key
        if self.dnstype:
            data["dt"] = list(self.dnstype)
        if self.denyallow:
            data["da"] = list(self.denyallow)
        if self.target is not None:
            data["g"] = [self.target[0], self.target[1]]
        if self.ctag:
            data["ct"] = list(self.ctag)
        if self.client:
            data["cl"] = list(self.client)
        if self.rewrite is not None:
            data["rw"] = self.rewrite
        return data

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> TextRule:
        target = data.get("g")
        return cls(
            line=int(data["l"]),
            text=str(data["t"]),
            pattern=str(data["p"]),
            token=str(data["k"]),
            exception=bool(data.get("e")),
            important=bool(data.get("i")),
            badfilter=bool(data.get("b")),
            key=str(data.get("n", "")),
            dnstype=tuple(data.get("dt", ())),
            denyallow=tuple(data.get("da", ())),
            target=(str(target[0]), int(target[1])) if target else None,
            ctag=tuple(data.get("ct", ())),
            client=tuple(data.get("cl", ())),
            rewrite=data.get("rw"),
        )


def glob_to_regex(body: str) -> str:
    """The regex of an adblock pattern body over a host name: `||` a label boundary, `|` the
    start or the end, `^` the end (a host name has no other separator), `*` anything."""
    out = []
    if body.startswith("||"):
        out.append(r"(?:^|\.)")
        body = body[2:]
    elif body.startswith("|"):
        out.append("^")
        body = body[1:]
    end = ""
    if body.endswith("^|"):
        body, end = body[:-2], "$"
    elif body.endswith("|") or body.endswith("^"):
        body, end = body[:-1], "$"
    for char in body:
        if char == "*":
            out.append(".*")
        elif char == "^":
            out.append("$")
        else:
            out.append(re.escape(char))
    out.append(end)
    return "".join(out)


def glob_token(body: str) -> str:
    """The literal run of an adblock pattern body to index it by: the first one when the
    body starts at a label (`||ads*…`, so it is looked up at label starts only) and is long
    enough, else the longest."""
    segments = re.sub(r"[|^]", "*", body).split("*")
    if body.startswith("|"):
        first = body.lstrip("|").split("*", 1)[0].rstrip("^|")
        if len(first) >= TOKEN_MIN:
            return first
    # A bare `.tld` segment is in half the names asked: index by anything else first.
    return max(segments, key=lambda seg: (not _TLD_SEGMENT.fullmatch(seg), len(seg)),
               default="")


_TLD_SEGMENT = re.compile(r"\.[a-z]{2,6}\.?|[a-z]{2,6}\.")


def regex_token(pattern: str) -> str:
    """The longest run of literal characters that every match of `pattern` contains, or ""
    when none is certain (alternations, optional parts)."""
    try:
        parsed = _sre_parse.parse(pattern)
    except Exception:  # noqa: BLE001 - the caller compiles it and reports the error
        return ""
    best = run = ""
    for op, arg in parsed:
        if str(op) == "LITERAL" and arg < 128:
            run += chr(arg)
            if len(run) > len(best):
                best = run
        elif str(op) in ("AT",):  # anchors take no characters
            continue
        else:
            run = ""
    return best.lower()


@dataclass
class _Compiled:
    rule: TextRule
    search: Any  # re.Pattern.search


def _never(name: bytes) -> None:
    return None


def _always_may(name: bytes) -> bool:
    return True


@dataclass
class _Keys:
    """Rules filed under key strings, found in a name by one expression: a trie of the
    keys, in which a key that another key starts is left out (the shorter one is found
    wherever the longer one is). Where a key is found, each rule's whole token is checked
    in place with `startswith` before the rule's own expression runs."""

    search: Any  # re search over bytes: where is the next trie key in the name?
    # trie key -> (token, offset of the key in it, rule) for every rule filed under it
    rules: dict[bytes, list[tuple[bytes, int, _Compiled]]]

    @classmethod
    def of(cls, keyed: dict[str, list[tuple[str, _Compiled]]]) -> _Keys | None:
        if not keyed:
            return None
        trie = _trie_regex(keyed).encode("utf-8", "replace")
        rules: dict[bytes, list[tuple[bytes, int, _Compiled]]] = {}
        for key, filed in keyed.items():
            found = next(key[:end] for end in range(1, len(key) + 1) if key[:end] in keyed)
            rules.setdefault(found.encode("utf-8", "replace"), []).extend(
                (token.encode("utf-8", "replace"), token.index(key), compiled)
                for token, compiled in filed)
        return cls(re.compile(trie).search, rules)

    def candidates(self, name: bytes) -> Iterable[_Compiled]:
        """The rules whose whole token is in `name`. (Found by searching on from each key
        found, not with a lookahead `finditer`, which would enter the trie at every
        position instead of where its first characters are.)"""
        match = self.search(name)
        while match is not None:
            at = match.start()
            for token, offset, compiled in self.rules[match.group()]:
                if at >= offset and name.startswith(token, at - offset):
                    yield compiled
            match = self.search(name, at + 1)


@dataclass
class RuleSet:
    """The text rules of one list, ready to match names.

    Each rule with a literal token of `TOKEN_MIN` characters or more is filed under a key
    that every name it matches contains: the token from its rarest character on (any part
    of a token is in every name the token is in). One expression, a trie of the keys,
    finds them in a name, which is then tested only against the rules of the keys it
    contains. Nearly every name contains none, and that is what each cache miss pays: one
    call into the regex engine, which scans the name for the keys' first characters and
    enters the trie only there, so rare first characters keep it to a few positions.
    Rules without a token (some regexes) are tried on every name. bench/pattern_bench.py
    measures what this costs a miss.
    """

    rules: tuple[TextRule, ...]
    # gate(name): falsy when no rule can match the normalised `name` (bytes); the policy
    # calls it before anything else (a method around it would cost a tenth of it again).
    gate: Callable[[bytes], object] = field(default=_never, repr=False)
    _keys: _Keys | None = field(default=None, repr=False)
    _always: list[_Compiled] = field(default_factory=list, repr=False)

    def __post_init__(self) -> None:
        keyed: dict[str, list[tuple[str, _Compiled]]] = {}
        for rule in self.rules:
            if rule.badfilter:
                continue  # a cancellation matches no name; the policy applies it
            compiled = _Compiled(rule, re.compile(rule.pattern, re.IGNORECASE).search)
            if len(rule.token) < TOKEN_MIN:
                self._always.append(compiled)
            else:
                token = rule.token.lower()  # names are asked in lowercase
                keyed.setdefault(_rare_part(token), []).append((token, compiled))
        self._keys = _Keys.of(keyed)
        if self._always:
            self.gate = _always_may
        elif self._keys is not None:
            self.gate = self._keys.search

    @classmethod
    def from_rules(cls, rules: Iterable[TextRule]) -> RuleSet:
        return cls(tuple(rules))

    def __bool__(self) -> bool:
        return bool(self._keys or self._always)

    def may_match(self, name: bytes) -> bool:
        """False when no rule can match the normalised `name`, so `matches` would find
        nothing."""
        return bool(self.gate(name))

    def matches(self, name: str, qtype: str | None = None, *, gated: bool = False
                ) -> list[TextRule]:
        """Every rule that matches the normalised `name` (asked with type `qtype`, None: any
        type), in source order. `gated`: the caller has had `may_match` say True."""
        raw = name.encode("utf-8", "replace")
        if not (gated or self.may_match(raw)):
            return []
        candidates: list[_Compiled] = list(self._always)
        if self._keys is not None:
            candidates.extend(self._keys.candidates(raw))
        rules = {id(c.rule): c.rule for c in candidates
                 if c.search(name) and _modifiers_allow(c.rule, name, qtype)}
        return sorted(rules.values(), key=lambda rule: rule.line)


def _trie_regex(words: Iterable[str]) -> str:
    """A regex matching where any of `words` starts (a word another one starts with is
    left out: the shorter one already matches there). It is written as a trie
    (`ab(?:c|d)`): the engine scans a name for the first characters and tests an
    alternative's first character before entering it, so rare first characters keep the
    positions entered to a few (measured: tokens starting with 4 rare letters cost a
    quarter of what tokens starting with any of 26 do)."""
    root: dict[str, dict] = {}
    for word in sorted(words, key=len):
        node = root
        for char in word:
            if "" in node:
                break
            node = node.setdefault(char, {})
        else:
            node.clear()
            node[""] = {}

    def emit(node: dict[str, dict]) -> str:
        if "" in node:
            return ""
        parts = [re.escape(char) + emit(child) for char, child in sorted(node.items())]
        return parts[0] if len(parts) == 1 else "(?:" + "|".join(parts) + ")"

    return emit(root)


# Host name characters from the most to the least frequent, roughly as in real names; the
# dot first, so that a key starts with it only when nothing else is left (".com" is in
# half the names).
_FREQUENT = ".eoaitsnrclmdpgu0h12b-k3f45w6y7v89zjx_q"
_RARITY = {char: rank for rank, char in enumerate(_FREQUENT)}


KEY_MIN = 4  # a key keeps 4 characters where its token has them: 3 find too many names


def _rare_part(token: str) -> str:
    """The tail of `token` from its rarest character that keeps `KEY_MIN` characters."""
    if len(token) <= KEY_MIN:
        return token
    start = max(range(len(token) - KEY_MIN + 1),
                key=lambda i: (_RARITY.get(token[i], len(_RARITY)), -i))
    return token[start:]


# AdGuard Home's fixed client-tag vocabulary (`$ctag=`, `groups[].tags`).
CLIENT_TAGS = frozenset([
    "device_audio", "device_camera", "device_gameconsole", "device_laptop", "device_nas",
    "device_other", "device_pc", "device_phone", "device_printer", "device_securityalarm",
    "device_tablet", "device_tv", "os_android", "os_ios", "os_linux", "os_macos",
    "os_windows", "os_other", "user_admin", "user_regular", "user_child",
])


def tags_allow(rule: TextRule, tags: frozenset[str]) -> bool:
    """Whether a `$ctag` rule applies to a group with `tags`: one of its tags is the
    group's (when it names any), and none of its `~tags` is."""
    wanted = [t for t in rule.ctag if not t.startswith("~")]
    if wanted and not tags.intersection(wanted):
        return False
    return not any(t[1:] in tags for t in rule.ctag if t.startswith("~"))


@lru_cache(maxsize=4096)
def _client_networks(client: tuple[str, ...]) -> tuple[tuple[Any, ...], tuple[Any, ...]]:
    """(networks the rule is for, networks it is not for) of a `$client` value."""
    wanted = tuple(ipaddress.ip_network(c, strict=False) for c in client if c[0] != "~")
    unwanted = tuple(ipaddress.ip_network(c[1:], strict=False) for c in client if c[0] == "~")
    return wanted, unwanted


def client_allows(rule: TextRule, client: str | None) -> bool:
    """Whether a `$client` rule applies to the client at address `client` (None: none)."""
    if client is None:
        return False
    try:
        address = ipaddress.ip_address(client.split("%", 1)[0])
    except ValueError:
        return False
    wanted, unwanted = _client_networks(rule.client)
    if wanted and not any(address.version == n.version and address in n for n in wanted):
        return False
    return not any(address.version == n.version and address in n for n in unwanted)


def _modifiers_allow(rule: TextRule, name: str, qtype: str | None) -> bool:
    """Whether the rule's `$dnstype` and `$denyallow` let it apply to this query."""
    if rule.denyallow:
        for domain in rule.denyallow:
            if name == domain or name.endswith("." + domain):
                return False
    if rule.dnstype:
        if qtype is None:
            return False  # a type-restricted rule never decides a type-less check
        included = [t for t in rule.dnstype if not t.startswith("~")]
        if included and qtype not in included:
            return False
        if "~" + qtype in rule.dnstype:
            return False
    return True


def normalise_rule_text(text: str) -> str:
    """The spelling a `$badfilter` is matched on: lowercase, modifiers sorted, without the
    `badfilter` modifier itself."""
    text = text.strip().lower()
    if text.startswith("/") and text.rfind("/") > 0:
        end = text.rfind("/")
        body, mods = text[: end + 1], text[end + 1 :]
    else:
        body, _, mods = text.partition("$")
        mods = "$" + mods if mods else ""
    names = sorted(m for m in mods.lstrip("$").split(",") if m and m != "badfilter")
    return body + ("$" + ",".join(names) if names else "")


def cancelled_keys(rule_sets: Sequence[Sequence[TextRule]]) -> set[str]:
    """The normalised texts named by every `$badfilter` rule of these lists."""
    return {rule.key for rules in rule_sets for rule in rules if rule.badfilter}
