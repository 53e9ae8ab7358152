"""Signed lists matched on every query, activated while serving, refused with reasons."""

from __future__ import annotations

import time
from pathlib import Path

import dns.edns
import dns.message
import dns.query
import dns.rcode
import pytest

from tests.listtools import Publisher, straja_cli
from tests.servers import QueryLoop


@pytest.fixture
def publisher(tmp_path: Path) -> Publisher:
    d = tmp_path / "pub"
    d.mkdir()
    return Publisher(d)


def _ede(r: dns.message.Message) -> list[tuple[int, str]]:
    return [(o.code, o.text or "") for o in r.options if isinstance(o, dns.edns.EDEOption)]


def _config(unbound, lists: list[dict], **extra) -> dict:
    return {"upstreams": [unbound.address], "lists": lists, **extra}


def _wait_for(predicate, timeout: float = 5.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.05)
    return predicate()


def _import(server, path: Path) -> str:
    run = straja_cli("lists", "import", str(path), "--config", str(server.config_path))
    return run.stdout + run.stderr


def test_blocked_names_get_sinkhole_nodata_and_ede_by_tier(
    straja_factory, unbound, publisher
) -> None:
    school = publisher.compile("school", ["games.example.test", "*.ads.example.test"], 1)
    hotline = publisher.compile("hotline", ["abuse.example.test"], 7, tier="mandatory", hashed=True)
    s = straja_factory(
        _config(
            unbound,
            [
                {
                    "id": "school",
                    "source": str(school),
                    "tier": "operator",
                    "keys": [publisher.key],
                },
                {
                    "id": "hotline",
                    "source": str(hotline),
                    "tier": "mandatory",
                    "keys": [publisher.key],
                },
            ],
        ),
        start=False,
    )
    s.write_config()
    for path in (school, hotline):
        assert "activated" in _import(s, path)
    s.start()
    a = s.query("www.games.example.test", "A", use_edns=0)
    assert [str(x) for x in a.answer[0]] == ["0.0.0.0"]
    assert _ede(a) == [(15, "school")]
    aaaa = s.query("games.example.test", "AAAA", use_edns=0)
    assert [str(x) for x in aaaa.answer[0]] == ["::"]
    mx = s.query("games.example.test", "MX", use_edns=0)
    assert mx.rcode() == dns.rcode.NOERROR and not mx.answer
    # "*.ads.example.test" blocks the subdomains only: the name itself goes upstream.
    assert s.query("ads.example.test", "A", use_edns=0).rcode() == dns.rcode.NXDOMAIN
    sub = s.query("x.ads.example.test", "A", use_edns=0)
    assert [str(x) for x in sub.answer[0]] == ["0.0.0.0"]
    m = s.query("abuse.example.test", "A", use_edns=0)
    assert _ede(m) == [(16, "hotline")]
    plain = dns.query.udp(
        dns.message.make_query("abuse.example.test", "A", use_edns=False),
        s.host,
        port=s.port,
        timeout=5,
    )
    assert plain.opt is None and [str(x) for x in plain.answer[0]] == ["0.0.0.0"]
    allowed = s.query("www.example.test", "A", use_edns=0)
    assert [str(x) for x in allowed.answer[0]] == ["192.0.2.10"]


def test_local_allow_beats_operator_lists_but_never_mandatory(
    straja_factory, unbound, publisher
) -> None:
    op = publisher.compile("op", ["www.example.test"], 1)
    mand = publisher.compile("law", ["mixed.example.test"], 1, tier="mandatory")
    s = straja_factory(
        _config(
            unbound,
            [
                {"id": "op", "source": str(op), "tier": "operator", "keys": [publisher.key]},
                {"id": "law", "source": str(mand), "tier": "mandatory", "keys": [publisher.key]},
            ],
            local={
                "allow": ["www.example.test", "mixed.example.test"],
                "deny": ["alias.example.test"],
            },
        ),
        start=False,
    )
    s.write_config()
    _import(s, op)
    _import(s, mand)
    s.start()
    assert [str(x) for x in s.query("www.example.test", "A", use_edns=0).answer[0]] == [
        "192.0.2.10"
    ]
    assert [str(x) for x in s.query("mixed.example.test", "A", use_edns=0).answer[0]] == ["0.0.0.0"]
    denied = s.query("alias.example.test", "A", use_edns=0)
    assert [str(x) for x in denied.answer[0]] == ["0.0.0.0"]
    assert _ede(denied) == [(15, "local-deny")]


