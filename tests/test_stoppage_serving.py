"""The STOP page as the running daemon serves it, asking the live policy which list blocks."""

from __future__ import annotations

import time
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path

from tests.listtools import Publisher, straja_cli


def _get(port: int, host: str, lang: str = "en") -> tuple[int, str]:
    req = urllib.request.Request(f"http://127.0.0.1:{port}/some/path",
                                 headers={"Host": host, "Accept-Language": lang})
    try:
        with urllib.request.urlopen(req, timeout=5) as r:
            return r.status, r.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode()


def test_daemon_serves_the_stop_page_by_tier(straja_factory, unbound, tmp_path: Path) -> None:
    pub = Publisher(tmp_path)
    school = pub.compile("school", ["games.example.test"], 1)
    law = pub.compile("law", ["abuse.example.test"], 1, tier="mandatory", hashed=True)
    s = straja_factory({"upstreams": [unbound.address], "lists": [
        {"id": "school", "source": str(school), "tier": "operator", "keys": [pub.key]},
        {"id": "law", "source": str(law), "tier": "mandatory", "keys": [pub.key]},
    ]}, start=False)
    s.write_config()
    for path in (school, law):
        straja_cli("lists", "import", str(path), "--config", str(s.config_path))
    s.start()
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and "STOP page on" not in s.read_log():
        time.sleep(0.1)
    code, body = _get(s.stop_page_port, "games.example.test")
    assert code == 403 and "games.example.test" in body
    code, body = _get(s.stop_page_port, "abuse.example.test", "ro")
    assert code == 451 and 'lang="ro"' in body
    assert "abuse.example.test" not in body  # the deterrence page does not repeat the name
    code, _ = _get(s.stop_page_port, "www.example.test")
    assert code == 404
    form = urllib.parse.urlencode({"name": "games.example.test", "list": "school"}).encode()
    req = urllib.request.Request(f"http://127.0.0.1:{s.stop_page_port}/.straja/report",
                                 data=form, headers={"Host": "games.example.test"})
    with urllib.request.urlopen(req, timeout=5) as r:
        assert r.status == 200
    run = straja_cli("reports", "list", "--config", str(s.config_path))
    assert "games.example.test" in run.stdout and "school" in run.stdout
    stored = (Path(s.config["state_dir"]) / "reports" / "reports.jsonl").read_text()
    assert "127.0.0.1" not in stored


def test_with_several_workers_one_control_process_serves_the_stop_page(
    straja_factory, unbound, tmp_path: Path
) -> None:
    pub = Publisher(tmp_path)
    school = pub.compile("school", ["games.example.test"], 1)
    s = straja_factory({"upstreams": [unbound.address], "dns": {"workers": 2}, "lists": [
        {"id": "school", "source": str(school), "tier": "operator", "keys": [pub.key]},
    ]})
    deadline = time.monotonic() + 15
    code = 0
    while time.monotonic() < deadline:
        try:
            code, _ = _get(s.stop_page_port, "games.example.test")
            break
        except OSError:
            time.sleep(0.2)
    assert code == 403
    assert s.read_log().count("STOP page on") == 1  # not once per worker
