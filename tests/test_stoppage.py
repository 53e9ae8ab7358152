"""The STOP page: a real aiohttp server on loopback, real HTTP requests, real report files."""

from __future__ import annotations

import asyncio
import http.client
import json
import logging
import os
import re
import shutil
import socket
import stat
import subprocess
import sys
import threading
import time
import urllib.parse
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any, TypeVar

import pytest
import yaml
from click.testing import CliRunner

from admin.commands.reports import reports as reports_cli
from admin.config import ConfigError, _Builder
from resolver.settings import HostPort
from resolver.stoppage import BlockInfo, ReportStore, StopPageSettings
from resolver.stoppage.server import StopPage
from resolver.stoppage.texts import DEPLOYMENTS, LANGUAGES, TEXTS, pick_language
from tests.servers import REPO

T = TypeVar("T")

# The fake policy: what the worker's live policy would say for these names.
BLOCKED = {
    "csam.example": BlockInfo("hotline-csam", "mandatory"),
    "games.example": BlockInfo("school-rules", "operator", "games"),
    "www.games.example": BlockInfo("school-rules", "operator", "games"),
    "casino.example": BlockInfo("family-filter", "family"),
}


def explain(name: str, client_ip: str) -> BlockInfo | None:
    assert client_ip.startswith("127.0.0.")
    return BLOCKED.get(name)


class Running:
    """A StopPage on its own event loop in a thread, bound to free loopback ports."""

    def __init__(self, settings: StopPageSettings, state_dir: Path) -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()
        self.store = ReportStore(state_dir)
        self.page = StopPage(settings, explain, self.store)
        self.run(self.page.start())

    def run(self, coro: Awaitable[T]) -> T:
        async def wrapped() -> T:
            return await coro

        return asyncio.run_coroutine_threadsafe(wrapped(), self.loop).result(10)

    def call(self, fn: Callable[[], T]) -> T:
        async def wrapped() -> T:
            return fn()

        return self.run(wrapped())

    @property
    def port(self) -> int:
        return self.page.bound[0].port

    def request(
        self,
        host: str,
        path: str = "/",
        method: str = "GET",
        body: bytes | None = None,
        headers: dict[str, str] | None = None,
        address: HostPort | None = None,
    ) -> tuple[int, dict[str, str], str]:
        address = address or self.page.bound[0]
        conn = http.client.HTTPConnection(address.host, address.port, timeout=5)
        try:
            conn.putrequest(method, path, skip_host=True, skip_accept_encoding=True)
            if host:
                conn.putheader("Host", host)
            for key, value in (headers or {}).items():
                conn.putheader(key, value)
            if body is not None:
                conn.putheader("Content-Length", str(len(body)))
            conn.endheaders(body)
            resp = conn.getresponse()
            text = resp.read().decode("utf-8")
            return resp.status, {k.lower(): v for k, v in resp.getheaders()}, text
        finally:
            conn.close()

    def report(
        self, name: str, list_id: str, lang: str = "en", extra: dict[str, str] | None = None
    ) -> tuple[int, str]:
        form = urllib.parse.urlencode({"name": name, "list": list_id, "lang": lang}).encode()
        headers = {"Content-Type": "application/x-www-form-urlencoded",
                   "User-Agent": "TestBrowser/9.9 (unique-agent-marker)"}
        headers.update(extra or {})
        status, _, text = self.request("games.example", "/.straja/report", "POST", form, headers)
        return status, text

    def stop(self) -> None:
        self.run(self.page.stop())
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(5)
        self.loop.close()


def _settings(**changes: Any) -> StopPageSettings:
    base = StopPageSettings(listen=[HostPort("127.0.0.1", 0)],
                            https_reject=[HostPort("127.0.0.1", 0)])
    return replace(base, **changes)


@pytest.fixture
def start(tmp_path: Path) -> Iterator[Callable[..., Running]]:
    started: list[Running] = []

    def make(**changes: Any) -> Running:
        running = Running(_settings(**changes), tmp_path / "state")
        started.append(running)
        return running

    yield make
    for running in started:
        running.stop()


