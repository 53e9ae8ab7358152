"""The answer cache: TTL countdown, letter case, negative caching, keys, serve-stale."""

from __future__ import annotations

import time

import dns.flags
import dns.message
import dns.query
import dns.rcode


def test_ttl_counts_down_in_cached_answers(straja) -> None:
    first = straja.query("mixed.example.test", "A")
    assert first.answer[0].ttl == 600
    time.sleep(2.2)
    second = straja.query("mixed.example.test", "A")
    assert 590 <= second.answer[0].ttl <= 598


def test_client_letter_case_is_preserved(straja) -> None:
    straja.query("WWW.example.test", "A")  # first asked in another case
    for _ in range(2):  # answered from the cache, without parsing, from the second round on
        for spelling in ("WwW.ExAmPlE.TeSt", "www.example.test", "WWW.EXAMPLE.TEST"):
            r = straja.query(spelling, "A")
            assert r.question[0].name.to_text() == f"{spelling}."
            assert r.answer[0].name.to_text() == f"{spelling}."
            wire = r.to_wire()
            assert spelling.split(".")[1].encode() in wire
            assert [str(x) for x in r.answer[0]] == ["192.0.2.10"]


def test_rd_bit_and_id_are_the_clients_own_on_cache_hits(straja) -> None:
    for _ in range(3):
        for rd in (True, False):
            q = dns.message.make_query("www.example.test", "A", use_edns=False)
            if not rd:
                q.flags &= ~dns.flags.RD
            # A generous client wait: under qemu on a loaded machine 5 s was too short.
            r = dns.query.udp(q, straja.host, port=straja.port, timeout=30)
            assert r.id == q.id
            assert bool(r.flags & dns.flags.RD) == rd
            assert r.flags & dns.flags.QR and r.flags & dns.flags.RA
            assert [str(x) for x in r.answer[0]] == ["192.0.2.10"]


def test_nxdomain_is_cached_with_the_soa_ttl(straja, unbound) -> None:
    r = straja.query("missing.example.test", "A")
    assert r.rcode() == dns.rcode.NXDOMAIN
    assert r.authority and r.authority[0].rdtype == dns.rdatatype.SOA
    unbound.stop()
    try:
        again = straja.query("missing.example.test", "A")
        assert again.rcode() == dns.rcode.NXDOMAIN
        assert again.authority[0].ttl <= 120
    finally:
        unbound.start()


def test_nodata_is_cached(straja, unbound) -> None:
    r = straja.query("www.example.test", "MX")
    assert r.rcode() == dns.rcode.NOERROR and not r.answer and r.authority
    unbound.stop()
    try:
        again = straja.query("www.example.test", "MX")
        assert again.rcode() == dns.rcode.NOERROR and not again.answer
    finally:
        unbound.start()


def test_do_bit_and_opt_presence_are_separate_cache_entries(straja) -> None:
    with_do = straja.query("www.example.test", "A", want_dnssec=True)
    plain = dns.query.udp(
        dns.message.make_query("www.example.test", "A", use_edns=False), straja.host,
        port=straja.port, timeout=5,
    )
    assert with_do.ednsflags & dns.flags.DO
    assert plain.opt is None


def test_serve_stale_when_every_upstream_fails(straja_factory, own_unbound) -> None:
    s = straja_factory({
        "upstreams": [own_unbound.address],
        "dns": {"upstream_timeout": "500ms"},
        "cache": {"serve_stale": "1h", "stale_answer_ttl": "30s"},
    })
    fresh = s.query("short.example.test", "A")
    assert fresh.answer[0].ttl <= 2
    time.sleep(2.5)  # the answer's TTL of 2 s is over
    own_unbound.stop()
    stale = s.query("short.example.test", "A")
    assert stale.rcode() == dns.rcode.NOERROR
    assert [str(x) for x in stale.answer[0]] == ["192.0.2.11"]
    assert stale.answer[0].ttl == 30