def test_cname_targets_are_checked_too(straja_factory, unbound, publisher) -> None:
    lst = publisher.compile("trackers", ["www.example.test"], 1)
    s = straja_factory(
        _config(
            unbound,
            [
                {"id": "trackers", "source": str(lst), "tier": "operator", "keys": [publisher.key]},
            ],
            blocking={"action": "nxdomain"},
        ),
        start=False,
    )
    s.write_config()
    _import(s, lst)
    s.start()
    r = s.query("alias.example.test", "A", use_edns=0)  # alias.example.test CNAME www.example.test
    assert r.rcode() == dns.rcode.NXDOMAIN
    assert _ede(r) == [(15, "trackers")]


def test_import_while_serving_swaps_with_zero_failed_queries(
    straja_factory, unbound, publisher
) -> None:
    v1 = publisher.compile("school", ["games.example.test"], 1)
    v2 = publisher.compile("school", ["games.example.test", "www.example.test"], 2)
    s = straja_factory(
        _config(
            unbound,
            [
                {"id": "school", "source": str(v1), "tier": "operator", "keys": [publisher.key]},
            ],
        ),
        start=False,
    )
    s.write_config()
    _import(s, v1)
    s.start()
    assert [str(x) for x in s.query("www.example.test", "A", use_edns=0).answer[0]] == [
        "192.0.2.10"
    ]
    def unblocked(r: dns.message.Message) -> bool:
        return not r.answer or str(r.answer[0][0]) != "0.0.0.0"

    with QueryLoop(s, "games.example.test", unblocked) as loop:
        started = time.monotonic()
        assert "serial 2 activated" in _import(s, v2)
        swapped = _wait_for(
            lambda: str(s.query("www.example.test", "A", use_edns=0).answer[0][0]) == "0.0.0.0", 2.5
        )
        took = time.monotonic() - started
    failures, answered = loop.failures, loop.answered
    assert swapped, f"not active after {took:.1f}s"
    assert answered > 20 and failures == []
    # The last-known-good is used at restart.
    s.stop()
    s.start()
    assert str(s.query("www.example.test", "A", use_edns=0).answer[0][0]) == "0.0.0.0"


def _poll(predicate, timeout: float = 60.0) -> bool:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.5)
    return True


def _status(server) -> str:
    run = straja_cli("lists", "status", "--config", str(server.config_path))
    return run.stdout


def test_every_refusal_reason_keeps_the_active_version(
    straja_factory, unbound, publisher, tmp_path: Path
) -> None:
    good = publisher.compile("school", ["games.example.test"], 5)
    s = straja_factory(
        _config(
            unbound,
            [
                {"id": "school", "source": str(good), "tier": "operator", "keys": [publisher.key]},
            ],
        ),
        start=False,
    )
    s.write_config()
    assert "activated" in _import(s, good)
    s.start()

    def refused(path: Path, reason: str) -> None:
        run = straja_cli(
            "lists", "import", str(path), "--list", "school", "--config", str(s.config_path)
        )
        out = run.stdout + run.stderr
        assert "REFUSED" in out and reason in out, out
        assert reason in _status(s)
        r = s.query("games.example.test", "A", use_edns=0)
        assert str(r.answer[0][0]) == "0.0.0.0"

    unsigned = publisher.compile("school", ["x.test"], 6, filename="unsigned.sl", sign=False)
    refused(unsigned, "missing signature")
    stranger = Publisher(tmp_path, "stranger")
    foreign = stranger.compile("school", ["x.test"], 6, filename="foreign.sl")
    refused(foreign, "unknown key")
    tampered = publisher.compile("school", ["x.test"], 6, filename="tampered.sl")
    data = bytearray(tampered.read_bytes())
    data[-1] ^= 0xFF
    tampered.write_bytes(bytes(data))
    refused(tampered, "bad signature")
    truncated_dir = tmp_path / "trunc"
    truncated_dir.mkdir()
    truncated = truncated_dir / "school.sl"
    truncated.write_bytes(good.read_bytes()[:100])
    publisher.sign(truncated, "list=school serial=9")
    refused(truncated, "truncated or corrupt")
    other = publisher.compile("other", ["x.test"], 6)
    refused(other, "id mismatch")
    rollback = publisher.compile("school", ["x.test"], 4, filename="rollback.sl")
    refused(rollback, "rollback")
    same = publisher.compile("school", ["other.test"], 5, filename="same.sl")
    refused(same, "equals the active one but the content differs")
    expired = publisher.compile(
        "school",
        ["x.test"],
        8,
        filename="expired.sl",
        issued=int(time.time()) - 7200,
        expires=int(time.time()) - 3600,
    )
    refused(expired, "already expired")
    assert "refused     8 time(s)" in _status(s)