def _lang_attr(text: str) -> str:
    m = re.search(r'<html lang="([a-z]+)">', text)
    assert m, text[:200]
    return m.group(1)


def _visible(page: str) -> str:
    """The words a reader sees: no style sheet, no tags."""
    return re.sub(r"<[^>]+>", " ", re.sub(r"<style>.*?</style>", "", page, flags=re.S)).lower()


def _accept(lang: str) -> dict[str, str]:
    return {"Accept-Language": {"en": "en-GB,en;q=0.9", "ro": "ro-MD,ro;q=0.9,ru;q=0.8",
                                "ru": "ru-RU,ru;q=0.9,en;q=0.5"}[lang]}


# -- the pages, each language -------------------------------------------------------------

MANDATORY_WORDS = {
    "en": ["blocked by law", "real children", "is a crime", "Anonymous, confidential help"],
    "ro": ["blocat prin lege", "copii reali", "este o infracțiune", "ajutor anonim"],
    "ru": ["заблокирован по закону", "настоящие дети", "преступление", "анонимная"],
}
CALM_WORDS = {
    "en": ["This page is blocked", "You did nothing wrong", "adult you trust",
           "Report as wrongly blocked"],
    "ro": ["Această pagină este blocată", "Nu ai greșit cu nimic", "adult în care ai încredere",
           "Raportează blocarea greșită"],
    "ru": ["Эта страница заблокирована", "Твоей вины в этом нет", "взрослым, которому доверяешь",
           "Сообщить об ошибке"],
}


@pytest.mark.parametrize("lang", LANGUAGES)
def test_mandatory_page_deters_and_points_to_help_in_each_language(start, lang: str) -> None:
    page = start(deployment="moldova")
    status, headers, text = page.request("csam.example", "/any/path?x=1", headers=_accept(lang))
    assert status == 451  # Unavailable For Legal Reasons
    assert _lang_attr(text) == lang and headers["content-language"] == lang
    for words in MANDATORY_WORDS[lang]:
        assert words.lower() in text.lower(), words
    assert 'href="https://www.stopitnow.org"' in text  # anonymous help
    assert 'href="https://siguronline.md"' in text  # report elsewhere to the hotline
    # No form, no name, no list id; no threat and no claim that the visit was recorded.
    assert "<form" not in text and "csam.example" not in text and "hotline-csam" not in text
    for word in ("logged", "recorded", "police", "înregistr", "полици", "записан"):
        assert word not in _visible(text)


@pytest.mark.parametrize("lang", LANGUAGES)
def test_blocked_page_is_calm_and_offers_help_and_the_form_in_each_language(
    start, lang: str
) -> None:
    page = start(deployment="moldova")
    status, headers, text = page.request("Games.Example:80", headers=_accept(lang))
    assert status == 403
    assert _lang_attr(text) == lang and headers["content-language"] == lang
    for words in CALM_WORDS[lang]:
        assert words in text, words
    assert '<strong class="name">games.example</strong>' in text
    assert "school-rules" in text and "games" in text
    # Moldova: Telefonul Copilului 116 111, siguronline.md, La Strada.
    assert 'href="tel:116111">116 111</a>' in text
    assert 'href="https://telefonulcopilului.md"' in text
    assert 'href="https://siguronline.md"' in text
    assert 'href="https://lastrada.md"' in text
    assert 'action="/.straja/report"' in text
    assert 'name="name" value="games.example"' in text
    for fear in ("crime", "law", "infracțiune", "lege", "преступлен", "закон", "police"):
        assert fear not in _visible(text)


def test_international_defaults_point_to_child_helpline_international_inhope_stop_it_now(
    start,
) -> None:
    page = start()  # deployment: international
    _, _, calm = page.request("games.example")
    assert 'href="https://childhelplineinternational.org"' in calm
    assert 'href="https://www.inhope.org"' in calm
    assert "tel:" not in calm and "lastrada" not in calm
    _, _, law = page.request("csam.example")
    assert 'href="https://www.stopitnow.org"' in law and 'href="https://www.inhope.org"' in law


