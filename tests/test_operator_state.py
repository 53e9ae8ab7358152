"""Overrides, managed groups and pauses published by the control side reach the workers."""

from __future__ import annotations

import hashlib
import json
import re
import signal
import time
from pathlib import Path

import dns.edns
import dns.message
import dns.query
import pytest

from admin.config import load_config
from admin.publish import (
    PublishedGroup,
    PublishedOverride,
    PublishedPause,
    mandatory_conflict,
    publish_groups,
    publish_overrides,
    publish_pauses,
)
from tests.listtools import Publisher, straja_cli
from tests.servers import run_dig

WAIT = 10.0  # generous: the workers poll once a second; a loaded machine may be slower


def _wait_for(predicate, timeout: float = WAIT) -> bool:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.1)
    return bool(predicate())


def _a(server, name: str, source: str | None = None) -> list[str]:  # type: ignore[no-untyped-def]
    q = dns.message.make_query(name, "A", use_edns=0)
    r = dns.query.udp(q, server.host, port=server.port, timeout=5, source=source)
    return [str(x) for rrset in r.answer for x in rrset if rrset.rdtype == 1]


def _ede(server, name: str) -> list[tuple[int, str]]:  # type: ignore[no-untyped-def]
    r = dns.query.udp(dns.message.make_query(name, "A", use_edns=0), server.host,
                      port=server.port, timeout=5)
    return [(o.code, o.text or "") for o in r.options if isinstance(o, dns.edns.EDEOption)]


def _dig_a(server, name: str) -> str:  # type: ignore[no-untyped-def]
    return run_dig(f"@{server.host}", "-p", str(server.port), name, "A", "+short").strip()


@pytest.fixture
def lists(tmp_path: Path):  # type: ignore[no-untyped-def]
    d = tmp_path / "pub"
    d.mkdir()
    pub = Publisher(d)
    files = {
        "op": pub.compile("op", ["www.example.test"], 1),
        "games": pub.compile("games", ["short.example.test"], 1),
        "law": pub.compile("law", ["mixed.example.test"], 1, tier="mandatory"),
    }
    tiers = {"op": "operator", "games": "operator", "law": "mandatory"}
    specs = [{"id": i, "source": str(p), "tier": tiers[i], "keys": [pub.key]}
             for i, p in files.items()]
    return specs, files


def _start(straja_factory, unbound, lists, **extra):  # type: ignore[no-untyped-def]
    specs, files = lists
    # These tests write the published files themselves, as the store would; with the admin
    # side on, its store would publish its own (empty) state over them at start.
    extra.setdefault("admin", {"enabled": False})
    s = straja_factory({"upstreams": [unbound.address], "lists": specs, **extra}, start=False)
    s.write_config()
    for path in files.values():
        run = straja_cli("lists", "import", str(path), "--config", str(s.config_path))
        assert run.returncode == 0, run.stderr
    return s.start()


def _state(server) -> Path:  # type: ignore[no-untyped-def]
    return Path(server.config["state_dir"])


def _check(server, *args: str):  # type: ignore[no-untyped-def]
    return straja_cli("check", *args, "--config", str(server.config_path))


def test_an_allow_override_unblocks_and_a_deny_override_blocks(
    straja_factory, unbound, lists
) -> None:
    s = _start(straja_factory, unbound, lists)
    assert _dig_a(s, "www.example.test") == "0.0.0.0"
    publish_overrides(_state(s), [
        PublishedOverride("allow", "www.example.test", None),
        PublishedOverride("deny", "medium.example.test", None),
    ])
    assert _wait_for(lambda: _dig_a(s, "www.example.test") == "192.0.2.10"), s.read_log()
    assert _a(s, "medium.example.test") == ["0.0.0.0"]
    assert _ede(s, "medium.example.test") == [(15, "local-deny")]
    check = _check(s, "www.example.test")
    assert check.returncode == 0, check.stdout + check.stderr
    assert "answer: allowed by override allow www.example.test" in check.stdout
    check = _check(s, "medium.example.test")
    assert check.returncode == 3
    assert "blocked by override deny medium.example.test" in check.stdout


def test_published_state_survives_a_config_reload(straja_factory, unbound, lists) -> None:
    s = _start(straja_factory, unbound, lists)
    publish_overrides(_state(s), [PublishedOverride("allow", "www.example.test", None)])
    assert _wait_for(lambda: _a(s, "www.example.test") == ["192.0.2.10"]), s.read_log()
    config = dict(s.config, local={"deny": ["medium.example.test"]})
    s.write_config(config)
    s.signal(signal.SIGHUP)
    assert _wait_for(lambda: _a(s, "medium.example.test") == ["0.0.0.0"]), s.read_log()
    assert _a(s, "www.example.test") == ["192.0.2.10"]


