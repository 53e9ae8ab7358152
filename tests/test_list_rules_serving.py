"""Real-shaped public lists compiled on the device and served by `straja serve` to dnspython:
one list in every format gives one set of decisions, allowlists work both ways, and
`straja check` says what the server answers, quoting the source rule."""

from __future__ import annotations

from pathlib import Path

import dns.edns
import dns.message
import dns.query
import dns.rcode

from tests.listtools import straja_cli

LISTED = "ads.example.test"
# The listed name, a subdomain, a parent and look-alikes, with what every format means.
EXPECTED = {
    "ads.example.test": True,
    "x.y.ads.example.test": True,
    "example.test": False,
    "badads.example.test": False,
    "ads.example.test.evil.test": False,
    "ads.example.testing": False,
}
SOURCES = {
    "domains": f"# domains\n{LISTED}\n",
    "wildcard": f"# HaGeZi wildcard asterisk\n*.{LISTED}\n",
    "adblock": f"! Title: adblock\n||{LISTED}^\n",
    "rpz": f"$TTL 300\n@ SOA localhost. root.localhost. 1 3600 600 86400 300\n  NS localhost.\n"
           f"{LISTED} CNAME .\n*.{LISTED} CNAME .\n",
}


def _ede(r: dns.message.Message) -> list[tuple[int, str]]:
    return [(o.code, o.text or "") for o in r.options if isinstance(o, dns.edns.EDEOption)]


def _ask(server, name: str, source: str = "127.0.0.1", rdtype: str = "A"):  # type: ignore[no-untyped-def]
    q = dns.message.make_query(name, rdtype, use_edns=0)
    return dns.query.udp(q, server.host, port=server.port, timeout=5, source=source)


def _source_list(tmp_path: Path, list_id: str, fmt: str, text: str, **extra: object) -> dict:
    path = tmp_path / f"{list_id}.txt"
    path.write_text(text)
    return {"id": list_id, "source": str(path), "tier": "operator", "format": fmt,
            "signed": False, **extra}


def _update(server) -> str:  # type: ignore[no-untyped-def]
    run = straja_cli("lists", "update", "--config", str(server.config_path))
    assert run.returncode == 0, run.stdout + run.stderr
    return run.stdout + run.stderr


def test_one_list_in_every_format_gives_the_same_decisions(straja_factory, unbound,
                                                           tmp_path: Path) -> None:
    specs = [_source_list(tmp_path, fmt, fmt, text, action="nxdomain")
             for fmt, text in SOURCES.items()]
    groups = [{"name": fmt, "clients": [f"127.0.0.{11 + index}/32"], "lists": [fmt]}
              for index, fmt in enumerate(SOURCES)]
    s = straja_factory({"upstreams": [unbound.address], "lists": specs, "groups": groups},
                       start=False)
    s.write_config()
    output = _update(s)
    assert "bad lines" in output and "1 bad lines" not in output  # the RPZ apex is fine
    s.start()
    for index, fmt in enumerate(SOURCES):
        source = f"127.0.0.{11 + index}"
        decided = {name: _ede(_ask(s, name, source)) == [(15, fmt)] for name in EXPECTED}
        assert decided == EXPECTED, fmt


def test_allowlists_both_ways_and_check_agrees_with_the_answer(straja_factory, unbound,
                                                               tmp_path: Path) -> None:
    ads = "! AdGuard-shaped\n||tracker.example.test^\n||cdn.example.test^\n" \
          "@@||ok.tracker.example.test^|\n||www.example.test^\n||ads*.example.test^\n" \
          "||old.example.test^\n"
    specs = [
        _source_list(tmp_path, "ads", "adblock", ads),
        _source_list(tmp_path, "allow", "domains", "www.example.test\n", kind="allow"),
        _source_list(tmp_path, "kids", "adblock",
                     "@@|cdn.example.test^|\n||old.example.test^$badfilter\n", tier="family"),
    ]
    s = straja_factory({"upstreams": [unbound.address], "lists": specs}, start=False)
    s.write_config()
    output = _update(s)
    assert "1 pattern rules" in output
    s.start()
    # an exception in the same list, in another list, and a separate allowlist
    assert _ede(_ask(s, "tracker.example.test")) == [(15, "ads")]
    assert _ede(_ask(s, "ok.tracker.example.test")) == []
    assert _ede(_ask(s, "cdn.example.test")) == []
    www = _ask(s, "www.example.test")
    assert [str(x) for x in www.answer[0]] == ["192.0.2.10"]  # forwarded to Unbound
    assert _ede(_ask(s, "ads1.example.test")) == [(15, "ads")]  # a glob pattern
    assert _ede(_ask(s, "old.example.test")) == []  # cancelled by the kids list's $badfilter
    for name, blocked in [("www.example.test", False), ("tracker.example.test", True),
                          ("ads1.example.test", True), ("cdn.example.test", False)]:
        run = straja_cli("check", name, "--config", str(s.config_path))
        assert run.returncode == (3 if blocked else 0), run.stdout
    run = straja_cli("check", "www.tracker.example.test", "--config", str(s.config_path))
    assert "line 2: ||tracker.example.test^" in run.stdout  # quoted as written, with its line
    run = straja_cli("check", "ads1.example.test", "--config", str(s.config_path))
    assert "line 6: ||ads*.example.test^" in run.stdout
    run = straja_cli("lists", "status", "--config", str(s.config_path))
    assert "1 pattern rules" in run.stdout and "exceptions" in run.stdout
    assert "cancels     ||old.example.test^ (line 2: ||old.example.test^$badfilter)" in run.stdout


