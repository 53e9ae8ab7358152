"""Who is filtered how: groups, schedules, forwarded identity, safe search, bypass canaries."""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path

import dns.edns
import dns.message
import dns.query
import dns.rcode
import pytest

from resolver.groups import ScheduleSettings
from tests.listtools import Publisher, straja_cli


def _ids(r: dns.message.Message) -> list[tuple[int, str]]:
    return [(o.code, o.text or "") for o in r.options if isinstance(o, dns.edns.EDEOption)]


def _a(r: dns.message.Message) -> list[str]:
    return [str(x) for rrset in r.answer for x in rrset if rrset.rdtype == 1]


@pytest.fixture
def lists(tmp_path: Path):  # type: ignore[no-untyped-def]
    d = tmp_path / "pub"
    d.mkdir()
    pub = Publisher(d)
    files = {
        "games": pub.compile("games", ["games.example.test"], 1),
        "social": pub.compile("social", ["social.example.test"], 1),
        "adult": pub.compile("adult", ["adult.example.test"], 1, tier="family"),
        "law": pub.compile("law", ["abuse.example.test"], 1, tier="mandatory"),
    }
    tiers = {"games": "operator", "social": "operator", "adult": "family", "law": "mandatory"}
    specs = [{"id": i, "source": str(p), "tier": tiers[i], "keys": [pub.key]}
             for i, p in files.items()]
    return specs, files


def _start(straja_factory, unbound, specs, files, **extra):  # type: ignore[no-untyped-def]
    s = straja_factory({"upstreams": [unbound.address], "lists": specs, **extra}, start=False)
    s.write_config()
    for path in files.values():
        run = straja_cli("lists", "import", str(path), "--config", str(s.config_path))
        assert run.returncode == 0, run.stderr
    return s.start()


def _window(open_now: bool) -> dict:
    """A schedule window that is open (or closed) for the next hour or so, today."""
    now = datetime.now().astimezone()
    day = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"][now.weekday()]
    if open_now:
        start, end = now - timedelta(minutes=90), now + timedelta(minutes=90)
    else:
        start, end = now + timedelta(minutes=90), now + timedelta(minutes=180)
    if start.date() != now.date() or end.date() != now.date():
        # Near midnight: an overnight window that is open (or closed) now.
        if open_now:
            return {"days": [day, ["mon", "tue", "wed", "thu", "fri", "sat", "sun"][
                (now.weekday() - 1) % 7]], "from": "22:00", "to": "03:00"}
        return {"days": [day], "from": "12:00", "to": "13:00"}
    return {"days": [day], "from": start.strftime("%H:%M"), "to": end.strftime("%H:%M")}


def test_groups_by_longest_prefix_with_schedules(straja_factory, unbound, lists) -> None:
    specs, files = lists
    s = _start(straja_factory, unbound, specs, files, groups=[
        {"name": "students", "clients": ["127.0.0.0/8"], "lists": ["adult"],
         "schedules": [dict(_window(True), lists=["social"])]},
        {"name": "staff", "clients": ["127.0.0.20/32"], "lists": [],
         "schedules": [dict(_window(False), lists=["games"])]},
        {"name": "guests", "clients": ["127.0.0.30/32"], "lists": ["games"], "action": "nxdomain"},
    ])

    def ask(name: str, source: str) -> dns.message.Message:
        q = dns.message.make_query(name, "A", use_edns=0)
        return dns.query.udp(q, s.host, port=s.port, timeout=5, source=source)

    # students (the /8): their own list and the open window's list; not the guests' list
    assert _a(ask("adult.example.test", "127.0.0.10")) == ["0.0.0.0"]
    assert _ids(ask("social.example.test", "127.0.0.10")) == [(15, "social")]
    assert ask("games.example.test", "127.0.0.10").rcode() == dns.rcode.NXDOMAIN  # upstream's
    # staff (a /32 inside the /8 wins): the window is closed, so games are allowed
    assert ask("games.example.test", "127.0.0.20").rcode() == dns.rcode.NXDOMAIN
    assert ask("adult.example.test", "127.0.0.20").rcode() == dns.rcode.NXDOMAIN
    # guests: the group's action
    guests = ask("games.example.test", "127.0.0.30")
    assert guests.rcode() == dns.rcode.NXDOMAIN and _ids(guests) == [(15, "games")]
    # the mandatory list applies to everyone, in every group
    for source in ("127.0.0.10", "127.0.0.20", "127.0.0.30"):
        assert _ids(ask("abuse.example.test", source)) == [(16, "law")]


