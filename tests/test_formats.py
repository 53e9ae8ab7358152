"""List source parsers: every format's rules, normalisation, bad and unsupported lines."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from blocklists.errors import InvalidNameError, SourceFormatError
from blocklists.formats import (
    ALLOW_WITH_SUBDOMAINS,
    BLOCK_WITH_SUBDOMAINS,
    ParseReport,
    Rule,
    open_source,
    parse_lines,
)
from blocklists.names import normalise_name
from blocklists.trie import (
    ACTION_NODATA,
    ACTION_NXDOMAIN,
    EXACT_ACTION_SHIFT,
    EXACT_ALLOW,
    EXACT_BLOCK,
    SUBTREE_ACTION_SHIFT,
    SUBTREE_ALLOW,
    SUBTREE_BLOCK,
)


def parse(fmt: str, text: str) -> tuple[list[Rule], ParseReport]:
    report = ParseReport(source="test", format=fmt)
    rules = list(parse_lines(text.splitlines(keepends=True), fmt, report))
    return rules, report


# --- names ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Example.COM", "example.com"),
        ("example.com.", "example.com"),
        ("Bücher.example", "xn--bcher-kva.example"),
        ("BÜCHER.example.", "xn--bcher-kva.example"),
        ("straße.de", "xn--strae-oqa.de"),
        ("_dmarc.example.com", "_dmarc.example.com"),
        ("xn--bcher-kva.example", "xn--bcher-kva.example"),
    ],
)
def test_names_are_lowercased_stripped_and_converted_to_a_labels(text: str, expected: str) -> None:
    assert normalise_name(text) == expected


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("a..b", "empty label"),
        (".example.com", "empty label"),
        ("", "empty"),
        ("a" * 64 + ".com", "at most 63"),
        (".".join(["abcdefghi"] * 26), "at most 253"),
        ("exa mple.com", "' '"),
        ("example.com/path", "'/'"),
        ("ex\ufffdample.com", "not a valid internationalised name"),
    ],
)
def test_invalid_names_are_refused_with_the_reason(text: str, reason: str) -> None:
    with pytest.raises(InvalidNameError, match=reason):
        normalise_name(text)


# --- domains -------------------------------------------------------------------------


def test_domains_block_the_name_and_its_subdomains() -> None:
    rules, report = parse("domains", "example.com\nAds.Example.NET.\n")
    assert rules == [
        ("example.com", BLOCK_WITH_SUBDOMAINS),
        ("ads.example.net", BLOCK_WITH_SUBDOMAINS),
    ]
    assert (report.lines, report.rules, report.skipped) == (2, 2, 0)


def test_domains_wildcard_blocks_only_the_subdomains() -> None:
    rules, _ = parse("domains", "*.example.com\n")
    assert rules == [("example.com", SUBTREE_BLOCK)]


def test_domains_skip_comments_and_blank_lines() -> None:
    rules, report = parse("domains", "# header\n\n   \nexample.com # trailing\n\t# indented\n")
    assert rules == [("example.com", BLOCK_WITH_SUBDOMAINS)]
    assert report.skipped == 0


def test_bad_lines_are_counted_with_their_numbers_and_do_not_sink_the_list() -> None:
    text = "good.example\nbad..example\n" + "a" * 64 + ".com\ntwo names.example\nok.example\n"
    rules, report = parse("domains", text)
    assert [name for name, _ in rules] == ["good.example", "ok.example"]
    assert report.skipped == 3
    assert [bad.line for bad in report.bad_lines] == [2, 3, 4]
    assert "empty label" in str(report.bad_lines[0])
    assert str(report.bad_lines[0]).startswith("line 2: ")
    assert "at most 63" in report.bad_lines[1].reason


def test_a_name_longer_than_253_bytes_is_a_bad_line() -> None:
    long_name = ".".join(["abcdefghi"] * 26)  # 259 bytes
    rules, report = parse("domains", long_name + "\nok.example\n")
    assert rules == [("ok.example", BLOCK_WITH_SUBDOMAINS)]
    assert report.bad_lines[0].line == 1


def test_idn_names_in_a_source_become_a_labels() -> None:
    rules, _ = parse("domains", "Bücher.example\n")
    assert rules == [("xn--bcher-kva.example", BLOCK_WITH_SUBDOMAINS)]


def test_a_star_in_the_middle_is_a_bad_line() -> None:
    rules, report = parse("domains", "ads.*.example\n")
    assert rules == [] and report.skipped == 1


def test_parsers_stream_without_reading_everything_first() -> None:
    def lines() -> Iterator[str]:
        yield "first.example\n"
        raise AssertionError("the parser read past the first rule")

    report = ParseReport(source="stream", format="domains")
    assert next(iter(parse_lines(lines(), "domains", report))) == (
        "first.example",
        BLOCK_WITH_SUBDOMAINS,
    )


def test_unknown_format_is_refused_with_a_sentence() -> None:
    with pytest.raises(SourceFormatError, match="Unknown list format 'csv'"):
        parse_lines([], "csv", ParseReport(source="x", format="csv"))


def test_missing_source_file_is_refused_with_a_sentence(tmp_path: Path) -> None:
    with pytest.raises(SourceFormatError, match="cannot be read"):
        open_source(tmp_path / "absent.txt")


def test_undecodable_bytes_make_one_bad_line(tmp_path: Path) -> None:
    source = tmp_path / "list.txt"
    source.write_bytes(b"\xef\xbb\xbfone.example\nbad\xff.example\ntwo.example\n")
    report = ParseReport(source=str(source), format="domains")
    with open_source(source) as handle:
        rules = list(parse_lines(handle, "domains", report))
    assert [name for name, _ in rules] == ["one.example", "two.example"]
    assert [bad.line for bad in report.bad_lines] == [2]


# --- hosts ---------------------------------------------------------------------------


def test_hosts_block_exactly_the_names() -> None:
    rules, report = parse(
        "hosts",
        "0.0.0.0 ads.example.com\n127.0.0.1 a.example b.example # two names\n:: v6.example\n"
        "::1 loop.example\n0.0.0.0 *.wild.example\n",
    )
    assert rules == [
        ("ads.example.com", EXACT_BLOCK),
        ("a.example", EXACT_BLOCK),
        ("b.example", EXACT_BLOCK),
        ("v6.example", EXACT_BLOCK),
        ("loop.example", EXACT_BLOCK),
        ("wild.example", SUBTREE_BLOCK),
    ]
    assert report.skipped == 0


def test_hosts_housekeeping_lines_are_unsupported_not_blocked() -> None:
    rules, report = parse(
        "hosts",
        "127.0.0.1 localhost\n127.0.0.1 localhost.localdomain\n255.255.255.255 broadcasthost\n"
        "::1 ip6-localhost\nfe80::1%lo0 localhost\n0.0.0.0 0.0.0.0\n0.0.0.0 real.example\n",
    )
    assert rules == [("real.example", EXACT_BLOCK)]
    assert report.unsupported == 6
    assert report.skipped == 0


def test_hosts_bad_lines_keep_their_valid_names() -> None:
    rules, report = parse(
        "hosts", "0.0.0.0 good.example bad..example\nexample.com\n0.0.0.0\n0.0.0.0 ok.example\n"
    )
    assert rules == [("good.example", EXACT_BLOCK), ("ok.example", EXACT_BLOCK)]
    assert [bad.line for bad in report.bad_lines] == [1, 2, 3]
    assert "Expected an address" in report.bad_lines[1].reason
    assert "No name after the address" in report.bad_lines[2].reason


# --- adblock -------------------------------------------------------------------------


def test_adblock_blocks_and_exceptions() -> None:
    rules, report = parse(
        "adblock",
        "[Adblock Plus 2.0]\n! Title: test\n# comment\n||ads.example.com^\n"
        "@@||ok.ads.example.com^\n||*.wild.example^\n@@||*.open.example^\n",
    )
    assert rules == [
        ("ads.example.com", BLOCK_WITH_SUBDOMAINS),
        ("ok.ads.example.com", ALLOW_WITH_SUBDOMAINS),
        ("wild.example", SUBTREE_BLOCK),
        ("open.example", SUBTREE_ALLOW),
    ]
    assert (report.skipped, report.unsupported) == (0, 0)


@pytest.mark.parametrize(
    "line",
    [
        "||ads.example.com^$third-party",
        "||ads.example.com^$script,image",
        "example.com##.banner",
        "##.ad-box",
        "#@#.ad-box",
        "example.com#$#.ad { display: none }",
        "||example.com/ads/*",
        "||example.com/banner^",
        "|https://example.com/ad.js",
        "||example.com:8080^",
    ],
)
def test_browser_only_rules_are_counted_as_not_dns_rules(line: str) -> None:
    rules, report = parse("adblock", line + "\n||kept.example^\n")
    assert rules == [("kept.example", BLOCK_WITH_SUBDOMAINS)]
    assert (report.not_dns, report.unsupported, report.skipped) == (1, 0, 0)


@pytest.mark.parametrize(
    ("line", "rule"),
    [
        # AdGuard Home's documented forms; `^` is the end of a host name.
        ("||example.org^", ("example.org", BLOCK_WITH_SUBDOMAINS)),
        ("||example.org^|", ("example.org", BLOCK_WITH_SUBDOMAINS)),
        ("|example.org^", ("example.org", EXACT_BLOCK)),
        ("|example.org^|", ("example.org", EXACT_BLOCK)),
        ("example.org", ("example.org", EXACT_BLOCK)),
        ("||*.example.org^", ("example.org", SUBTREE_BLOCK)),
        (".example.org^", ("example.org", SUBTREE_BLOCK)),
        ("@@||example.org^|", ("example.org", ALLOW_WITH_SUBDOMAINS)),
        ("@@|example.org^|", ("example.org", EXACT_ALLOW)),
        ("@@||*.example.org^", ("example.org", SUBTREE_ALLOW)),
        ("0.0.0.0 example.org", ("example.org", EXACT_BLOCK)),
    ],
)
def test_adblock_domain_forms_go_to_the_trie(line: str, rule: Rule) -> None:
    rules, report = parse("adblock", line + "\n")
    assert rules == [rule]
    assert report.text_rules == [] and report.unsupported == 0
    assert report.exceptions == (1 if line.startswith("@@") else 0)


@pytest.mark.parametrize(
    ("line", "listed", "not_listed"),
    [
        ("||example", ["example.org", "sub.example.com", "examples.net"], ["notexample.org"]),
        ("||example.", ["example.org", "a.example.co.uk"], ["examples.org", "myexample.org"]),
        ("||ad*.example.org^", ["ad1.example.org", "x.ads.example.org"], ["example.org"]),
        ("*banner*", ["banner.example", "x.mybanners.net"], ["ban.example"]),
        ("/^ad[0-9]+\\./", ["ad12.example.org"], ["ads.example.org", "x.ad1.example"]),
        ("example.org^", ["example.org", "badexample.org"], ["example.org.net"]),
        ("@@||example", ["example.org"], ["other.org"]),
    ],
)
def test_adblock_patterns_become_text_rules(line: str, listed: list[str],
                                            not_listed: list[str]) -> None:
    from blocklists.patterns import RuleSet

    rules, report = parse("adblock", line + "\n")
    assert rules == [] and len(report.text_rules) == 1 and report.patterns == 1
    text_rule = report.text_rules[0]
    assert (text_rule.text, text_rule.line) == (line, 1)
    assert text_rule.exception == line.startswith("@@")
    matcher = RuleSet.from_rules(report.text_rules)
    assert [name for name in listed if matcher.matches(name)] == listed
    assert [name for name in not_listed if matcher.matches(name)] == []


def test_adblock_modifiers_keep_the_rule_and_its_meaning() -> None:
    from blocklists.patterns import RuleSet

    rules, report = parse(
        "adblock",
        "||important.example^$important\n||typed.example^$dnstype=AAAA\n"
        "||other.example^$denyallow=ok.other.example\n||all.example^$denyallow=fine.all.example\n"
        "||gone.example^$badfilter\n",
    )
    assert rules == []
    by_line = {rule.line: rule for rule in report.text_rules}
    assert by_line[1].important and by_line[1].target == ("important.example",
                                                          BLOCK_WITH_SUBDOMAINS)
    assert by_line[2].dnstype == ("AAAA",)
    assert by_line[5].badfilter and by_line[5].key == "||gone.example^"
    matcher = RuleSet.from_rules(report.text_rules)
    assert [r.line for r in matcher.matches("typed.example", "AAAA")] == [2]
    assert matcher.matches("typed.example", "A") == []
    assert [r.line for r in matcher.matches("all.example", "A")] == [4]
    assert matcher.matches("fine.all.example", "A") == []
    assert matcher.matches("gone.example", "A") == []  # a cancellation matches nothing


def test_adblock_rules_not_enforced_yet_are_listed_with_their_lines() -> None:
    _, report = parse(
        "adblock",
        "||a.example^\n||b.example^$client=laptop\n||c.example^$nonsense\n"
        "1.2.3.4 rewritten.example\n",
    )
    assert report.unsupported == 2
    assert [(u.line, u.text) for u in report.unsupported_lines] == [
        (2, "||b.example^$client=laptop"),
        (3, "||c.example^$nonsense"),
    ]
    # a hosts line with a real address is a rewrite, as AdGuard Home reads it
    assert [(r.line, r.rewrite) for r in report.text_rules] == [(4, "A:1.2.3.4")]


@pytest.mark.parametrize(
    ("value", "stored"),
    [("NXDOMAIN", "NXDOMAIN"), ("REFUSED", "REFUSED"), ("NOERROR", "NODATA"),
     ("NOERROR;A;192.0.2.7", "A:192.0.2.7"), ("NOERROR;AAAA;2001:db8::7", "AAAA:2001:db8::7"),
     ("192.0.2.8", "A:192.0.2.8"), ("2001:db8::8", "AAAA:2001:db8::8"),
     ("NOERROR;CNAME;Safe.Example.", "CNAME:safe.example"), ("safe.example", "CNAME:safe.example")],
)
def test_dnsrewrite_values(value: str, stored: str) -> None:
    _, report = parse("adblock", f"||rewrite.example^$dnsrewrite={value}\n")
    assert [r.rewrite for r in report.text_rules] == [stored]


def test_ctag_takes_adguards_vocabulary_only() -> None:
    _, report = parse("adblock", "||a.example^$ctag=device_pc|~user_child\n"
                                 "||b.example^$ctag=my_laptop\n")
    assert [r.ctag for r in report.text_rules] == [("device_pc", "~user_child")]
    assert report.bad_lines[0].line == 2 and "my_laptop" in report.bad_lines[0].reason


def test_wildcard_format_means_the_name_and_its_subdomains() -> None:
    rules, report = parse("wildcard", "# HaGeZi wildcard asterisk\n*.ads.example\nexact.example\n")
    assert rules == [("ads.example", BLOCK_WITH_SUBDOMAINS), ("exact.example", EXACT_BLOCK)]
    assert report.skipped == 0


def test_rpz_with_an_apex_soa_and_ns_but_no_origin_has_no_bad_lines() -> None:
    rules, report = parse(
        "rpz",
        "$TTL 300\n@ SOA localhost. root.localhost. 1 43200 3600 86400 300\n"
        "  NS  localhost.\nads.example CNAME .\n*.ads.example CNAME .\n",
    )
    assert [name for name, _ in rules] == ["ads.example", "ads.example"]
    assert (report.skipped, report.unsupported) == (0, 0)


def test_adblock_invalid_domain_is_a_bad_line() -> None:
    rules, report = parse("adblock", "||bad..example^\n||ok.example^\n")
    assert rules == [("ok.example", BLOCK_WITH_SUBDOMAINS)]
    assert [bad.line for bad in report.bad_lines] == [1]


# --- rpz -----------------------------------------------------------------------------

RPZ_ZONE = """\
$TTL 300
$ORIGIN rpz.example.org.
@   IN SOA ns.rpz.example.org. hostmaster.example.org. (
        2024010101 ; serial
        3600 600 86400 60 )
    IN NS  ns.rpz.example.org.
