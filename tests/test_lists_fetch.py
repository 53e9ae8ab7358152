"""Lists fetched over HTTPS by the CLI and by the daemon on its own, with conditional GET."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from tests.httpsserver import ListServer, start_trusting, wait_for_a
from tests.listtools import Publisher
from tests.servers import straja_cmd, straja_env


@pytest.fixture
def site(tmp_path: Path):  # type: ignore[no-untyped-def]
    root = tmp_path / "www"
    root.mkdir()
    server = ListServer(root)
    yield server
    server.close()


def _env(site: ListServer) -> dict[str, str]:
    env = straja_env()
    env["SSL_CERT_FILE"] = str(site.cert)
    return env


def test_update_fetches_over_https_then_sends_conditional_get(straja_factory, unbound, site,
                                                             tmp_path: Path) -> None:
    pub = Publisher(site.root)
    pub.compile("school", ["games.example.test"], 1, filename="school.sl")
    s = straja_factory({
        "upstreams": [unbound.address],
        "lists": [{"id": "school", "source": f"{site.url}/school.sl", "tier": "operator",
                   "keys": [pub.key], "refresh": "1d"}],
    }, start=False)
    s.write_config()
    cmd = straja_cmd("lists", "update", "--config", str(s.config_path))
    first = subprocess.run(cmd, capture_output=True, text=True, env=_env(site), timeout=60)
    assert first.returncode == 0, first.stderr
    assert "school: serial 1 activated" in first.stdout
    assert [r[0] for r in site.requests] == ["/school.sl", "/school.sl.minisig"]
    second = subprocess.run(cmd, capture_output=True, text=True, env=_env(site), timeout=60)
    assert second.returncode == 0 and "not modified" in second.stdout
    path, headers, code = site.requests[-1]
    assert code == 304 and headers.get("If-None-Match", "").startswith('"')
    assert headers.get("If-Modified-Since") == "Mon, 23 Nov 2026 08:00:00 GMT"


def test_daemon_refreshes_lists_on_its_own(straja_factory, unbound, site) -> None:
    pub = Publisher(site.root)
    pub.compile("school", ["games.example.test"], 1, filename="school.sl")
    s = straja_factory({
        "upstreams": [unbound.address],
        "lists": [{"id": "school", "source": f"{site.url}/school.sl", "tier": "operator",
                   "keys": [pub.key], "refresh": "1m"}],
    }, start=False)
    start_trusting(s, site)
    answer = wait_for_a(s, "games.example.test", "0.0.0.0", 15)
    assert answer == "0.0.0.0", s.read_log()
