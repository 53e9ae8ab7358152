"""Hostile, slow and failing upstreams: nothing malformed is cached or relayed, what is
ignored is counted, late answers still reach the client's retry, and a dead upstream is
left alone until it may be back."""

from __future__ import annotations

import json
import subprocess
import time
from collections.abc import Iterator

import dns.edns
import dns.message
import dns.query
import dns.rcode
import pytest

from tests.hostile import HostileUpstream
from tests.listtools import straja_cli


@pytest.fixture
def hostile() -> Iterator[HostileUpstream]:
    server = HostileUpstream()
    yield server
    server.close()


def counters(server, wanted: str, at_least: int) -> dict:
    """The summed counters once `wanted` reaches `at_least` (they are written every 2 s)."""
    deadline = time.monotonic() + 15
    total: dict = {}
    while time.monotonic() < deadline:
        run = straja_cli("stats", "--config", str(server.config_path), "--json")
        total = json.loads(run.stdout) if run.returncode == 0 else {}
        if total.get(wanted, 0) >= at_least:
            break
        time.sleep(0.5)
    return total


def ede_codes(answer: dns.message.Message) -> list[int]:
    return [o.code for o in answer.options if isinstance(o, dns.edns.EDEOption)]


def query(server, name: str, rdtype: str = "A", timeout: float = 5) -> dns.message.Message:
    q = dns.message.make_query(name, rdtype, use_edns=0)
    return dns.query.udp(q, server.host, port=server.port, timeout=timeout)


@pytest.mark.parametrize("kind", ["selfptr", "pastend", "loop", "garbage"])
def test_a_malformed_upstream_answer_becomes_servfail_and_is_never_cached(
        straja_factory, hostile, kind) -> None:
    s = straja_factory({"upstreams": [hostile.address]})
    for _ in range(2):
        answer = query(s, f"{kind}-a.example.test")
        assert answer.rcode() == dns.rcode.SERVFAIL and not answer.answer
        assert ede_codes(answer) == [23]
    assert hostile.seen[kind] == 2  # asked again: the bad answer was not cached
    out = subprocess.run(["dig", f"@{s.host}", "-p", str(s.port), f"{kind}-b.example.test"],
                         capture_output=True, text=True, timeout=30).stdout
    assert "status: SERVFAIL" in out and "bad compression pointer" not in out
    assert counters(s, "upstream_malformed", 3)["upstream_malformed"] >= 3


@pytest.mark.parametrize("kind,counter", [("noise", "upstream_mismatched"),
                                          ("wrong", "upstream_mismatched"),
                                          ("oversized", "upstream_oversized"),
                                          ("otherport", None)])
def test_ignored_upstream_answers_are_counted_and_the_next_upstream_answers(
        straja_factory, hostile, unbound, kind, counter) -> None:
    s = straja_factory({"upstreams": [hostile.address, unbound.address],
                        "dns": {"upstream_timeout": "300ms"}})
    answer = query(s, f"{kind}-a.example.test")
    # Unbound's own answer (the name is not in its zone), not the hostile one's
    assert answer.rcode() == dns.rcode.NXDOMAIN and not answer.answer
    assert hostile.seen[kind] >= 1
    if counter is not None:
        assert counters(s, counter, 1)[counter] >= 1


def test_a_slow_only_upstream_still_resolves_on_the_clients_retry(straja_factory, hostile
                                                                   ) -> None:
    s = straja_factory({"upstreams": [hostile.address]})
    out = subprocess.run(["dig", f"@{s.host}", "-p", str(s.port), "slow3-a.example.test",
                          "+timeout=1", "+tries=8"],
                         capture_output=True, text=True, timeout=60).stdout
    assert "192.0.2.99" in out and "status: NOERROR" in out
    assert hostile.seen["slow3"] == 1  # the retries waited for the one upstream query