bad.example        CNAME .            ; NXDOMAIN
*.bad.example      CNAME .
nodata.example     300 IN CNAME *.
ok.bad.example     CNAME rpz-passthru.
*.ok.bad.example   CNAME rpz-passthru.
local.example      A 10.0.0.1
                   AAAA ::1
redirect.example   CNAME walled.garden.example.
Abs.Example.rpz.example.org. CNAME .
32.1.0.0.127.rpz-ip CNAME .
ns.example.rpz-nsdname CNAME .
drop.example       CNAME rpz-drop.
"""


def test_rpz_owners_and_actions() -> None:
    rules, report = parse("rpz", RPZ_ZONE)
    nx_exact = EXACT_BLOCK | ACTION_NXDOMAIN << EXACT_ACTION_SHIFT
    assert rules == [
        ("bad.example", nx_exact),
        ("bad.example", SUBTREE_BLOCK | ACTION_NXDOMAIN << SUBTREE_ACTION_SHIFT),
        ("nodata.example", EXACT_BLOCK | ACTION_NODATA << EXACT_ACTION_SHIFT),
        ("ok.bad.example", EXACT_ALLOW),
        ("ok.bad.example", SUBTREE_ALLOW),
        ("local.example", EXACT_BLOCK),
        ("local.example", EXACT_BLOCK),
        ("redirect.example", EXACT_BLOCK),
        ("abs.example", nx_exact),
        ("drop.example", EXACT_BLOCK),
    ]
    assert report.unsupported == 2  # the rpz-ip and rpz-nsdname triggers
    assert report.skipped == 0


def test_rpz_without_origin_takes_owner_names_as_they_are() -> None:
    rules, _ = parse("rpz", "bad.example. CNAME .\nother.example A 1.2.3.4\n")
    assert [name for name, _ in rules] == ["bad.example", "other.example"]


def test_rpz_zone_apex_from_an_absolute_soa() -> None:
    rules, report = parse(
        "rpz",
        "rpz.local. 60 IN SOA ns. admin. 1 2 3 4 5\nrpz.local. NS ns.\n"
        "bad.example.rpz.local. CNAME .\n",
    )
    assert rules == [("bad.example", EXACT_BLOCK | ACTION_NXDOMAIN << EXACT_ACTION_SHIFT)]
    assert report.skipped == 0


def test_rpz_relative_origin_changes_stay_in_the_zone() -> None:
    rules, _ = parse(
        "rpz",
        "$ORIGIN rpz.local.\n$ORIGIN example.com.rpz.local.\nwww CNAME .\n",
    )
    assert [name for name, _ in rules] == ["www.example.com"]


def test_rpz_bad_records_are_reported_with_line_numbers() -> None:
    rules, report = parse(
        "rpz",
        "$ORIGIN rpz.local.\nbad..name CNAME .\noutside.example. CNAME .\n* CNAME .\n"
        "nothing.example\n  A 1.2.3.4\nok.example CNAME .\n",
    )
    assert [name for name, _ in rules] == ["nothing.example", "ok.example"]
    lines = {bad.line: bad.reason for bad in report.bad_lines}
    assert set(lines) == {2, 3, 4, 5}
    assert "outside the zone" in lines[3]
    assert "every name" in lines[4]
    assert "No record type" in lines[5]


def test_rpz_ttl_and_class_in_any_order_and_case() -> None:
    rules, report = parse(
        "rpz", "a.example in 300 cname .\nb.example 1h IN A 10.0.0.1\nc.example 30x A 1.2.3.4\n"
    )
    assert rules == [
        ("a.example", EXACT_BLOCK | ACTION_NXDOMAIN << EXACT_ACTION_SHIFT),
        ("b.example", EXACT_BLOCK),
    ]
    assert [bad.line for bad in report.bad_lines] == [3]


def test_rpz_comments_inside_quotes_are_text() -> None:
    rules, _ = parse("rpz", 'txt.example TXT "a;b" ; comment\n')
    assert rules == [("txt.example", EXACT_BLOCK)]


def test_rpz_unclosed_parenthesis_is_a_bad_line() -> None:
    _, report = parse("rpz", "@ SOA ns. admin. ( 1 2 3\n")
    assert report.skipped == 1