def test_family_list_page_says_family_filter(start) -> None:
    page = start()
    status, _, text = page.request("casino.example")
    assert status == 403 and "family filter" in text and "family-filter" in text


def test_settings_override_the_deployment_defaults(start) -> None:
    page = start(
        deployment="moldova",
        operator_name="Liceul Teoretic <Mihai Eminescu>",
        helpline_phone="+373 22 000 000",
        hotline_name="Our Hotline",
        hotline_url="https://hotline.example/report",
        help_service_url="https://help.example/",
        contact="it@school.example",
    )
    _, _, calm = page.request("games.example", headers=_accept("ro"))
    assert "Filtrul acestei rețele (Liceul Teoretic &lt;Mihai Eminescu&gt;)" in calm
    assert 'href="tel:+37322000000">+373 22 000 000</a>' in calm
    assert 'href="https://hotline.example/report"' in calm and ">Our Hotline</a>" in calm
    assert 'href="https://telefonulcopilului.md"' in calm  # not overridden: the default stays
    assert 'href="mailto:it@school.example"' in calm
    _, _, law = page.request("csam.example")
    assert 'href="https://help.example/"' in law and ">Stop It Now</a>" in law


def test_language_follows_accept_language_q_values_then_the_fallback(start) -> None:
    assert pick_language("ro-MD,ro;q=0.9,ru;q=0.8", "en") == "ro"
    assert pick_language("en;q=0.2, ru-RU", "en") == "ru"
    assert pick_language("de-DE,de;q=0.9,ru;q=0.3", "en") == "ru"
    assert pick_language("ro;q=0, de", "ru") == "ru"
    assert pick_language("fr, *;q=0.5", "ro") == "ro"
    assert pick_language("ru;q=abc,en;q=2,,;;", "ro") == "ro"
    assert pick_language(None, "en") == "en"
    page = start(language="ro")
    assert _lang_attr(page.request("games.example", headers={"Accept-Language": "de"})[2]) == "ro"
    assert _lang_attr(page.request("games.example")[2]) == "ro"
    chosen = page.request("games.example", "/?lang=ru", headers=_accept("en"))[2]
    assert _lang_attr(chosen) == "ru"
    assert 'href="?lang=en"' in chosen and 'href="?lang=ro"' in chosen


def test_a_name_no_list_blocks_gets_the_not_blocked_page(start) -> None:
    page = start()
    status, _, text = page.request("news.example")
    assert status == 404
    assert "This address is not blocked" in text and "news.example" in text
    assert "<form" not in text
    for host in ("127.0.0.1:8080", "[::1]:80", "bad_host!", "a..b", "x" * 300):
        status, _, text = page.request(host)
        assert status in (400, 404), host  # aiohttp itself refuses some malformed Hosts
        if status == 404:
            assert "Nothing is blocked here" in text, host
    assert page.request("192.168.1.1")[0] == 404


def test_every_answer_is_self_contained_and_sends_the_security_headers(start) -> None:
    page = start(deployment="moldova")
    answers = [
        page.request("csam.example"),
        page.request("games.example"),
        page.request("news.example"),
        page.request("games.example", method="DELETE"),
    ]
    status, text = page.report("games.example", "school-rules")
    answers.append((status, {}, text))
    for _, headers, text in answers:
        if headers:
            assert headers["cache-control"] == "no-store"
            assert headers["content-security-policy"] == (
                "default-src 'none'; style-src 'unsafe-inline'; img-src data:; "
                "form-action 'self'"
            )
            assert headers["referrer-policy"] == "no-referrer"
            assert headers["x-content-type-options"] == "nosniff"
            assert headers["server"] == "Straja"
            assert headers["content-type"] == "text/html; charset=utf-8"
        assert '<meta name="viewport"' in text
        # Nothing loads from elsewhere: no scripts, stylesheets, images, fonts or frames.
        assert not re.search(r"<(script|link|img|iframe|object|embed)\b", text)
        assert not re.search(r"\bsrc=", text) and "@import" not in text and "url(" not in text