def test_an_allow_for_a_mandatory_name_never_unblocks_it(straja_factory, unbound, lists) -> None:
    s = _start(straja_factory, unbound, lists)
    config = load_config(s.config_path)
    assert mandatory_conflict(config, "mixed.example.test") == "law"
    assert mandatory_conflict(config, "*.mixed.example.test") == "law"
    assert mandatory_conflict(config, "www.example.test") is None  # an operator list's
    assert mandatory_conflict(config, "*.example.test") is None
    # Written straight into the file, past the UI's and CLI's refusal.
    root = _state(s) / "operator"
    root.mkdir(parents=True, exist_ok=True)
    (root / "overrides.json").write_text(json.dumps({"format": 1, "overrides": [
        {"kind": "allow", "name": "mixed.example.test", "expires": None},
        {"kind": "allow", "name": "example.test", "expires": None},
    ]}))
    (root / "generation").write_text("7\n")
    assert _wait_for(lambda: _a(s, "www.example.test") == ["192.0.2.10"]), s.read_log()
    assert _a(s, "mixed.example.test") == ["0.0.0.0"]
    assert _ede(s, "mixed.example.test") == [(16, "law")]
    check = _check(s, "mixed.example.test")
    assert check.returncode == 3 and "blocked by law (mandatory tier)" in check.stdout


def test_an_override_ends_at_its_expiry_without_a_republish(
    straja_factory, unbound, lists
) -> None:
    s = _start(straja_factory, unbound, lists)
    expires = time.time() + 4
    publish_overrides(_state(s), [PublishedOverride("allow", "www.example.test", expires)])
    assert _wait_for(lambda: _a(s, "www.example.test") == ["192.0.2.10"]), s.read_log()
    assert _wait_for(lambda: _a(s, "www.example.test") == ["0.0.0.0"], timeout=WAIT + 4)
    assert time.time() >= expires


def test_a_pause_shows_in_the_answers_then_ends_and_mandatory_names_stay_blocked(
    straja_factory, unbound, lists
) -> None:
    s = _start(straja_factory, unbound, lists, local={"deny": ["medium.example.test"]})
    assert _a(s, "www.example.test") == ["0.0.0.0"]
    until = time.time() + 5
    publish_pauses(_state(s), [PublishedPause(None, until)])
    assert _wait_for(lambda: _dig_a(s, "www.example.test") == "192.0.2.10"), s.read_log()
    assert _a(s, "mixed.example.test") == ["0.0.0.0"]  # mandatory: never paused
    assert _ede(s, "mixed.example.test") == [(16, "law")]
    assert _a(s, "medium.example.test") != ["0.0.0.0"]  # local.deny is paused with its tier
    check = _check(s, "www.example.test")
    if time.time() < until - 1:
        assert "paused (every group)" in check.stdout, check.stdout
    assert _wait_for(lambda: _dig_a(s, "www.example.test") == "0.0.0.0", timeout=WAIT + 5)
    assert _a(s, "medium.example.test") == ["0.0.0.0"]


def test_a_pause_for_one_group_leaves_the_others_filtered(straja_factory, unbound, lists) -> None:
    s = _start(straja_factory, unbound, lists, groups=[
        {"name": "lab", "clients": ["127.0.0.8/29"], "lists": ["op"]},
        {"name": "default", "lists": ["op"]},
    ])
    publish_pauses(_state(s), [PublishedPause("lab", time.time() + 600)])
    assert _wait_for(lambda: _a(s, "www.example.test", "127.0.0.9") == ["192.0.2.10"])
    assert _a(s, "www.example.test") == ["0.0.0.0"]
    assert _a(s, "mixed.example.test", "127.0.0.9") == ["0.0.0.0"]
    check = _check(s, "www.example.test", "--client", "127.0.0.9")
    assert check.returncode == 0 and "paused (group lab) until" in check.stdout, check.stdout
    check = _check(s, "mixed.example.test", "--client", "127.0.0.9")
    assert check.returncode == 3 and "blocked by law (mandatory tier)" in check.stdout
    assert _check(s, "www.example.test", "--client", "127.0.0.1").returncode == 3