def test_client_in_no_group_gets_default_or_only_mandatory(straja_factory, unbound,
                                                          lists) -> None:
    specs, files = lists
    s = _start(straja_factory, unbound, specs, files, groups=[
        {"name": "kids", "clients": ["127.0.0.40/32"], "lists": ["games"]},
    ], local={"deny": ["mixed.example.test"]})
    r = s.query("games.example.test", "A", use_edns=0)  # from 127.0.0.1: no group
    assert r.rcode() == dns.rcode.NXDOMAIN and not _ids(r)
    assert _ids(s.query("abuse.example.test", "A", use_edns=0)) == [(16, "law")]
    assert _ids(s.query("mixed.example.test", "A", use_edns=0)) == [(15, "local-deny")]
    config = dict(s.config)
    config["groups"] = config["groups"] + [{"name": "default", "lists": ["social"]}]
    s.write_config(config)
    import signal
    import time

    s.signal(signal.SIGHUP)
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        if _ids(s.query("social.example.test", "A", use_edns=0)) == [(15, "social")]:
            break
        time.sleep(0.1)
    assert _ids(s.query("social.example.test", "A", use_edns=0)) == [(15, "social")]


def _mac_option(mac: str) -> dns.edns.GenericOption:
    return dns.edns.GenericOption(65001, bytes.fromhex(mac.replace(":", "")))


def test_identity_from_a_trusted_forwarder_only(straja_factory, unbound, lists) -> None:
    specs, files = lists
    s = _start(straja_factory, unbound, specs, files,
               access={"allow": ["127.0.0.0/8"], "trusted_forwarders": ["127.0.0.1/32"]},
               groups=[
                   {"name": "kid-phone", "clients": ["aa:bb:cc:dd:ee:ff"], "lists": ["games"]},
                   {"name": "lab", "clients": ["10.1.2.0/24"], "lists": ["social"]},
               ])

    def ask(name: str, source: str, options: list) -> dns.message.Message:
        q = dns.message.make_query(name, "A", use_edns=0, options=options)
        return dns.query.udp(q, s.host, port=s.port, timeout=5, source=source)

    mac = [_mac_option("aa:bb:cc:dd:ee:ff")]
    ecs = [dns.edns.ECSOption("10.1.2.33", 24)]
    assert _ids(ask("games.example.test", "127.0.0.1", mac)) == [(15, "games")]
    assert _ids(ask("social.example.test", "127.0.0.1", ecs)) == [(15, "social")]
    # The same options from an untrusted address change nothing.
    assert not _ids(ask("games.example.test", "127.0.0.2", mac))
    assert not _ids(ask("social.example.test", "127.0.0.2", ecs))
    # And the options never travel upstream (upstream answers are unaffected).
    assert _a(ask("www.example.test", "127.0.0.1", mac)) == ["192.0.2.10"]


def test_safe_search_answers_cname_and_addresses(straja_factory, unbound, lists) -> None:
    specs, files = lists
    s = _start(straja_factory, unbound, specs, files, groups=[
        {"name": "default", "safe_search": {"google": True, "bing": True, "duckduckgo": True,
                                             "youtube": "moderate"}},
        {"name": "strict", "clients": ["127.0.0.50/32"], "safe_search": "strict"},
    ])
    r = s.query("www.google.com", "A")
    assert r.answer[0].rdtype == 5 and str(r.answer[0][0]) == "forcesafesearch.google.com."
    assert _a(r) == ["216.239.38.120"]
    assert _a(s.query("www.bing.com", "A")) == ["204.79.197.220"]
    assert _a(s.query("duckduckgo.com", "A")) == ["52.142.124.215"]
    assert _a(s.query("www.youtube.com", "A")) == ["216.239.38.120"]  # moderate
    q = dns.message.make_query("www.youtube.com", "A")
    strict = dns.query.udp(q, s.host, port=s.port, timeout=5, source="127.0.0.50")
    assert _a(strict) == ["216.239.38.119"]
    six = s.query("WWW.Google.COM", "AAAA")
    assert six.answer[0].name.to_text() == "WWW.Google.COM."
    assert [str(x) for x in six.answer[1]] == ["2001:4860:4802:32::78"]