def test_servfail_without_anything_stale(straja_factory, own_unbound) -> None:
    s = straja_factory({"upstreams": [own_unbound.address], "dns": {"upstream_timeout": "300ms"}})
    own_unbound.stop()
    r = s.query("www.example.test", "A")
    assert r.rcode() == dns.rcode.SERVFAIL


def test_types_that_differ_only_in_letter_case_bytes_do_not_share_an_entry(straja) -> None:
    # 65 is "A" and 97 is "a" as bytes: lowercasing the question section would merge them.
    https = straja.query("svc.example.test", "HTTPS")
    assert https.answer and https.answer[0].rdtype == 65
    other = straja.query("svc.example.test", "TYPE97")
    assert other.question[0].rdtype == 97 and not other.answer


def test_cache_bounds_hold_by_entries_and_bytes_oldest_out_first() -> None:
    from resolver.cache import AnswerCache, Entry

    def entry(size: int) -> Entry:
        wire = bytes(12) + b"\x01a\x00" + b"\x00\x01\x00\x01" + bytes(size)
        return Entry.from_wire(wire, 19, (), (), 0, 60)

    cache = AnswerCache(max_entries=3, max_bytes=10**6)
    for i in range(5):
        cache.put(b"k%d" % i, entry(10))
    assert list(cache.entries) == [b"k2", b"k3", b"k4"] and cache.evictions == 2
    small = AnswerCache(max_entries=1000, max_bytes=5000)
    for i in range(100):
        small.put(b"key%03d" % i, entry(500))
    assert small.bytes <= 5000 and b"key099" in small.entries and b"key000" not in small.entries


def test_refreshed_entries_replace_old_ones_without_leaking() -> None:
    from resolver.cache import AnswerCache, Entry

    wire = bytes(12) + b"\x01a\x00" + b"\x00\x01\x00\x01" + bytes(20)
    cache = AnswerCache(max_entries=10, max_bytes=10**6)
    for i in range(5000):
        cache.put(b"k%d" % (i % 3), Entry.from_wire(wire, 19, (), (), i, 60))
    assert len(cache.entries) == 3 and len(cache.order) <= 2 * 3 + 1024
    assert cache.bytes == sum(e.size for e in cache.entries.values())
    assert cache.entries[b"k2"].expires == 4997 + 60  # the newest version of each key


