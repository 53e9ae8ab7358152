"""The admin UI in a real headless Chromium against a real `straja serve` (workers: 1, so
the UI shares the DNS process) forwarding to a loopback Unbound, with a signed mandatory
list and a signed operator list. What the browser does is checked in dig's answers."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import pytest

from tests.admintools import (
    AdminClient,
    add_user,
    admin_base,
    wait_admin,
)
from tests.browser import screenshot
from tests.listtools import Publisher
from tests.servers import Straja, Unbound, run_dig

PASSWORD = "correct horse battery staple"
VIEWER_PASSWORD = "pupil's own long password"
SINKHOLE = "0.0.0.0"


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def server(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory,
           unbound: Unbound) -> Iterator[Straja]:
    """The same UI suite on the embedded SQLite store and on a real PostgreSQL."""
    admin: dict[str, object] = {}
    if request.param == "postgresql":
        admin["database"] = request.getfixturevalue("pg_server").new_database()
    workdir = tmp_path_factory.mktemp("ui")
    publisher = Publisher(workdir)
    law = publisher.compile("law", ["mixed.example.test"], 3, tier="mandatory",
                            canaries=("mixed.example.test",))
    school = publisher.compile("school", ["www.example.test", "short.example.test",
                                          "medium.example.test"], 5, tier="operator")
    s = Straja(workdir, {
        "upstreams": [unbound.address],
        "dns": {"workers": 1},
        "lists": [
            {"id": "law", "source": str(law), "tier": "mandatory", "keys": [publisher.key]},
            {"id": "school", "source": str(school), "tier": "operator",
             "keys": [publisher.key]},
        ],
        "local": {"allow": ["docs.example.test"], "deny": ["alias.example.test"]},
        "admin": admin,
    })
    s.start()
    try:
        wait_admin(s)
        AdminClient(admin_base(s)).setup(str(s.config["state_dir"]), "teacher", PASSWORD)
        add_user(s, "pupil", VIEWER_PASSWORD, "viewer")
        yield s
    finally:
        s.stop()


def dig_a(server: Straja, name: str) -> list[str]:
    out = run_dig(f"@{server.host}", "-p", str(server.port), name, "A", "+short", "+tries=1",
                  "+time=3")
    return [line for line in out.split() if line]


def wait_for(predicate: Any, timeout: float) -> float | None:
    """Seconds until `predicate()` held, polling; None when it never did."""
    start = time.monotonic()
    while time.monotonic() - start < timeout:
        if predicate():
            return time.monotonic() - start
        time.sleep(0.1)
    return None


def sign_in(tab: Any, server: Straja, name: str = "teacher", password: str = PASSWORD) -> None:
    tab.goto(admin_base(server) + "/login")
    tab.get_by_label("User name").fill(name)
    tab.get_by_label("Password").fill(password)
    tab.get_by_role("button", name="Sign in").click()
    tab.wait_for_url(admin_base(server) + "/")


def figure(tab: Any, key: str) -> int:
    return int(tab.locator(f'[data-k="{key}"]').inner_text().strip())


def test_the_dashboard_numbers_move_after_dig_queries(page: Any, server: Straja) -> None:
    sign_in(page, server)
    before = figure(page, "queries")
    for _ in range(12):
        assert dig_a(server, "www.example.test") == [SINKHOLE]
        assert dig_a(server, "mixed.example.test") == [SINKHOLE]
    # The page is not reloaded: its script polls /api/v1/dashboard and redraws.
    assert wait_for(lambda: figure(page, "queries") >= before + 24, 30) is not None
    assert page.locator('[data-k="share_mandatory"]').inner_text() != "0.0 %"
    hits = page.locator('[data-k="hits_per_list"]').inner_text()
    assert "law" in hits and "school" in hits
    assert page.console_errors == []  # nothing the CSP refused, no script error
    screenshot(page, "dashboard")


def test_an_allow_override_changes_digs_answer_at_once(page: Any, server: Straja) -> None:
    assert dig_a(server, "www.example.test") == [SINKHOLE]
    sign_in(page, server)
    page.goto(admin_base(server) + "/overrides")
    page.get_by_label("Kind").select_option("allow")
    page.get_by_label("Name", exact=True).fill("www.example.test")
    page.get_by_label("Comment").fill("the school's own site")
    page.get_by_role("button", name="Add").click()
    page.get_by_role("status").filter(has_text="Saved.").wait_for()
    took = wait_for(lambda: dig_a(server, "www.example.test") == ["192.0.2.10"], 10)
    assert took is not None, "the override never reached the resolver"
    print(f"allow override reached dig's answer after {took:.2f} s")
    assert "www.example.test" in page.locator("table").first.inner_text()
    page.goto(admin_base(server) + "/audit")
    assert "override" in page.locator("table").inner_text()
    page.goto(admin_base(server) + "/overrides")
    page.get_by_role("button", name="Remove: www.example.test").click()
    assert wait_for(lambda: dig_a(server, "www.example.test") == [SINKHOLE], 10) is not None


def test_an_allow_for_a_mandatory_listed_name_is_refused(page: Any, server: Straja) -> None:
    sign_in(page, server)
    page.goto(admin_base(server) + "/overrides")
    page.get_by_label("Kind").select_option("allow")
    page.get_by_label("Name", exact=True).fill("mixed.example.test")
    page.get_by_role("button", name="Add").click()
    error = page.locator(".field-error, .alert").first
    error.wait_for()
    assert "law" in error.inner_text() and "mandatory" in error.inner_text()
    assert "mixed.example.test" not in page.locator("table").first.inner_text()
    assert dig_a(server, "mixed.example.test") == [SINKHOLE]


def test_a_pause_shows_up_in_digs_answers_then_ends(page: Any, server: Straja) -> None:
    assert dig_a(server, "short.example.test") == [SINKHOLE]
    sign_in(page, server)
    page.goto(admin_base(server) + "/groups")
    page.get_by_label("Name", exact=True).first.select_option("")  # all groups
    page.get_by_role("button", name="for 5 min").click()
    page.get_by_role("status").filter(has_text="Saved.").wait_for()
    assert "Paused until" in page.locator('[data-k="pauses"]').inner_text()
    assert wait_for(lambda: dig_a(server, "short.example.test") == ["192.0.2.11"], 10)
    assert dig_a(server, "mixed.example.test") == [SINKHOLE]  # mandatory: never paused
    page.get_by_role("button", name="Resume now").click()
    assert wait_for(lambda: dig_a(server, "short.example.test") == [SINKHOLE], 10)
    page.goto(admin_base(server) + "/audit")
    audit = page.locator("table").inner_text()
    assert "pause" in audit and "teacher" in audit


def test_a_viewer_cannot_change_anything(page: Any, server: Straja) -> None:
    sign_in(page, server, "pupil", VIEWER_PASSWORD)
    for path in ("/overrides", "/groups", "/lists", "/health", "/reports"):
        page.goto(admin_base(server) + path)
        assert page.locator("main form[method=post]").count() == 0, path
        assert "read-only access" in page.locator("main").inner_text(), path
    csrf = page.locator('input[name="csrf"]').first.get_attribute("value")
    reply = page.request.post(admin_base(server) + "/overrides/add",
                              form={"csrf": csrf, "kind": "allow", "name": "www.example.test"},
                              max_redirects=0)
    assert reply.status == 403
    reply = page.request.post(admin_base(server) + "/api/v1/groups/pause",
                              data={"minutes": 5}, headers={"X-CSRF-Token": csrf})
    assert reply.status == 403 and "read-only" in reply.json()["error"]["message"]
    assert dig_a(server, "www.example.test") == [SINKHOLE]


def test_a_post_without_its_csrf_token_fails(page: Any, server: Straja) -> None:
    sign_in(page, server)
    page.goto(admin_base(server) + "/overrides")
    page.locator('form[action="/overrides/add"] input[name="csrf"]').evaluate(
        "el => el.remove()")
    page.get_by_label("Kind").select_option("deny")
    page.get_by_label("Name", exact=True).fill("docs.example.test")
    with page.expect_response(lambda r: r.url.endswith("/overrides/add")) as response:
        page.get_by_role("button", name="Add").click()
    assert response.value.status == 403
    assert "CSRF" in page.locator("main").inner_text()
    listed = page.request.get(admin_base(server) + "/api/v1/overrides").json()
    assert all(o["name"] != "docs.example.test" for o in listed["overrides"])


@pytest.mark.parametrize("lang,dashboard,lists", [("ro", "Panou", "Liste"),
                                                   ("ru", "Обзор", "Списки")])
def test_the_pages_in_romanian_and_russian(page: Any, server: Straja, lang: str,
                                           dashboard: str, lists: str) -> None:
    sign_in(page, server)
    page.get_by_label("Language").select_option(lang)  # the switch submits itself
    page.wait_for_url(f"**lang={lang}")
    assert page.locator("html").get_attribute("lang") == lang
    assert page.locator("h1").inner_text() == dashboard
    screenshot(page, f"dashboard-{lang}")
    for path in ("/health", "/lists", "/check?name=www.example.test", "/overrides", "/groups",
                 "/reports", "/audit", "/querylog", "/transparency"):
        response = page.goto(admin_base(server) + path)  # the cookie keeps the language
        assert response.status == 200, path
        assert page.locator("html").get_attribute("lang") == lang, path
    assert page.get_by_role("link", name=lists).count() == 1
    assert page.console_errors == []


def test_check_a_name_and_search_the_lists(page: Any, server: Straja) -> None:
    sign_in(page, server)
    page.goto(admin_base(server) + "/check")
    page.get_by_label("Name").fill("www.example.test")
    page.get_by_role("button", name="Check").click()
    result = page.locator('[data-k="check_result"]').inner_text()
    assert "blocked by school" in result and "blocks, entry www.example.test" in result
    page.goto(admin_base(server) + "/lists")
    page.get_by_label("Name").fill("www.example.test")
    page.get_by_role("button", name="Search").click()
    found = page.locator('[data-k="search_results"]').inner_text()
    assert "school: entry www.example.test" in found
    table = page.locator("table").inner_text()
    assert "law" in table and "verified" in table


def test_the_health_panel_runs_the_selftest(page: Any, server: Straja) -> None:
    sign_in(page, server)
    page.goto(admin_base(server) + "/health")
    assert "Every mandatory list is active and current." in page.locator("main").inner_text()
    page.get_by_role("button", name="Run the self-test").click()
    page.get_by_role("status").filter(has_text="Saved.").wait_for(timeout=90_000)
    text = page.locator("main").inner_text()
    assert "PASS  law" in text and "exit code 0" in text
    screenshot(page, "health")