def test_a_managed_group_by_cidr_gets_its_own_lists(straja_factory, unbound, lists) -> None:
    s = _start(straja_factory, unbound, lists, groups=[
        {"name": "staff", "clients": ["127.0.0.50/32"], "lists": []},
        {"name": "default", "lists": ["op"]},
    ])
    publish_groups(_state(s), [
        PublishedGroup("lab", ("127.0.0.8/29", "aa:bb:cc:dd:ee:ff"), ("games",), False, ()),
        # The config file's groups win a name clash and stay as they are.
        PublishedGroup("default", ("127.0.0.1/32",), (), False, ()),
    ])
    assert _wait_for(lambda: _a(s, "short.example.test", "127.0.0.9") == ["0.0.0.0"])
    assert _a(s, "www.example.test", "127.0.0.9") == ["192.0.2.10"]  # lab does not use op
    assert _a(s, "mixed.example.test", "127.0.0.9") == ["0.0.0.0"]  # mandatory for all
    assert _a(s, "www.example.test") == ["0.0.0.0"]  # 127.0.0.1 stays in the config's default
    assert _a(s, "short.example.test") == ["192.0.2.11"]
    check = _check(s, "short.example.test", "--client", "127.0.0.9")
    assert "group lab" in check.stdout and check.returncode == 3


def test_a_corrupt_state_file_keeps_the_previous_state_and_names_the_file(
    straja_factory, unbound, lists
) -> None:
    s = _start(straja_factory, unbound, lists, groups=[{"name": "default", "lists": ["op"]}])
    state = _state(s)
    publish_overrides(state, [PublishedOverride("allow", "www.example.test", None)])
    publish_groups(state, [PublishedGroup("lab", ("127.0.0.8/29",), ("games",), False, ())])
    assert _wait_for(lambda: _a(s, "short.example.test", "127.0.0.9") == ["0.0.0.0"])
    assert _wait_for(lambda: _a(s, "www.example.test") == ["192.0.2.10"]), s.read_log()
    overrides = state / "operator" / "overrides.json"
    overrides.write_text('{"format": 1, "overrides": [{"kind": "allow", "na')
    # A groups.json naming a prefix file whose bytes do not match its name (cut short).
    good = next((state / "operator" / "clients").glob("*.pfx"))
    digest = hashlib.sha256(b"another set of prefixes").hexdigest()
    prefix_file = good.with_name(f"{digest}.pfx")
    prefix_file.write_bytes(good.read_bytes()[:-3])
    groups = state / "operator" / "groups.json"
    groups.write_text(groups.read_text().replace(good.stem, digest))
    (state / "operator" / "generation").write_text("99\n")
    assert _wait_for(lambda: str(overrides) in s.read_log() and str(prefix_file) in s.read_log())
    log = s.read_log()
    assert re.search(r"ERROR straja\.operator.*overrides\.json: not valid JSON", log), log
    # Still the previous state: new questions (not cached answers) are decided under it.
    q = dns.message.make_query("www.example.test", "AAAA", use_edns=0)
    r = dns.query.udp(q, s.host, port=s.port, timeout=5)
    assert [str(x) for rrset in r.answer for x in rrset] == ["2001:db8::10"]
    assert _a(s, "short.example.test", "127.0.0.10") == ["0.0.0.0"]
    assert s.proc is not None and s.proc.poll() is None


def test_every_worker_picks_up_a_change(straja_factory, unbound, lists) -> None:
    s = _start(straja_factory, unbound, lists, dns={"workers": 2})
    publish_overrides(_state(s), [PublishedOverride("allow", "www.example.test", None)])

    def processes_with_the_override() -> set[str]:
        return set(re.findall(r"\[(\d+)\]: operator state: 1 overrides", s.read_log()))

    # Two workers and the control process (whose copy of the policy serves the STOP page).
    assert _wait_for(lambda: len(processes_with_the_override()) >= 3), s.read_log()

    def all_allowed() -> bool:
        # Each query comes from a fresh source port, so SO_REUSEPORT spreads them over the
        # workers: 30 in a row from one worker alone would be a 1 in 500 million chance.
        return all(_a(s, "www.example.test") == ["192.0.2.10"] for _ in range(30))

    assert _wait_for(all_allowed), s.read_log()


def test_the_prefix_index_finds_the_most_specific_prefix_in_both_families() -> None:
    import ipaddress

    from resolver.prefixes import PrefixIndex, decode_prefixes, encode_prefixes, parse_prefix

    def records(*nets: str):  # type: ignore[no-untyped-def]
        prefixes = [parse_prefix(n) for n in nets]
        assert None not in prefixes
        return decode_prefixes(encode_prefixes(prefixes), "test")  # type: ignore[arg-type]

    index = PrefixIndex([records("10.0.0.0/8", "2001:db8::/32"),
                         records("10.1.2.0/24", "2001:db8:1::/48"),
                         records("10.1.2.0/24")])  # the same prefix again: the first wins
    ip = ipaddress.ip_address
    assert index.lookup(ip("10.1.2.3")) == (24, 1)
    assert index.lookup(ip("10.9.9.9")) == (8, 0)
    assert index.lookup(ip("11.0.0.1")) is None
    assert index.lookup(ip("2001:db8:1::5")) == (48, 1)
    assert index.lookup(ip("2001:db8:2::5")) == (32, 0)
    with pytest.raises(ValueError, match="truncated"):
        decode_prefixes(encode_prefixes([(4, 10 << 24, 8)])[:-1], "f.pfx")
    # The quick parser agrees with ipaddress, and leaves what it cannot read to it.
    for text in ("10.1.2.3/24", "10.1.2.3", "2001:db8::1/64", "::ffff:10.0.0.1/120", "0.0.0.0/0"):
        net = ipaddress.ip_network(text, strict=False)
        assert parse_prefix(text) == (net.version, int(net.network_address), net.prefixlen)
    for text in ("10.0.0.0/33", "010.0.0.1", "aa:bb:cc:dd:ee:ff", "fe80::1%eth0", "10.0.0/8",
                 "10.0.0.0/+8", "10.0.0.0/٨"):
        assert parse_prefix(text) is None