def test_a_miss_whose_answer_was_cached_before_its_turn_is_a_hit_not_stale(
        tmp_path, hostile) -> None:
    """A retry can miss the cache in answer_fast while the fetch it would have joined
    finishes, on a loaded machine or when the loop was busy: by the time its own slow path
    runs, the answer is cached. That is a fresh hit, not a stale answer (EDE 3) held back
    for 1.8 s while the upstream is asked again. In-process, so the order is exact."""
    import asyncio
    import concurrent.futures

    from admin.config import load_config_text
    from resolver import wire
    from resolver.core import Resolver

    config = load_config_text(f"upstreams: [{hostile.address}]\nstate_dir: {tmp_path}/state\n")
    r = Resolver(config)
    packet = dns.message.make_query("slow0-a.example.test", "A", use_edns=0).to_wire()
    first = r.answer_fast(packet, "127.0.0.1", False)
    retry = r.answer_fast(packet, "127.0.0.1", False)  # missed too: nothing cached yet
    assert isinstance(first, wire.Query) and isinstance(retry, wire.Query)

    async def both() -> tuple[bytes, bytes]:
        return (await r.answer_slow(packet, first, False),
                await r.answer_slow(packet, retry, False))

    # In a thread of its own: the session's Playwright browser, once started, keeps an event
    # loop running in this one.
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        answered, again = pool.submit(asyncio.run, both()).result(timeout=30)
    assert hostile.seen["slow0"] == 1  # asked once
    for raw in (answered, again):
        reply = dns.message.from_wire(raw)
        assert reply.rcode() == dns.rcode.NOERROR and ede_codes(reply) == []
        assert "192.0.2.99" in reply.to_text()
    assert r.counters.cache_hits == 1 and r.counters.stale_served == 0


def test_a_dead_upstream_is_marked_down_and_not_asked_until_it_may_be_back(
        straja_factory, hostile) -> None:
    s = straja_factory({"upstreams": [hostile.address],
                        "dns": {"upstream_timeout": "200ms", "upstream_max_wait": "200ms"}})
    for i in range(3):
        assert query(s, f"noise-{i}.example.test").rcode() == dns.rcode.SERVFAIL
    asked = hostile.seen["noise"]
    answer = query(s, "noise-x.example.test")
    assert answer.rcode() == dns.rcode.SERVFAIL and ede_codes(answer) == [22]
    assert hostile.seen["noise"] == asked
    assert counters(s, "upstream_down_skipped", 1)["upstream_down_skipped"] >= 1
    # It is probed again after its back-off: resolution recovers by itself.
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if query(s, "ok-a.example.test").rcode() == dns.rcode.NOERROR:
            break
        time.sleep(0.5)
    assert query(s, "ok-a.example.test").answer[0][0].address == "192.0.2.99"


def test_every_upstream_down_then_back(straja_factory, own_unbound) -> None:
    s = straja_factory({"upstreams": [own_unbound.address]})
    own_unbound.stop()
    for _ in range(4):
        assert query(s, "www.example.test").rcode() == dns.rcode.SERVFAIL
    own_unbound.start()
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if query(s, "www.example.test").rcode() == dns.rcode.NOERROR:
            break
        time.sleep(0.5)
    assert query(s, "www.example.test").rcode() == dns.rcode.NOERROR


def test_stale_answers_carry_ede_3_and_stale_nxdomain_ede_19(straja_factory, own_unbound
                                                              ) -> None:
    s = straja_factory({"upstreams": [own_unbound.address],
                        "cache": {"serve_stale": "1h", "negative_max_ttl": "1s"}})
    assert query(s, "short.example.test").rcode() == dns.rcode.NOERROR
    assert query(s, "missing.example.test").rcode() == dns.rcode.NXDOMAIN
    time.sleep(2.5)  # both answers' TTLs are over
    own_unbound.stop()
    stale = query(s, "short.example.test")
    assert stale.rcode() == dns.rcode.NOERROR and ede_codes(stale) == [3]
    stale_nx = query(s, "missing.example.test")
    assert stale_nx.rcode() == dns.rcode.NXDOMAIN and ede_codes(stale_nx) == [19]


def test_servfail_when_no_upstream_answers_in_time_carries_ede_22(straja_factory, hostile
                                                                   ) -> None:
    s = straja_factory({"upstreams": [hostile.address],
                        "dns": {"upstream_timeout": "200ms", "upstream_max_wait": "300ms"}})
    answer = query(s, "noise-a.example.test")
    assert answer.rcode() == dns.rcode.SERVFAIL and ede_codes(answer) == [22]