def test_a_pattern_rule_in_a_mandatory_list_is_refused_at_compile_time(tmp_path: Path) -> None:
    source = tmp_path / "law.txt"
    source.write_text("||abuse.example.test^\n/^abuse[0-9]+\\./\n")
    run = straja_cli("lists", "compile", str(source), "--format", "adblock", "--id", "law",
                     "--serial", "1", "--tier", "mandatory", "-o", str(tmp_path / "law.sl"))
    assert run.returncode == 1
    assert "mandatory tier takes plain block rules only; line 2" in run.stderr
    assert not (tmp_path / "law.sl").exists()


def test_compile_help_has_the_format_table() -> None:
    run = straja_cli("lists", "compile", "--help")
    for form in ("wildcard  *.example.org", "||example.org^", "|example.org^", "CNAME ."):
        assert form in run.stdout


def test_rewrites_and_client_tags_served(straja_factory, unbound, tmp_path: Path) -> None:
    local = "||printer.example.test^$dnsrewrite=NOERROR;A;192.0.2.9\n" \
            "||gone.example.test^$dnsrewrite=NXDOMAIN\n" \
            "||games.example.test^$ctag=user_child\n" \
            "||chat.example.test^$client=127.0.0.22\n" \
            "||web.example.test^$dnsrewrite=NOERROR;CNAME;www.example.test\n" \
            "||cloak.example.test^$dnsrewrite=NOERROR;CNAME;tracker.example.test\n" \
            "||tracker.example.test^\n"
    public = "192.0.2.66 www.example.test\n"  # a hosts rewrite, from a list not allowed to
    specs = [
        _source_list(tmp_path, "local", "adblock", local, allow_rewrites=True),
        _source_list(tmp_path, "public", "hosts", public),
    ]
    groups = [
        {"name": "kids", "clients": ["127.0.0.21/32"], "lists": ["local", "public"],
         "tags": ["user_child"]},
        {"name": "staff", "clients": ["127.0.0.22/32", "127.0.0.23/32"],
         "lists": ["local", "public"]},
    ]
    s = straja_factory({"upstreams": [unbound.address], "lists": specs, "groups": groups},
                       start=False)
    s.write_config()
    _update(s)
    s.start()
    for source in ("127.0.0.21", "127.0.0.22"):
        printer = _ask(s, "printer.example.test", source)
        assert [str(x) for x in printer.answer[0]] == ["192.0.2.9"] and _ede(printer) == []
        assert _ask(s, "printer.example.test", source, "AAAA").answer == []
        assert _ask(s, "gone.example.test", source).rcode() == dns.rcode.NXDOMAIN
        www = _ask(s, "www.example.test", source)
        assert [str(x) for x in www.answer[0]] == ["192.0.2.10"]  # Unbound's, not rewritten
    assert _ede(_ask(s, "games.example.test", "127.0.0.21")) == [(15, "local")]
    assert _ede(_ask(s, "games.example.test", "127.0.0.22")) == []
    # a CNAME rewrite: the target resolved upstream, and checked by policy again
    web = _ask(s, "web.example.test", "127.0.0.22")
    assert [str(rr) for rrset in web.answer for rr in rrset] == ["www.example.test.",
                                                                 "192.0.2.10"]
    assert _ede(_ask(s, "cloak.example.test", "127.0.0.22")) == [(15, "local")]
    # one group, decided per client: each keeps its own answer, asked twice (the cache)
    for _ in range(2):
        assert _ede(_ask(s, "chat.example.test", "127.0.0.22")) == [(15, "local")]
        assert _ede(_ask(s, "chat.example.test", "127.0.0.23")) == []
    run = straja_cli("check", "printer.example.test", "--client", "127.0.0.22",
                     "--config", str(s.config_path))
    assert "rewritten by local (line 1:" in run.stdout and "192.0.2.9" in run.stdout


def test_lists_catalog_prints_every_entry() -> None:
    run = straja_cli("lists", "catalog")
    assert run.returncode == 0
    assert "adguard-dns-filter  (adblock, ads, GPL-3.0)" in run.stdout
    assert "stevenblack-hosts  (hosts" in run.stdout
