"""First run in a real Chromium: the setup token from state_dir/setup-token creates the first
admin; signing in is throttled after failed attempts (per account and source address);
`serve` on a terminal prints the setup URL once; and the whole run's log holds no password,
API token or setup token."""

from __future__ import annotations

import http.client
import os
import pty
import re
import select
import subprocess
import time
import urllib.parse
from pathlib import Path
from typing import Any

import yaml

from tests.admintools import AdminClient, admin_base, create_token, read_setup_token, wait_admin
from tests.browser import screenshot
from tests.listtools import straja_cli
from tests.servers import Straja, free_port, straja_cmd, straja_env, wait_answering

PASSWORD = "correct horse battery staple"
WRONG = "not the password at all"


def _login_from(server: Straja, source: str, name: str, password: str) -> int:
    """Sign in over HTTP from another loopback source address; the status code."""
    conn = http.client.HTTPConnection(server.host, server.admin_port, timeout=10,
                                      source_address=(source, 0))
    conn.request("GET", "/login")
    reply = conn.getresponse()
    body = reply.read().decode()
    cookie = reply.getheader("Set-Cookie", "").split(";")[0]
    csrf = re.search(r'name="csrf" value="([^"]+)"', body).group(1)  # type: ignore[union-attr]
    form = urllib.parse.urlencode({"csrf": csrf, "name": name, "password": password})
    conn.request("POST", "/login", form, {"Content-Type": "application/x-www-form-urlencoded",
                                          "Cookie": cookie})
    status = conn.getresponse().status
    conn.close()
    return status


def test_first_run_setup_login_throttling_and_a_log_without_secrets(
    straja_factory: Any, unbound: Any, page: Any
) -> None:
    server: Straja = straja_factory({"upstreams": [unbound.address]})
    wait_admin(server)
    state_dir = str(server.config["state_dir"])
    token = read_setup_token(state_dir)
    base = admin_base(server)

    page.goto(base + "/")
    assert page.url.startswith(base + "/login")
    page.goto(f"{base}/setup?token={token}")
    assert page.get_by_label("Setup token").input_value() == token
    page.get_by_label("User name").fill("teacher")
    page.get_by_label("Password", exact=True).fill(PASSWORD)
    page.get_by_label("Password again").fill(PASSWORD)
    page.get_by_role("button", name="Create administrator").click()
    page.wait_for_url(base + "/")
    assert page.locator("h1").inner_text() == "Dashboard"
    assert not Path(state_dir, "setup-token").exists()
    screenshot(page, "first-run-dashboard")

    page.get_by_role("button", name="Sign out").click()
    page.wait_for_url("**/login")
    throttled = False
    for _ in range(8):
        page.get_by_label("User name").fill("teacher")
        page.get_by_label("Password").fill(WRONG)
        page.get_by_role("button", name="Sign in").click()
        message = page.locator(".field-error").inner_text()
        if "Too many failed sign-ins" in message:
            throttled = True
            break
        assert "wrong" in message
    assert throttled
    # The throttle is per account and source: from another address the teacher gets in.
    assert _login_from(server, "127.0.0.9", "teacher", PASSWORD) == 303
    run = straja_cli("users", "unlock", "teacher", "--config", str(server.config_path))
    assert run.returncode == 0, run.stderr
    page.get_by_label("User name").fill("teacher")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(base + "/")

    api_token = create_token(server, {"read", "metrics"})
    scraper = AdminClient(base, token=api_token)
    assert scraper.get("/metrics").status == 200
    assert scraper.get("/api/v1/health").status == 200
    server.stop()
    log = server.read_log()
    assert "setup-token" in log  # the file is named ...
    for secret in (token, PASSWORD, WRONG, api_token):
        assert secret not in log  # ... but no secret is ever written


def test_serve_on_a_terminal_prints_the_setup_url_once(tmp_path: Path, unbound: Any) -> None:
    port, admin_port = free_port(), free_port()
    config = {"upstreams": [unbound.address], "state_dir": str(tmp_path / "state"),
              "dns": {"listen": [f"127.0.0.1:{port}"]},
              "admin": {"listen": [f"127.0.0.1:{admin_port}"]},
              "stop_page": {"enabled": False}}
    path = tmp_path / "straja.yaml"
    path.write_text(yaml.safe_dump(config))
    leader, follower = pty.openpty()
    with open(tmp_path / "stderr.log", "wb") as err:
        proc = subprocess.Popen(straja_cmd("serve", "--config", str(path)), stdin=follower,
                                stdout=follower, stderr=err, env=straja_env())
    os.close(follower)
    shown = b""
    try:
        wait_answering("127.0.0.1", port, proc=proc)
        deadline = time.monotonic() + 30
        while b"setup?token=" not in shown or not shown.endswith(b"\n"):
            assert time.monotonic() < deadline, shown
            ready, _, _ = select.select([leader], [], [], 0.5)
            if ready:
                shown += os.read(leader, 4096)
        time.sleep(1)
        while select.select([leader], [], [], 0.2)[0]:
            shown += os.read(leader, 4096)
    finally:
        proc.terminate()
        proc.wait(10)
        os.close(leader)
    token = (tmp_path / "state" / "setup-token").read_text().strip()
    text = shown.decode()
    assert text.count(f"http://127.0.0.1:{admin_port}/setup?token={token}") == 1
    log = (tmp_path / "stderr.log").read_text()
    assert "setup-token" in log and token not in log
