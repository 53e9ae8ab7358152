"""The operator and family rule order, decided on real compiled files: each AdGuard form and
modifier with the decision AdGuard Home documents, allowlists both ways, `$badfilter`, and
the mandatory tier that none of them can touch."""

from __future__ import annotations

from pathlib import Path

import pytest

from blocklists.compiled import ListMetadata, compile_source
from blocklists.errors import ListCompileError
from blocklists.spec import ListSpec
from blocklists.trie import CompiledList, name_to_labels
from resolver.policy import Block, SuffixSet, build_policy

A, AAAA = 1, 28


class Lists:
    """Source lists compiled into real files, and the policy a group of them gives."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.specs: list[ListSpec] = []
        self.opened: dict[str, CompiledList] = {}

    def add(self, list_id: str, text: str, fmt: str = "adblock", tier: str = "operator",
            kind: str = "block", allow_rewrites: bool = False) -> CompiledList:
        source = self.directory / f"{list_id}.txt"
        source.write_text(text)
        out = self.directory / f"{list_id}.sl"
        compile_source(source, fmt, out, ListMetadata(list_id, 1, tier, kind=kind))
        self.specs.append(ListSpec(id=list_id, source=str(source), tier=tier,  # type: ignore[arg-type]
                                   format=fmt, signed=False, kind=kind,  # type: ignore[arg-type]
                                   allow_rewrites=allow_rewrites))
        self.opened[list_id] = CompiledList.open(out)
        return self.opened[list_id]

    def decide(self, name: str, qtype: int | None = A, allow: tuple[str, ...] = (),
               deny: tuple[str, ...] = (), tags: tuple[str, ...] = ()) -> Block | None:
        policy = build_policy(self.specs, self.opened, SuffixSet(allow), SuffixSet(deny))
        return policy.with_tags(tags).decide(name_to_labels(name), qtype)

    def blocked(self, *names: str, qtype: int | None = A) -> list[str]:
        return [name for name in names if self.decide(name, qtype) is not None]

    def close(self) -> None:
        for lst in self.opened.values():
            lst.close()


@pytest.fixture
def lists(tmp_path: Path):  # type: ignore[no-untyped-def]
    made = Lists(tmp_path)
    yield made
    made.close()


NAMES = ("example.org", "www.example.org", "org", "myexample.org", "example.org.evil.test")


@pytest.mark.parametrize(
    ("rule", "blocked"),
    [
        ("||example.org^", ["example.org", "www.example.org"]),
        ("||example.org^|", ["example.org", "www.example.org"]),
        ("|example.org^", ["example.org"]),
        ("|example.org^|", ["example.org"]),
        ("example.org", ["example.org"]),
        ("||*.example.org^", ["www.example.org"]),
        (".example.org^", ["www.example.org"]),
        ("||example.org", ["example.org", "www.example.org", "example.org.evil.test"]),
        ("||example.", ["example.org", "www.example.org", "example.org.evil.test"]),
        ("example.org^", ["example.org", "www.example.org", "myexample.org"]),
        ("||*example.org^", ["example.org", "www.example.org", "myexample.org"]),
        ("/^(www\\.)?example\\.org$/", ["example.org", "www.example.org"]),
        ("0.0.0.0 example.org", ["example.org"]),
    ],
)
def test_each_rule_form_blocks_what_adguard_home_documents(lists: Lists, rule: str,
                                                           blocked: list[str]) -> None:
    lists.add("filter", rule + "\n")
    assert lists.blocked(*NAMES) == blocked


def test_an_exception_beats_a_block_of_any_depth_in_any_list(lists: Lists) -> None:
    lists.add("ads", "||example.org^\n||sub.other.org^\n")
    lists.add("fixes", "@@||www.example.org^|\n@@|other.org^|\n@@||other.org^\n")
    assert lists.blocked("example.org", "www.example.org", "a.www.example.org") == [
        "example.org"
    ]
    assert lists.blocked("sub.other.org", "other.org") == []


def test_exceptions_in_every_form_unblock(lists: Lists) -> None:
    lists.add("ads", "||a.test^\n||b.test^\n||c.test^\n||d.test^\n||e.test^\n")
    lists.add("fixes", "@@||a.test^|\n@@|b.test^|\n@@||c.test\n@@/^d\\.test$/\n@@*e.test^\n")
    assert lists.blocked("a.test", "b.test", "c.test", "d.test", "e.test") == []
    assert lists.blocked("x.b.test", "x.d.test") == ["x.b.test", "x.d.test"]


def test_important_beats_an_exception_and_an_important_exception_beats_it(lists: Lists) -> None:
    lists.add("ads", "||example.org^$important\n||other.org^$important\n")
    lists.add("fixes", "@@||example.org^\n@@||other.org^$important\n")
    assert lists.blocked("example.org", "www.example.org", "other.org") == [
        "example.org", "www.example.org"
    ]


def test_badfilter_cancels_the_rule_it_names_across_the_groups_lists(lists: Lists) -> None:
    lists.add("ads", "||example.org^\n||kept.org^\n||pattern*.org^\n")
    lists.add("fixes", "||example.org^$badfilter\n||pattern*.org^$badfilter\n")
    assert lists.blocked("example.org", "www.example.org", "kept.org", "pattern1.org") == [
        "kept.org"
    ]


def test_badfilter_does_not_cancel_hosts_style_rules(lists: Lists) -> None:
    lists.add("hosts", "0.0.0.0 example.org\n", fmt="hosts")
    lists.add("fixes", "||example.org^$badfilter\n|example.org^$badfilter\n")
    assert lists.blocked("example.org") == ["example.org"]


def test_badfilter_never_reaches_a_mandatory_rule(lists: Lists) -> None:
    lists.add("law", "example.org\n", fmt="domains", tier="mandatory")
    lists.add("fixes", "||example.org^$badfilter\n@@||example.org^$important\n")
    block = lists.decide("example.org")
    assert block is not None and block.list_id == "law"


def test_dnstype_matches_the_query_type(lists: Lists) -> None:
    lists.add("v6", "||example.org^$dnstype=AAAA\n||other.org^$dnstype=~A\n")
    assert lists.blocked("example.org", qtype=AAAA) == ["example.org"]
    assert lists.blocked("example.org", "other.org", qtype=A) == []
    assert lists.blocked("other.org", qtype=AAAA) == ["other.org"]


def test_denyallow_excludes_names_from_a_rule(lists: Lists) -> None:
    lists.add("tlds", "*$denyallow=com|net\n||ads.com^$denyallow=ok.ads.com\n")
    assert lists.blocked("example.com", "example.net", "example.org") == ["example.org"]
    assert lists.blocked("x.ads.com", "ok.ads.com", "a.ok.ads.com") == ["x.ads.com"]


@pytest.mark.parametrize("fmt", ["domains", "wildcard", "hosts", "adblock"])
def test_an_allowlist_unblocks_the_operator_and_family_lists(lists: Lists, fmt: str) -> None:
    entry = {"domains": "example.org", "wildcard": "*.example.org",
             "hosts": "0.0.0.0 example.org", "adblock": "||example.org^"}[fmt]
    lists.add("ads", "||example.org^\n||other.org^\n")
    lists.add("kids", "||example.org^\n", tier="family")
    lists.add("allow", entry + "\n", fmt=fmt, kind="allow")
    assert lists.blocked("example.org", "other.org") == ["other.org"]


def test_an_allowlist_never_unblocks_the_mandatory_tier_and_local_deny_beats_it(
    lists: Lists,
) -> None:
    lists.add("law", "abuse.example.org\n", fmt="domains", tier="mandatory")
    lists.add("allow", "example.org\n", fmt="domains", kind="allow")
    assert lists.decide("abuse.example.org") is not None
    assert lists.decide("example.org", deny=("example.org",)) is not None
    assert lists.decide("www.example.org") is None


def test_a_mandatory_list_takes_plain_blocks_only(tmp_path: Path) -> None:
    source = tmp_path / "law.txt"
    for text, words in [
        ("||abuse.example^\n||abuse*.example^\n", "pattern or modifier rule"),
        ("||abuse.example^\n@@||ok.abuse.example^\n", "exception"),
        ("||abuse.example^$important\n", "pattern or modifier rule"),
    ]:
        source.write_text(text)
        with pytest.raises(ListCompileError, match=words):
            compile_source(source, "adblock", tmp_path / "law.sl",
                           ListMetadata("law", 1, "mandatory"))
    with pytest.raises(ListCompileError, match="cannot be in the mandatory tier"):
        compile_source(source, "adblock", tmp_path / "law.sl",
                       ListMetadata("law", 1, "mandatory", kind="allow"))
    assert not (tmp_path / "law.sl").exists()


def test_the_kind_is_in_the_header_and_rpz_expressibility_recorded(lists: Lists) -> None:
    allow = lists.add("allow", "example.org\n", fmt="domains", kind="allow")
    plain = lists.add("plain", "||example.org^\n")
    pattern = lists.add("pattern", "||example\n")
    assert (allow.header.kind, allow.header.exceptions) == ("allow", 1)
    assert (plain.header.kind, plain.header.rpz_expressible) == ("block", True)
    assert (pattern.header.patterns, pattern.header.rpz_expressible) == (1, False)


def test_ctag_rules_apply_to_the_groups_with_their_tags(lists: Lists) -> None:
    lists.add("tags", "||games.example^$ctag=user_child\n||work.example^$ctag=~user_admin\n")
    assert lists.decide("games.example", tags=("user_child", "device_pc")) is not None
    assert lists.decide("games.example", tags=("user_admin",)) is None
    assert lists.decide("games.example") is None
    assert lists.decide("work.example") is not None
    assert lists.decide("work.example", tags=("user_admin",)) is None


def test_dnsrewrite_comes_first_and_only_from_lists_allowed_to_rewrite(lists: Lists) -> None:
    from resolver.policy import NXDOMAIN, SINKHOLE

    lists.add("local", "||printer.example^$dnsrewrite=NOERROR;A;192.0.2.9\n"
                       "||printer.example^$dnsrewrite=NOERROR;AAAA;2001:db8::9\n"
                       "||gone.example^$dnsrewrite=NXDOMAIN\n||kept.example^$dnsrewrite=REFUSED\n",
              allow_rewrites=True)
    lists.add("public", "||bank.example^$dnsrewrite=192.0.2.66\n")  # not allowed to rewrite
    lists.add("fixes", "@@||printer.example^\n@@||kept.example^$dnsrewrite\n")
    printer = lists.decide("printer.example")
    assert printer is not None and printer.rewrite is not None  # an exception does not stop it
    assert (printer.rewrite.action, printer.rewrite.ipv4, printer.rewrite.ipv6) == (
        SINKHOLE, "192.0.2.9", "2001:db8::9")
    gone = lists.decide("gone.example")
    assert gone is not None and gone.rewrite is not None and gone.rewrite.action == NXDOMAIN
    assert lists.decide("kept.example") is None  # `@@…$dnsrewrite` removed the rewrite
    assert lists.decide("bank.example") is None
    assert lists.decide("printer.example", qtype=None) is None  # never for a CNAME target


def test_client_rules_apply_to_their_addresses_only(lists: Lists) -> None:
    lists.add("clients", "||games.example^$client=192.168.1.0/24|~192.168.1.7\n"
                         "@@||games.example^$client=2001:db8::5\n||games.example^\n")
    policy = build_policy(lists.specs, lists.opened)
    labels = name_to_labels("games.example")
    assert policy.client_dependent(labels, A)
    assert not policy.client_dependent(name_to_labels("other.example"), A)
    assert policy.decide(labels, A, "192.168.1.20") is not None
    assert policy.decide(labels, A, "192.168.1.7") is not None  # the plain rule still blocks
    assert policy.decide(labels, A, "2001:db8::5") is None  # its own exception
    assert policy.decide(labels, A, None) is not None


def test_the_catalogue_names_each_list_with_url_format_category_and_licence() -> None:
    from blocklists.catalog import SOURCE_FORMATS, catalog

    entries = catalog()
    names = [entry.name for entry in entries]
    assert len(names) == len(set(names))
    for wanted in ("hagezi-light", "hagezi-multi", "hagezi-pro", "hagezi-tif",
                   "hagezi-doh-vpn-proxy-bypass", "oisd-big", "adguard-dns-filter",
                   "stevenblack-hosts"):
        assert wanted in names
    for entry in entries:
        assert entry.url.startswith("https://") and entry.format in SOURCE_FORMATS
        assert entry.category and entry.licence and entry.title


def test_a_catalogue_source_fills_source_and_format_but_not_tier_or_signing() -> None:
    from admin.config import load_config_text

    def config(entry: str):  # type: ignore[no-untyped-def]
        return load_config_text(f"upstreams: [127.0.0.2]\nlists:\n  - {{{entry}}}\n")

    spec = config("id: ads, source: 'catalog:adguard-dns-filter', tier: operator, "
                  "signed: false").lists[0]
    assert spec.source.startswith("https://") and spec.format == "adblock"
    with pytest.raises(Exception, match="signed: false"):
        config("id: ads, source: 'catalog:oisd-big', tier: operator")
    with pytest.raises(Exception, match="known lists"):
        config("id: x, source: 'catalog:nope', tier: operator, signed: false")


def test_the_token_index_finds_exactly_the_rules_whose_expressions_match() -> None:
    """The index (one expression of every rule's token, then the rules of the tokens it
    found) is only a shortcut: a name gets the rules whose own expression finds it."""
    import random
    import re

    from blocklists.formats import ParseReport, parse_lines
    from blocklists.patterns import RuleSet

    rng = random.Random(7)
    words = ["ads", "track", "pixel", "qzx", "metric", "-cdn", "banner", "tag", "a.b", "xy"]
    rules = []
    for word in words:
        rules += [f"||{word}", f"||{word}.", f"||{word}*.example^", f"||*-{word}.*^",
                  f"*{word}*.net^", f"||{word}.*.com^", f"/^{re.escape(word)}[0-9]+\\./",
                  f"/{re.escape(word)}$/", f"@@||{word}-ok"]
    report = ParseReport("generated", "adblock")
    list(parse_lines(rules, "adblock", report))
    ruleset = RuleSet.from_rules(report.text_rules)
    plain = ["www", "site", "com", "net", "example", "org", "1", "-", "x", "q"]

    def part() -> str:
        return rng.choice(words if rng.random() < 0.1 else plain)

    names = {".".join("".join(part() for _ in range(rng.randrange(1, 4)))
                      for _ in range(rng.randrange(2, 5))) for _ in range(3000)}
    matched = 0
    for name in sorted(names):
        expected = [rule for rule in report.text_rules
                    if not rule.badfilter and re.search(rule.pattern, name, re.IGNORECASE)]
        found = ruleset.matches(name, "A")
        assert found == expected, name
        assert ruleset.may_match(name.encode()) or not found
        matched += bool(found)
    assert 300 < matched < len(names) - 300  # both kinds of name were asked