def test_head_gets_headers_without_a_body(start) -> None:
    page = start()
    status, headers, text = page.request("games.example", method="HEAD")
    assert status == 403 and text == "" and headers["cache-control"] == "no-store"


def test_everything_echoed_is_escaped(start, tmp_path: Path) -> None:
    page = start()
    status, _, text = page.request("news.example", "/<script>alert(1)</script>?lang=<b>")
    assert status == 404 and "<script>" not in text and "<b>" not in text
    status, text = page.report("<script>x</script>.example", "school-rules")
    assert status == 400 and "<script>" not in text


# -- HTTPS on the sinkhole ----------------------------------------------------------------

def test_https_reject_port_closes_the_connection_at_once(start) -> None:
    page = start()
    address = page.page.bound_https_reject[0]
    for _ in range(3):
        # Closed or reset by the server: a recv that timed out would raise instead.
        with socket.create_connection((address.host, address.port), timeout=10) as sock:
            try:
                data = sock.recv(100)
            except ConnectionResetError:
                data = b""
        assert data == b""
    assert page.page.counters.https_rejected == 3


# -- wrongly-blocked reports --------------------------------------------------------------

def test_a_report_is_stored_with_name_list_and_time_and_no_client_address(start) -> None:
    page = start()
    before = time.time()
    status, text = page.report("WWW.Games.Example.", "school-rules", lang="ro")
    assert status == 200 and "Mulțumim" in text and _lang_attr(text) == "ro"
    path = page.store.path
    assert path == page.store.path.parent.parent / "reports" / "reports.jsonl"
    raw = path.read_text()
    stored = [json.loads(line) for line in raw.splitlines()]
    assert len(stored) == 1
    assert set(stored[0]) == {"time", "name", "list"}
    assert stored[0]["name"] == "www.games.example" and stored[0]["list"] == "school-rules"
    assert "127.0.0.1" not in raw and "unique-agent-marker" not in raw
    assert stat.S_IMODE(path.stat().st_mode) == 0o640
    (report,) = page.store.list()
    assert before - 1 <= report.time <= time.time()


def test_reports_for_mandatory_or_unblocked_names_are_refused(start) -> None:
    page = start()
    status, text = page.report("csam.example", "hotline-csam")
    assert status == 403 and "blocked by law, so it cannot be reported" in text
    status, text = page.report("news.example", "school-rules")
    assert status == 400 and "not blocked right now" in text
    status, text = page.report("", "school-rules")
    assert status == 400 and "could not be read" in text
    status, text = page.report("games.example", "x" * 65)
    assert status == 400
    assert page.store.list() == []


def test_the_list_stored_is_the_one_that_blocks_the_name_now(start) -> None:
    page = start()
    assert page.report("games.example", "some-other-list")[0] == 200
    assert [r.list_id for r in page.store.list()] == ["school-rules"]


def test_oversize_garbage_and_wrong_form_bodies_are_refused(start) -> None:
    page = start()
    form = "application/x-www-form-urlencoded"
    big = b"name=games.example&list=school-rules&pad=" + b"x" * 10_000
    status, _, text = page.request("games.example", "/.straja/report", "POST", big,
                                   {"Content-Type": form})
    assert status == 413 and "too long" in text
    for body, ctype in [
        (b"\xff\xfe\xfa", form),
        (b"name=games.example&list=school-rules", "application/json"),
        (b"&".join(b"a%d=1" % i for i in range(50)), form),
        (b"name=games.example&list=school-rules", "multipart/form-data; boundary=x"),
    ]:
        status, _, _ = page.request("games.example", "/.straja/report", "POST", body,
                                    {"Content-Type": ctype})
        assert status == 400, (body, ctype)
    assert page.store.list() == []


