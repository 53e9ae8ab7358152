"""EDNS0 (RFC 6891): sizes, versions, unknown options, clients without OPT; TC then TCP."""

from __future__ import annotations

import subprocess

import dns.edns
import dns.message
import dns.query
import dns.rcode
import dns.rdatatype


def _udp(straja, q: dns.message.Message) -> dns.message.Message:
    return dns.query.udp(q, straja.host, port=straja.port, timeout=5)


def test_client_without_opt_never_gets_opt_back(straja) -> None:
    q = dns.message.make_query("www.example.test", "A", use_edns=False)
    r = _udp(straja, q)
    assert r.edns == -1 and r.opt is None
    assert r.rcode() == dns.rcode.NOERROR and r.answer


def test_client_with_opt_gets_opt_and_do_bit_is_echoed(straja) -> None:
    for _ in range(3):  # repeats are cache hits answered without parsing the query
        q = dns.message.make_query("www.example.test", "A", use_edns=0, want_dnssec=True)
        r = _udp(straja, q)
        assert r.edns == 0
        assert r.ednsflags & dns.flags.DO
        q2 = dns.message.make_query("www.example.test", "A", use_edns=0)
        r2 = _udp(straja, q2)
        assert r2.edns == 0 and not r2.ednsflags & dns.flags.DO
        q3 = dns.message.make_query("www.example.test", "A", use_edns=False)
        r3 = _udp(straja, q3)
        assert r3.edns == -1 and r3.answer


def test_edns_version_1_gets_badvers(straja) -> None:
    q = dns.message.make_query("www.example.test", "A", use_edns=1)
    r = _udp(straja, q)
    assert r.rcode() == dns.rcode.BADVERS
    assert r.edns == 0


def test_unknown_edns_options_are_ignored_not_echoed(straja) -> None:
    option = dns.edns.GenericOption(65100, b"secret")
    q = dns.message.make_query("www.example.test", "A", use_edns=0, options=[option])
    r = _udp(straja, q)
    assert r.rcode() == dns.rcode.NOERROR
    assert [str(x) for x in r.answer[0]] == ["192.0.2.10"]
    assert all(o.otype != 65100 for o in r.options)


def test_big_answer_sets_tc_for_small_buffers_and_tcp_gets_it_whole(straja) -> None:
    no_edns = _udp(straja, dns.message.make_query("big.example.test", "TXT", use_edns=False))
    assert no_edns.flags & dns.flags.TC and not no_edns.answer
    q = dns.message.make_query("big.example.test", "TXT", use_edns=0, payload=512)
    small = _udp(straja, q)
    assert small.flags & dns.flags.TC and not small.answer and small.edns == 0
    whole = straja.query("big.example.test", "TXT", tcp=True)
    assert not whole.flags & dns.flags.TC
    assert len(whole.answer[0]) == 30


def test_client_buffer_size_is_honoured(straja) -> None:
    # The TXT set is about 3 kB: over 1232 it cannot fit, so even a 4096 client gets TC from
    # our 1232 cap; the A answer fits anything.
    big = _udp(straja, dns.message.make_query("big.example.test", "TXT", use_edns=0, payload=4096))
    assert big.flags & dns.flags.TC
    a = _udp(straja, dns.message.make_query("www.example.test", "A", use_edns=0, payload=1232))
    assert not a.flags & dns.flags.TC and a.answer


def test_each_query_gets_its_own_buffer_size_from_the_cache_too(straja) -> None:
    # About 950 bytes of TXT: fits 1232 and 4096 (capped at our 1232), not 600 or 512.
    # From the second round on, every answer is a cache hit taken without parsing the query,
    # by the OPT record's bytes: each still gets the limit its own OPT asks for.
    for _ in range(3):
        for payload, truncated in ((1232, False), (600, True), (4096, False), (512, True)):
            q = dns.message.make_query("medium.example.test", "TXT", use_edns=0, payload=payload)
            r = _udp(straja, q)
            assert bool(r.flags & dns.flags.TC) == truncated, payload
            assert len(r.answer[0]) == 8 if not truncated else not r.answer
        no_edns = _udp(straja, dns.message.make_query("medium.example.test", "TXT",
                                                      use_edns=False))
        assert no_edns.flags & dns.flags.TC


def test_dig_retries_over_tcp_after_tc(straja) -> None:
    out = subprocess.run(
        ["dig", f"@{straja.host}", "-p", str(straja.port), "big.example.test", "TXT",
         "+bufsize=512"],
        capture_output=True, text=True, timeout=30,
    ).stdout
    assert "Truncated, retrying in TCP mode" in out
    assert out.count("big.example.test.") >= 30


def test_kdig_over_tcp_pipelines_several_queries_on_one_connection(straja) -> None:
    out = subprocess.run(
        ["kdig", f"@{straja.host}", "-p", str(straja.port), "+tcp", "+keepopen",
         "www.example.test", "A", "www.example.test", "AAAA", "mixed.example.test", "A"],
        capture_output=True, text=True, timeout=30,
    ).stdout
    assert "192.0.2.10" in out and "2001:db8::10" in out and "192.0.2.12" in out