def test_encrypted_dns_canaries_get_nxdomain(straja) -> None:
    for name in ("use-application-dns.net", "mask.icloud.com", "mask-h2.icloud.com"):
        assert straja.query(name, "A").rcode() == dns.rcode.NXDOMAIN


@pytest.mark.parametrize(
    ("window", "at", "expected"),
    [
        (("mon", "08:00", "14:00"), "2026-11-23 08:00", True),  # a Monday
        (("mon", "08:00", "14:00"), "2026-11-23 14:00", False),
        (("mon", "08:00", "14:00"), "2026-11-24 09:00", False),  # Tuesday
        (("mon", "22:00", "07:00"), "2026-11-23 23:30", True),  # overnight, evening
        (("mon", "22:00", "07:00"), "2026-11-24 06:59", True),  # overnight, next morning
        (("mon", "22:00", "07:00"), "2026-11-24 07:00", False),
        (("mon", "22:00", "07:00"), "2026-11-23 06:00", False),  # Monday morning: Sunday's
        (("sun", "22:00", "07:00"), "2026-11-23 06:00", True),
        (("sat", "00:00", "24:00"), "2026-11-28 23:59", True),
    ],
)
def test_schedule_windows(window: tuple[str, str, str], at: str, expected: bool) -> None:
    day, start, end = window
    s = ScheduleSettings(days=[day], start=start, end=end, lists=["x"])
    assert s.is_open(datetime.fromisoformat(at)) is expected


def test_cached_decisions_do_not_cross_a_window_boundary(tmp_path: Path, monkeypatch) -> None:
    import datetime as dt

    import dnslib

    import resolver.core
    from admin import listmanager
    from admin.config import load_config_text
    from blocklists.store import ListStore
    from resolver.core import Resolver
    from resolver.lists import ListWatcher
    from resolver.wire import Query

    pub = Publisher(tmp_path)
    path = pub.compile("games", ["games.example.test"], 1)
    config = load_config_text(
        f"upstreams: [127.0.0.1]\nstate_dir: {tmp_path}/state\ntimezone: UTC\n"
        f"lists:\n  - {{id: games, source: {path}, tier: operator, keys: [{pub.key}]}}\n"
        "groups:\n  - name: default\n    schedules:\n"
        "      - {days: [mon], from: '08:00', to: '09:00', lists: [games]}\n"
    )
    listmanager.import_file(config.lists[0], ListStore(config.state_path), path)
    clock = [dt.datetime(2026, 11, 23, 8, 59, 30, tzinfo=dt.UTC)]  # a Monday
    monkeypatch.setattr(resolver.core, "local_now", lambda tz: clock[0])
    r = Resolver(config)
    ListWatcher(r, config.state_path).configure(config.state_path, config.lists, config.local)
    packet = bytes(dnslib.DNSRecord.question("games.example.test").pack())
    blocked = r.answer_fast(packet, "127.0.0.1", False)
    assert isinstance(blocked, bytes) and b"\x00\x00\x00\x00" in blocked[-4:]
    assert r.answer_fast(packet, "127.0.0.1", False) == blocked  # from the cache
    clock[0] = dt.datetime(2026, 11, 23, 9, 0, 0, tzinfo=dt.UTC)
    r.schedule_deadline = r.fast_until = 0  # the monotonic clock reached the boundary
    after = r.answer_fast(packet, "127.0.0.1", False)
    assert isinstance(after, Query)  # the window closed: forwarded, not the cached block
    assert len(r.cache) == 0  # and the block, which nothing can hit now, is out of memory