def test_an_identical_report_within_an_hour_is_stored_once(start, tmp_path: Path) -> None:
    page = start()
    assert page.report("games.example", "school-rules")[0] == 200
    status, text = page.report("games.example", "school-rules")
    assert status == 200 and "already reported" in text
    assert page.report("casino.example", "family-filter")[0] == 200
    assert len(page.store.list()) == 2
    # A restarted server remembers the last hour's reports from the file.
    again = start()
    assert "already reported" in again.report("games.example", "school-rules")[1]
    assert len(again.store.list()) == 2


def test_reports_are_rate_limited_in_total(start) -> None:
    page = start(reports_per_minute=2)
    assert page.report("games.example", "school-rules")[0] == 200
    assert page.report("casino.example", "family-filter")[0] == 200
    status, text = page.report("www.games.example", "school-rules")
    assert status == 429 and "too many reports" in text
    assert len(page.store.list()) == 2


def test_the_form_can_be_switched_off(start) -> None:
    page = start(report_form=False)
    assert "<form" not in page.request("games.example")[2]
    status, text = page.report("games.example", "school-rules")
    assert status == 403 and "switched off" in text


def test_the_store_skips_a_corrupt_line_with_a_warning(tmp_path: Path, caplog) -> None:
    store = ReportStore(tmp_path)
    store.add("a.example", "l1", 1_700_000_000)
    with store.path.open("a") as f:
        f.write('{"time": "yesterday", "name": "x"}\nnot json at all\n\xff\n[1,2]\n')
    store.add("b.example", "l2", 1_700_000_060)
    with caplog.at_level(logging.WARNING, logger="straja.stoppage"):
        items = store.list()
    assert [(r.name, r.list_id) for r in items] == [("b.example", "l2"), ("a.example", "l1")]
    assert "reports.jsonl:2: not a report" in caplog.text
    assert ReportStore(tmp_path / "nothing-here").list() == []


def _config(tmp_path: Path) -> Path:
    config = tmp_path / "straja.yaml"
    config.write_text("upstreams: [127.0.0.1]\nstate_dir: state\n")
    return config


def test_reports_list_shows_time_name_and_list_newest_first(tmp_path: Path) -> None:
    config = _config(tmp_path)
    runner = CliRunner()
    empty = runner.invoke(reports_cli, ["list", "--config", str(config)])
    assert empty.exit_code == 0 and empty.output == "no reports\n"
    store = ReportStore(tmp_path / "state")
    store.add("games.example", "school-rules", 1_700_000_000)
    store.add("casino.example", "family-filter", 1_700_003_600)
    result = runner.invoke(reports_cli, ["list", "--config", str(config)])
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert lines[0].split() == ["TIME", "NAME", "LIST"]
    assert lines[1].split() == ["2023-11-14", "23:13", "UTC", "casino.example", "family-filter"]
    assert lines[2].split() == ["2023-11-14", "22:13", "UTC", "games.example", "school-rules"]
    as_json = runner.invoke(reports_cli, ["list", "--config", str(config), "--json"])
    assert json.loads(as_json.output) == [
        {"time": "2023-11-14T23:13:20Z", "name": "casino.example", "list": "family-filter"},
        {"time": "2023-11-14T22:13:20Z", "name": "games.example", "list": "school-rules"},
    ]


def test_reports_list_shows_what_the_server_stored(start, tmp_path: Path) -> None:
    page = start()
    assert page.report("games.example", "school-rules")[0] == 200
    result = CliRunner().invoke(reports_cli, ["list", "--config", str(_config(tmp_path))])
    assert "games.example" in result.output and "school-rules" in result.output


