"""Talking to a running Straja's admin UI over HTTP for the tests: a cookie-keeping client,
first-run setup with the token from state_dir/setup-token, users and API tokens."""

from __future__ import annotations

import http.cookiejar
import json
import re
import time
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass
from typing import Any

from tests.servers import Straja

CSRF = re.compile(r'name="csrf" value="([^"]*)"')


@dataclass
class Reply:
    status: int
    headers: dict[str, str]
    body: bytes

    @property
    def text(self) -> str:
        return self.body.decode("utf-8", "replace")

    def json(self) -> Any:
        return json.loads(self.body)

    def csrf(self) -> str:
        m = CSRF.search(self.text)
        assert m, f"no CSRF field in {self.text[:500]}"
        return m.group(1)


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None


class AdminClient:
    """HTTP to the admin UI that keeps cookies and never follows redirects."""

    def __init__(self, base: str, token: str | None = None) -> None:
        self.base = base.rstrip("/")
        self.token = token
        self.jar = http.cookiejar.CookieJar()
        self.opener = urllib.request.build_opener(
            urllib.request.HTTPCookieProcessor(self.jar), _NoRedirect())

    def request(self, method: str, path: str, data: bytes | None = None,
                headers: dict[str, str] | None = None) -> Reply:
        req = urllib.request.Request(self.base + path, data=data, method=method,
                                     headers=dict(headers or {}))
        if self.token:
            req.add_header("Authorization", f"Bearer {self.token}")
        try:
            with self.opener.open(req, timeout=30) as resp:
                return Reply(resp.status, dict(resp.headers), resp.read())
        except urllib.error.HTTPError as exc:
            return Reply(exc.code, dict(exc.headers), exc.read())

    def get(self, path: str, **headers: str) -> Reply:
        return self.request("GET", path, headers=headers)

    def post_form(self, path: str, fields: dict[str, str]) -> Reply:
        return self.request("POST", path, urllib.parse.urlencode(fields).encode(),
                            {"Content-Type": "application/x-www-form-urlencoded"})

    def post_json(self, path: str, body: dict[str, Any], **headers: str) -> Reply:
        return self.request("POST", path, json.dumps(body).encode(),
                            {"Content-Type": "application/json", **headers})

    def setup(self, state_dir: str, name: str, password: str) -> Reply:
        token = read_setup_token(state_dir)
        page = self.get(f"/setup?token={token}")
        return self.post_form("/setup", {"csrf": page.csrf(), "token": token, "name": name,
                                         "password": password, "password2": password})

    def login(self, name: str, password: str) -> Reply:
        page = self.get("/login")
        return self.post_form("/login", {"csrf": page.csrf(), "name": name,
                                         "password": password, "next": "/"})


def read_setup_token(state_dir: str, timeout: float = 20.0) -> str:
    deadline = time.monotonic() + timeout
    path = f"{state_dir}/setup-token"
    while time.monotonic() < deadline:
        try:
            token = open(path).read().strip()  # noqa: SIM115
        except FileNotFoundError:
            time.sleep(0.1)
            continue
        if token:
            return token
    raise AssertionError(f"{path} did not appear")


def admin_base(server: Straja) -> str:
    return f"http://{server.host}:{server.admin_port}"


def wait_admin(server: Straja, timeout: float = 30.0) -> AdminClient:
    """Block until the admin UI answers; returns an anonymous client."""
    client = AdminClient(admin_base(server))
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if client.get("/login").status == 200:
                return client
        except OSError:
            pass
        time.sleep(0.1)
    raise AssertionError(f"the admin UI did not answer\n{server.read_log()}")


def store_call(server: Straja, fn: Any) -> Any:
    """Run fn(store, config) on the server's database from the test process."""
    from admin.config import load_config
    from admin.store import open_store

    config = load_config(server.config_path)
    store = open_store(config)
    try:
        return fn(store, config)
    finally:
        store.close()


def add_user(server: Straja, name: str, password: str, role: str) -> None:
    from admin import changes

    store_call(server, lambda s, c: changes.add_user(s, c, name=name, password=password,
                                                     role=role, actor="test"))


def create_token(server: Straja, scopes: set[str], name: str = "test") -> str:
    from admin import changes

    _, secret = store_call(server, lambda s, c: changes.create_token(
        s, c, name=name, scopes=scopes, actor="test"))
    return str(secret)