def test_publishing_refuses_bad_input_with_the_field_named(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match=r"overrides\[0\]\.kind"):
        publish_overrides(tmp_path, [PublishedOverride("maybe", "example.test", None)])
    with pytest.raises(ValueError, match=r"groups\[0\] \(lab\)\.clients"):
        publish_groups(tmp_path, [PublishedGroup("lab", ("10.0.0.0/33",), (), False, ())])
    with pytest.raises(ValueError, match=r"groups\[0\] \(lab\)\.schedules"):
        publish_groups(tmp_path, [PublishedGroup("lab", (), (), False, ({"days": ["someday"]},))])
    assert not (tmp_path / "operator" / "groups.json").exists()


def test_a_cached_answer_made_under_an_override_is_not_served_past_its_expiry(
    tmp_path: Path,
) -> None:
    """In-process, so that nothing but the query itself can notice the expiry (no poll)."""
    import dnslib

    from admin import listmanager
    from admin.config import load_config_text
    from blocklists.store import ListStore
    from resolver import wire
    from resolver.core import Resolver
    from resolver.lists import ListWatcher
    from resolver.operator_state import OperatorState, Override

    pub = Publisher(tmp_path)
    path = pub.compile("op", ["www.example.test"], 1)
    config = load_config_text(
        f"upstreams: [127.0.0.1]\nstate_dir: {tmp_path}/state\n"
        f"lists:\n  - {{id: op, source: {path}, tier: operator, keys: [{pub.key}]}}\n"
    )
    listmanager.import_file(config.lists[0], ListStore(config.state_path), path)
    r = Resolver(config)
    ListWatcher(r, config.state_path).configure(config.state_path, config.lists, config.local)
    query = bytes(dnslib.DNSRecord.question("www.example.test", "A").pack())

    def answer() -> list[str]:
        result = r.answer_fast(query, "127.0.0.1", False)
        assert isinstance(result, bytes)
        return [str(rr.rdata) for rr in dnslib.DNSRecord.parse(result).rr]

    assert answer() == ["0.0.0.0"]
    expires = time.time() + 1.0
    r.set_operator_state(OperatorState(overrides=(Override("allow", "www.example.test",
                                                           expires),)))
    miss = r.answer_fast(query, "127.0.0.1", False)
    assert isinstance(miss, wire.Query)  # allowed now: it would go upstream
    upstream = dnslib.DNSRecord.parse(query).reply()
    upstream.add_answer(dnslib.RR("www.example.test", rdata=dnslib.A("192.0.2.10"), ttl=3600))
    r._store(miss, miss.question, wire.parse_answer(bytes(upstream.pack()), miss.qend))
    assert answer() == ["192.0.2.10"]  # a cache hit
    while time.time() < expires:
        time.sleep(0.05)
    assert answer() == ["0.0.0.0"]


def test_the_same_state_published_again_is_no_change(tmp_path: Path) -> None:
    """The store republishes every section when its control process starts (each SIGHUP):
    read again, the same content must not start a new policy generation, which would
    empty the answer cache and the stale answers serve-stale relies on."""
    from resolver.operator_state import OperatorReader

    def publish() -> None:
        publish_overrides(tmp_path, [PublishedOverride("deny", "a.example", None)])
        publish_pauses(tmp_path, [])
        publish_groups(tmp_path, [
            PublishedGroup("lab", ("127.0.0.8/29", "2001:db8::/64"), ("games",), False, ()),
            PublishedGroup("guests", ("aa:bb:cc:dd:ee:ff",), (), True, ()),
        ])

    publish()
    reader = OperatorReader(tmp_path)
    assert reader.refresh()
    first = reader.state
    time.sleep(0.01)  # a new mtime, as a republish a moment later has
    publish()
    assert not reader.refresh()
    assert reader.state == first
    publish_groups(tmp_path, [PublishedGroup("lab", ("127.0.0.16/29",), ("games",), False, ())])
    assert reader.refresh()
    assert reader.state.prefixes != first.prefixes