def test_reports_list_with_a_bad_config_exits_1(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("upstreams: []\n")
    result = CliRunner().invoke(reports_cli, ["list", "--config", str(bad)])
    assert result.exit_code == 1 and "upstreams is empty" in result.output


# -- robustness and lifecycle -------------------------------------------------------------

def _raw_http(port: int, payload: bytes) -> bytes:
    with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
        sock.sendall(payload)
        chunks = []
        while True:
            try:
                chunk = sock.recv(65536)
            except (ConnectionResetError, TimeoutError):
                break
            if not chunk:
                break
            chunks.append(chunk)
        return b"".join(chunks)


def test_bad_http_input_gets_a_4xx_and_the_server_keeps_serving(start, caplog) -> None:
    caplog.set_level(logging.DEBUG)
    page = start()
    huge_header = b"GET / HTTP/1.1\r\nHost: games.example\r\nX-Big: " + b"a" * 20_000 + b"\r\n\r\n"
    many_headers = b"GET / HTTP/1.1\r\nHost: games.example\r\n" + b"".join(
        b"X-%d: 1\r\n" % i for i in range(200)) + b"\r\n"
    long_line = b"GET /" + b"a" * 10_000 + b" HTTP/1.1\r\nHost: games.example\r\n\r\n"
    for payload in (huge_header, many_headers, long_line, b"\x16\x03\x01\x02\x00garbage\r\n\r\n",
                    b"NOT HTTP AT ALL\r\n\r\n"):
        answer = _raw_http(page.port, payload)
        assert re.match(rb"HTTP/1\.[01] 4\d\d ", answer), answer[:80]
    status, headers, _ = page.request("games.example", method="PUT", body=b"x")
    assert status == 405 and headers["allow"] == "GET, HEAD"
    assert page.request("games.example", "/.straja/report", "OPTIONS")[0] == 405
    assert page.request("games.example")[0] == 403
    assert "127.0.0.1" not in caplog.text  # bad requests are refused, their senders not logged


def test_start_names_the_address_it_cannot_bind(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        page = StopPage(_settings(listen=[HostPort("127.0.0.1", port)]), explain,
                        ReportStore(tmp_path))

        async def attempt() -> None:
            await page.start()

        with pytest.raises(OSError, match=f"cannot listen on 127.0.0.1:{port} for the STOP page"):
            asyncio.run(attempt())


def test_configure_applies_new_texts_and_rebinds_changed_addresses(start) -> None:
    page = start()
    old_port = page.port
    assert "childhelplineinternational.org" in page.request("games.example")[2]
    settings = _settings(deployment="moldova", listen=[HostPort("127.0.0.1", 0),
                                                       HostPort("127.0.0.2", 0)])
    page.call(lambda: page.page.configure(settings))
    page.run(page.page.rebind())
    assert {a.host for a in page.page.bound} == {"127.0.0.1", "127.0.0.2"}
    assert page.page.bound[0].port == old_port  # the unchanged address kept its socket
    assert "telefonulcopilului.md" in page.request("games.example")[2]
    assert page.request("games.example", address=page.page.bound[1])[0] == 403
    page.call(lambda: page.page.configure(_settings(enabled=False)))
    page.run(page.page.rebind())
    assert page.page.bound == [] and page.page.bound_https_reject == []
    with pytest.raises(OSError):
        socket.create_connection(("127.0.0.1", old_port), timeout=1).close()


# -- settings and texts -------------------------------------------------------------------

def _build(data: dict[str, Any]) -> StopPageSettings:
    settings: StopPageSettings = _Builder("site.yaml", {}).build(
        StopPageSettings, data, "stop_page")
    return settings


def test_settings_build_from_yaml_data_with_default_ports() -> None:
    settings = _build({
        "listen": ["192.168.1.1", "[fd00::1]:8080"],
        "https_reject": ["192.168.1.1"],
        "deployment": "moldova",
        "language": "ro",
        "operator_name": "Liceul Teoretic",
        "helpline_phone": "116 111",
    })
    assert [str(a) for a in settings.listen] == ["192.168.1.1:80", "[fd00::1]:8080"]
    assert [str(a) for a in settings.https_reject] == ["192.168.1.1:443"]
    assert settings.deployment == "moldova" and settings.language == "ro"


def test_the_school_gateway_example_in_the_docs_is_valid() -> None:
    doc = (REPO / "docs" / "stop-page.md").read_text()
    example = next(block for block in re.findall(r"```yaml\n(.*?)```", doc, re.S)
                   if "stop_page:" in block)
    settings = _build(yaml.safe_load(example)["stop_page"])
    assert [str(a) for a in settings.listen] == ["192.168.1.1:80"]
    assert [str(a) for a in settings.https_reject] == ["192.168.1.1:443"]


@pytest.mark.parametrize("data, reason", [
    ({"listen": []}, "listen must name at least one host:port"),
    ({"listen": ["10.0.0.1:80"], "https_reject": ["10.0.0.1:80"]}, "the same address twice"),
    ({"hotline_url": "javascript:alert(1)"}, "hotline_url 'javascript:alert(1)' must be an http"),
    ({"help_service_url": "https:///nohost"}, "must be an http:// or https:// address"),
    ({"helpline_phone": "call us"}, "helpline_phone 'call us' is not a phone number"),
    ({"contact": "not-an-email"}, "contact 'not-an-email' is not an e-mail address"),
    ({"operator_name": "  "}, "operator_name is empty"),
    ({"reports_per_minute": 0}, "reports_per_minute must be between 1 and 1000"),
    ({"language": "de"}, "'de' is not one of: en, ro, ru"),
    ({"deployment": "mars"}, "'mars' is not one of: moldova, international"),
    ({"texts": {}}, "unknown key"),
    ({"enabled": "yes"}, "expected true or false"),
])
def test_bad_settings_are_refused_with_a_sentence(data: dict[str, Any], reason: str) -> None:
    with pytest.raises(ConfigError, match=re.escape(reason)):
        _build(data)


def test_every_language_has_every_text_with_the_same_placeholders() -> None:
    placeholders = re.compile(r"\{(\w+)\}")
    assert set(TEXTS) == set(LANGUAGES)
    english = TEXTS["en"]
    for lang, texts in TEXTS.items():
        assert set(texts) == set(english), lang
        for key, text in texts.items():
            assert set(placeholders.findall(text)) == set(placeholders.findall(english[key])), (
                lang, key)
            assert "<" not in text and ">" not in text, (lang, key)
    assert set(DEPLOYMENTS) == {"moldova", "international"}


def test_loading_the_settings_does_not_import_aiohttp() -> None:
    code = ("import sys, resolver.stoppage, resolver.stoppage.texts, admin.commands.reports; "
            "print('aiohttp' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         cwd=REPO, env={**os.environ, "PYTHONPATH": str(REPO)}, check=True)
    assert out.stdout.strip() == "False"


# -- how the pages look -------------------------------------------------------------------

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")


@pytest.mark.skipif(CHROMIUM is None, reason="chromium is not installed")
def test_each_page_renders_in_headless_chromium(start, tmp_path: Path) -> None:
    """Screenshots of each page kind at phone size; kept in STRAJA_SCREENSHOTS when set."""
    assert CHROMIUM is not None
    out = Path(os.environ.get("STRAJA_SCREENSHOTS") or tmp_path / "shots")
    out.mkdir(parents=True, exist_ok=True)
    page = start(deployment="moldova", operator_name="Liceul Teoretic", contact="it@school.md")
    # Chromium asks for stop.example (mapped to loopback); the fake policy answers for the
    # name of the page kind being shot.
    kinds = {"mandatory": "csam.example", "blocked": "games.example", "not-blocked": ""}
    current = {"name": ""}

    def as_if(name: str, client_ip: str) -> BlockInfo | None:
        return BLOCKED.get(current["name"])

    page.page.explain = as_if
    for kind, name in kinds.items():
        current["name"] = name
        for lang in LANGUAGES:
            shot = out / f"{kind}-{lang}.png"
            subprocess.run(
                [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars",
                 f"--lang={lang}", f"--screenshot={shot}", "--window-size=400,1400",
                 f"http://stop.example:{page.port}/?lang={lang}",
                 "--host-resolver-rules=MAP stop.example 127.0.0.1"],
                capture_output=True, timeout=60, check=False,
            )
            assert shot.exists() and shot.stat().st_size > 5000, shot