def test_cache_byte_accounting_matches_the_memory_entries_really_take() -> None:
    # cache.max_bytes is only a real bound if an entry's accounted size is what it costs.
    import gc
    import struct
    import tracemalloc

    from resolver.cache import AnswerCache, Entry

    count = 20_000
    answers = []
    for i in range(count):
        name = b"".join(bytes((len(label),)) + label
                        for label in (b"www", b"site%d" % i, b"example", b"com")) + b"\x00"
        question = name + b"\x00\x01\x00\x01"
        record = b"\xc0\x0c\x00\x01\x00\x01" + struct.pack("!I", 3600) + b"\x00\x04" + bytes(4)
        answers.append((b"\x00\x00\x81\x80\x00\x01\x00\x01\x00\x00\x00\x00" + question + record,
                        12 + len(question)))
    seconds = [1000 + s for s in range(count // 1000)]  # the resolver shares each second's int
    cache = AnswerCache(10**7, 10**12)
    gc.collect()
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        for i, (wire, qend) in enumerate(answers):
            entry = Entry.from_wire(wire, qend, (qend + 6,), (3600,), seconds[i // 1000], 3600)
            cache.put(wire[12:qend] + bytes(9), entry)
        gc.collect()
        traced = tracemalloc.get_traced_memory()[0] - before
    finally:
        tracemalloc.stop()
    assert abs(cache.bytes - traced) < 0.1 * traced, (cache.bytes / count, traced / count)


def test_ttls_count_down_in_every_record_of_an_entry() -> None:
    import struct

    from resolver.cache import Entry, age_entry

    head = bytes(12)
    question = b"\x01a\x00\x00\x01\x00\x01"
    records = b"".join(b"\xc0\x0c\x00\x01\x00\x01" + struct.pack("!I", t) + b"\x00\x04" + bytes(4)
                       for t in (300, 5))
    wire = head + question + records
    qend = 12 + len(question)
    offsets = (qend + 6, qend + 6 + 16)
    many = Entry.from_wire(wire, qend, offsets, (300, 5), 100, 5)
    one = Entry.from_wire(wire[: qend + 16], qend, offsets[:1], (300,), 100, 300)
    age_entry(many, 110)  # stored at second 100
    age_entry(one, 110)
    # the frame is the answer without its 2-byte ID
    ttls = [struct.unpack_from("!I", many.frame, off - 2)[0] for off in offsets]
    assert ttls == [290, 0]  # never below zero
    assert struct.unpack_from("!I", one.frame, offsets[0] - 2)[0] == 290


def test_stale_answer_comes_before_a_slow_upstream_gives_up(straja_factory, tmp_path) -> None:
    # An upstream that still answers, but that this test then silences: the client gets the
    # stale answer after cache.stale_answer_client_timeout (1.8 s by default), well within its
    # own 5 s, instead of waiting out the upstream's 10 s timeout.
    from tests.servers import Unbound
    from tests.test_forwarding import SilentUpstream

    unbound = Unbound(tmp_path, host="127.0.0.6").start()
    silent = SilentUpstream("127.0.0.7")
    try:
        s = straja_factory({"upstreams": [unbound.address], "dns": {"upstream_timeout": "10s"}})
        assert s.query("short.example.test", "A").answer[0].ttl <= 2
        time.sleep(2.5)  # the 2 s TTL is over
        config = dict(s.config)
        config["upstreams"] = [silent.address]
        s.write_config(config)
        import signal

        s.signal(signal.SIGHUP)
        deadline = time.monotonic() + 5
        while "config reloaded" not in s.read_log() and time.monotonic() < deadline:
            time.sleep(0.05)
        stale = s.query("short.example.test", "A")  # dnspython's timeout here: 5 s
        assert stale.answer, s.read_log()[-3000:]
        assert [str(x) for x in stale.answer[0]] == ["192.0.2.11"]
        assert stale.answer[0].ttl == 30
        assert silent.seen, "the upstream was asked again"
    finally:
        silent.close()
        unbound.stop()


def _cache_entries_when(server, wanted) -> int:  # type: ignore[no-untyped-def]
    """`cache_entries` from `straja stats` once `wanted(n)` holds (the counters are written
    every 2 s), or the last value seen after a generous wait."""
    import json

    from tests.listtools import straja_cli

    deadline = time.monotonic() + 30
    while True:
        run = straja_cli("stats", "--config", str(server.config_path), "--json")
        entries = json.loads(run.stdout).get("cache_entries", -1) if run.returncode == 0 else -1
        if wanted(entries) or time.monotonic() > deadline:
            return int(entries)
        time.sleep(0.5)


def test_a_list_swap_frees_the_answers_cached_under_the_old_lists(straja_factory, unbound,
                                                                  tmp_path) -> None:
    from tests.listtools import Publisher, straja_cli

    pub = Publisher(tmp_path)
    s = straja_factory({"upstreams": [unbound.address], "lists": [
        {"id": "school", "source": str(pub.compile("school", ["games.example.test"], 1)),
         "tier": "operator", "keys": [pub.key]}]})
    names = ["www.example.test", "mixed.example.test", "alias.example.test",
             "games.example.test", *(f"u{i}.unknown.test" for i in range(20))]
    for name in names:
        s.query(name, "A")
    assert _cache_entries_when(s, lambda n: n >= len(names)) >= len(names)
    swap = straja_cli("lists", "import", str(pub.compile("school", ["games.example.test"], 2)),
                      "--config", str(s.config_path))
    assert swap.returncode == 0, swap.stdout + swap.stderr
    # Nothing cached under the old lists can be hit again, so none of it stays in memory.
    assert _cache_entries_when(s, lambda n: n == 0) == 0
    assert [str(x) for x in s.query("www.example.test", "A").answer[0]] == ["192.0.2.10"]
    assert s.query("games.example.test", "A").answer[0][0].to_text() == "0.0.0.0"
