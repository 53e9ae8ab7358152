"""Hostile bodies at every JSON API write route (issue 11, item 7): malformed JSON, bad UTF-8,
deep nesting, huge values and every documented field with the wrong type. Each gets a 4xx
with a JSON message, never a 500 or a traceback, and DNS keeps answering."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.admintools import AdminClient, admin_base, create_token, wait_admin
from tests.servers import REPO, Straja

OPENAPI = yaml.safe_load((REPO / "docs" / "openapi.yaml").read_text())

RAW_BODIES: list[bytes] = [
    b"",
    b"{",
    b"\xff\xfe\xfd not utf-8",
    b'{"name": "\xc3\x28"}',  # an invalid UTF-8 sequence inside a string
    b"[]",
    b'"a string"',
    b"null",
    b"12345",
    b"[" * 20000 + b"]" * 20000,  # nesting far past any parser's recursion limit
    b'{"a":' * 5000 + b"1" + b"}" * 5000,
    json.dumps({"name": "x" * 2_000_000}).encode(),  # larger than any body we take
]
WRONG_VALUES: list[Any] = [None, 0, -1, 10**100, 1.5e308, True, [], {}, [1, 2], {"a": 1},
                           "", "x" * 70000, "\u0000", "../../etc/passwd", "\ud800"]


def write_routes() -> list[tuple[str, list[str]]]:
    """(path, documented field names) of every JSON POST route in docs/openapi.yaml."""
    routes = []
    for path, ops in OPENAPI["paths"].items():
        post = ops.get("post")
        if not path.startswith("/api/v1/") or post is None:
            continue
        content = (post.get("requestBody") or {}).get("content", {})
        schema = (content.get("application/json") or {}).get("schema") or {}
        routes.append((path, sorted((schema.get("properties") or {}).keys())))
    return routes


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory, unbound) -> Straja:  # type: ignore[no-untyped-def]
    workdir = tmp_path_factory.mktemp("fuzz")
    s = Straja(workdir, {"upstreams": [unbound.address]}).start()
    wait_admin(s)
    yield s  # type: ignore[misc]
    s.stop()


def _bad(reply: Any) -> str | None:
    """Why an answer to a hostile body is wrong, or None when it is a proper refusal."""
    if not 400 <= reply.status < 500:
        return f"status {reply.status}"
    try:
        body = json.loads(reply.body)
    except ValueError:
        return "not JSON"
    if "error" not in body:
        return f"no error message: {body}"
    return None


def test_hostile_bodies_get_a_4xx_with_a_message_never_a_500(server: Straja) -> None:
    client = AdminClient(admin_base(server), token=create_token(server, {"read", "write"}))
    routes = write_routes()
    assert len(routes) >= 8
    problems = []
    for path, fields in routes:
        for raw in RAW_BODIES:
            reply = client.request("POST", path, raw, {"Content-Type": "application/json"})
            why = _bad(reply)
            if why is not None:
                problems.append(f"{path} {raw[:30]!r}: {why}")
        for field in fields:
            for value in WRONG_VALUES:
                body = {f: "x" for f in fields}
                body[field] = value
                try:
                    data = json.dumps(body).encode("utf-8", "surrogatepass")
                except (TypeError, ValueError):
                    continue
                reply = client.request("POST", path, data, {"Content-Type": "application/json"})
                if reply.status >= 500:
                    problems.append(f"{path} {field}={str(value)[:30]!r}: status {reply.status}")
    assert not problems, "\n".join(problems[:40])
    log = server.read_log()
    assert "Traceback" not in log, log[log.index("Traceback") - 2000:][:4000]
    answer = server.query("www.example.test")
    assert answer.answer, "DNS stopped answering"


def test_the_openapi_file_names_the_routes_the_fuzzer_covers() -> None:
    paths = [p for p, _ in write_routes()]
    assert "/api/v1/overrides/add" in paths and "/api/v1/groups/put" in paths
    assert Path(REPO / "docs" / "openapi.yaml").exists()