def test_check_explains_group_window_list_tier_and_action(straja_factory, unbound,
                                                         lists) -> None:
    specs, files = lists
    specs[0]["action"] = "nodata"  # games
    s = straja_factory({
        "upstreams": [unbound.address], "lists": specs, "timezone": "Europe/Chisinau",
        "groups": [
            {"name": "students", "clients": ["10.0.1.0/24", "aa:bb:cc:dd:ee:01"],
             "lists": ["adult"], "action": "nxdomain",
             "schedules": [{"days": ["mon"], "from": "22:00", "to": "07:00",
                            "lists": ["games", "social"]}]},
        ],
    }, start=False)
    s.write_config()
    for path in files.values():
        straja_cli("lists", "import", str(path), "--config", str(s.config_path))

    def check(*args: str) -> tuple[int, str]:
        run = straja_cli("check", *args, "--config", str(s.config_path))
        return run.returncode, run.stdout + run.stderr

    code, out = check("social.example.test", "--client", "10.0.1.7", "--at", "2026-11-24T06:30")
    assert code == 3, out
    assert "group students" in out and "open window: mon 22:00-07:00" in out
    assert "blocked by social (operator tier): NXDOMAIN (action from group)" in out
    code, out = check("games.example.test", "--client", "AA:BB:CC:DD:EE:01",
                      "--at", "2026-11-23T23:00")
    assert "blocked by games (operator tier): NODATA" in out and "action from list" in out
    code, out = check("games.example.test", "--client", "10.0.1.7", "--at", "2026-11-24T07:00")
    assert code == 0 and "allowed" in out and "open window" not in out
    code, out = check("abuse.example.test", "--client", "192.0.2.1")
    assert code == 3 and "group (no group)" in out and "blocked by law (mandatory tier)" in out
    code, out = check("use-application-dns.net")
    assert code == 3 and "encrypted-DNS canary" in out
    code, out = check("x.test", "--at", "yesterday")
    assert code == 1 and "--at" in out


def test_selftest_resolves_canaries_through_the_running_server(straja_factory, unbound,
                                                              tmp_path: Path) -> None:
    d = tmp_path / "p2"
    d.mkdir()
    pub = Publisher(d)
    hot = pub.compile("hotline", ["abuse.example.test"], 3, tier="mandatory", hashed=True,
                      canaries=("canary.hotline.example.test",))
    fam = pub.compile("family", ["adult.example.test"], 1, tier="family",
                      canaries=("canary.family.example.test",))
    specs = [
        {"id": "hotline", "source": str(hot), "tier": "mandatory", "keys": [pub.key]},
        {"id": "family", "source": str(fam), "tier": "family", "keys": [pub.key]},
        {"id": "missing", "source": "/nowhere.sl", "tier": "mandatory", "keys": [pub.key]},
    ]
    s = straja_factory({"upstreams": [unbound.address], "lists": specs, "groups": [
        {"name": "kids", "clients": ["10.9.0.0/16"], "lists": ["family"]}]}, start=False)
    s.write_config()
    for path in (hot, fam):
        straja_cli("lists", "import", str(path), "--config", str(s.config_path))
    s.start()
    run = straja_cli("selftest", "--config", str(s.config_path))
    out = run.stdout
    assert "PASS  hotline [mandatory] serial 3: 1 canary name(s) blocked" in out, out
    assert "SKIP  family [family]: not applied to this machine's group" in out
    assert "FAIL  missing [mandatory]: no active version" in out
    assert run.returncode == 1
    s.stop()
    down = straja_cli("selftest", "--config", str(s.config_path), "--timeout", "0.3")
    assert down.returncode == 2 and "does not answer" in down.stderr


def test_builtin_doh_resolver_list_blocks_bypass_hosts(straja_factory, unbound) -> None:
    s = straja_factory({"upstreams": [unbound.address], "lists": [
        {"id": "doh-bypass", "source": "builtin:doh-resolvers", "format": "domains",
         "tier": "operator", "signed": False}]})
    run = straja_cli("lists", "update", "--config", str(s.config_path))
    assert run.returncode == 0, run.stderr
    import time

    deadline = time.monotonic() + 5
    while time.monotonic() < deadline and not _ids(s.query("dns.google", "A", use_edns=0)):
        time.sleep(0.1)
    assert _ids(s.query("dns.google", "A", use_edns=0)) == [(15, "doh-bypass")]
    assert _ids(s.query("mozilla.cloudflare-dns.com", "AAAA", use_edns=0)) == [(15, "doh-bypass")]