def test_mandatory_list_missing_at_start_serves_and_reports(
    straja_factory, unbound, publisher
) -> None:
    s = straja_factory(
        _config(
            unbound,
            [
                {
                    "id": "hotline",
                    "source": "/nonexistent/hotline.sl",
                    "tier": "mandatory",
                    "keys": [publisher.key],
                },
            ],
        )
    )
    assert s.query("www.example.test", "A", use_edns=0).rcode() == dns.rcode.NOERROR
    assert "MANDATORY LIST hotline HAS NO ACTIVE VERSION" in s.read_log()
    run = straja_cli("lists", "status", "--config", str(s.config_path))
    assert run.returncode == 2 and "NOT ENFORCED" in run.stdout


def test_expired_active_list_is_still_enforced_and_flagged(
    straja_factory, unbound, publisher
) -> None:
    # The list must arrive before it expires: a slow machine (qemu) gets a longer margin,
    # chosen by the import's outcome rather than by a guess at how long it takes.
    for margin in (6, 30, 120):
        soon = int(time.time()) + margin
        lst = publisher.compile("school", ["games.example.test"], margin, expires=soon)
        s = straja_factory(
            _config(
                unbound,
                [
                    {"id": "school", "source": str(lst), "tier": "operator",
                     "keys": [publisher.key]},
                ],
            ),
            start=False,
        )
        s.write_config()
        imported = _import(s, lst)
        if "activated" in imported:
            break
        assert "already expired" in imported, imported
    else:
        raise AssertionError("the list expired before it could be imported, three times")
    s.start()
    time.sleep(max(0.0, soon - time.time()) + 0.5)
    assert _poll(lambda: "STALE" in _status(s)), _status(s)
    assert str(s.query("games.example.test", "A", use_edns=0).answer[0][0]) == "0.0.0.0"


def test_signed_source_list_is_compiled_and_activated_by_update(
    straja_factory, unbound, publisher, tmp_path: Path
) -> None:
    source = tmp_path / "family.txt"
    source.write_text(
        "# family filter\n||games.example.test^\n@@||ok.games.example.test^\nbad..name\n"
    )
    publisher.sign(source, "list=family serial=3")
    unsigned = tmp_path / "mine.hosts"
    unsigned.write_text("0.0.0.0 mixed.example.test\n")
    s = straja_factory(
        _config(
            unbound,
            [
                {
                    "id": "family",
                    "source": str(source),
                    "format": "adblock",
                    "tier": "family",
                    "keys": [publisher.key],
                },
                {
                    "id": "mine",
                    "source": str(unsigned),
                    "format": "hosts",
                    "tier": "operator",
                    "signed": False,
                },
            ],
        )
    )
    run = straja_cli("lists", "update", "--config", str(s.config_path))
    assert run.returncode == 0, run.stderr
    # The daemon's own first refresh may have activated it a moment before the CLI did.
    assert ("family: serial 3 activated" in run.stdout
            or "family: serial 3 is already active" in run.stdout), run.stdout + run.stderr
    assert "mine: serial" in run.stdout, run.stdout + run.stderr
    assert _wait_for(
        lambda: (
            s.query("x.games.example.test", "A", use_edns=0).answer
            and str(s.query("x.games.example.test", "A", use_edns=0).answer[0][0]) == "0.0.0.0"
        )
    )
    r = s.query("games.example.test", "A", use_edns=0)
    assert _ede(r) == [(17, "family")]
    assert (
        s.query("ok.games.example.test", "A", use_edns=0).rcode() == dns.rcode.NXDOMAIN
    )  # upstream's
    assert _wait_for(lambda: str(s.query("mixed.example.test", "A").answer[0][0]) == "0.0.0.0")


def test_signed_source_without_trusted_comment_is_refused(
    straja_factory, unbound, publisher, tmp_path: Path
) -> None:
    source = tmp_path / "family.txt"
    source.write_text("games.example.test\n")
    publisher.sign(source, "just a comment")
    s = straja_factory(
        _config(
            unbound,
            [
                {
                    "id": "family",
                    "source": str(source),
                    "format": "domains",
                    "tier": "family",
                    "keys": [publisher.key],
                },
            ],
        ),
        start=False,
    )
    s.write_config()
    run = straja_cli("lists", "update", "--config", str(s.config_path))
    assert run.returncode == 1 and "list=ID serial=N" in run.stderr


def test_check_explains_the_decision(straja_factory, unbound, publisher) -> None:
    hot = publisher.compile("hotline", ["abuse.example.test"], 2, tier="mandatory", hashed=True)
    op = publisher.compile("school", ["games.example.test"], 1)
    s = straja_factory(
        _config(
            unbound,
            [
                {"id": "hotline", "source": str(hot), "tier": "mandatory", "keys": [publisher.key]},
                {"id": "school", "source": str(op), "tier": "operator", "keys": [publisher.key]},
            ],
        ),
        start=False,
    )
    s.write_config()
    _import(s, hot)
    _import(s, op)
    run = straja_cli("check", "www.abuse.example.test", "--config", str(s.config_path))
    assert run.returncode == 3
    assert "hotline [mandatory, serial 2]: blocks, entry hashed entry" in run.stdout
    assert "blocked by hotline (mandatory tier)" in run.stdout and "EDE 16" in run.stdout
    run = straja_cli("check", "Games.Example.Test.", "--config", str(s.config_path))
    assert "school [operator, serial 1]: blocks, entry games.example.test" in run.stdout
    run = straja_cli("check", "www.example.test", "--config", str(s.config_path))
    assert run.returncode == 0 and "allowed" in run.stdout


def test_expiry_is_not_judged_while_the_clock_is_unset(tmp_path: Path, publisher) -> None:
    from blocklists.spec import ListSpec
    from blocklists.store import RELEASE_TIME, ListStore

    issued = RELEASE_TIME + 86400
    lst = publisher.compile("school", ["games.example.test"], 1, issued=issued,
                            expires=issued + 3600)
    spec = ListSpec(id="school", source=str(lst), tier="operator", keys=[publisher.key])
    store = ListStore(tmp_path / "state")
    sig = (lst.parent / (lst.name + ".minisig")).read_text()
    # A board without an RTC boots in 1970: the list is not "expired", it is activated.
    booted = store.activate(spec, lst, sig, now=86400.0)
    assert booted.changed
    # With a sane clock after its expiry, the same file would have been refused.
    store2 = ListStore(tmp_path / "state2")
    with pytest.raises(Exception, match="already expired"):
        store2.activate(spec, lst, sig, now=issued + 7200.0)


def test_https_record_targets_are_checked(straja_factory, unbound, publisher) -> None:
    lst = publisher.compile("trackers", ["tracker.example.test"], 1)
    s = straja_factory(_config(unbound, [
        {"id": "trackers", "source": str(lst), "tier": "operator", "keys": [publisher.key]},
    ]), start=False)
    s.write_config()
    _import(s, lst)
    s.start()
    r = s.query("svc.example.test", "HTTPS", use_edns=0)
    assert _ede(r) == [(15, "trackers")] and not r.answer
