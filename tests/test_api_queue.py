"""The wrongly-blocked queue and the transparency report through the API, against a real
`straja serve`: a report sent from the STOP page reaches the queue and "allow" lets the name
through in dig's answers; blocked queries reach the report as aggregated rows, CSV and JSON."""

from __future__ import annotations

import csv
import io
import time
import urllib.parse
import urllib.request
from typing import Any

from tests.admintools import AdminClient, admin_base, create_token, wait_admin
from tests.listtools import Publisher
from tests.servers import Straja

PASSWORD = "correct horse battery staple"


def _eventually(fn: Any, timeout: float = 30.0) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = fn()
        if value:
            return value
        assert time.monotonic() < deadline, "it never happened"
        time.sleep(0.3)


def _served(straja_factory: Any, unbound: Any, tmp_path: Any) -> tuple[Straja, AdminClient]:
    pub = Publisher(tmp_path)
    school = pub.compile("school", ["www.example.test"], 1)
    s: Straja = straja_factory({"upstreams": [unbound.address], "lists": [
        {"id": "school", "source": str(school), "tier": "operator", "keys": [pub.key],
         "category": "games"}]})
    wait_admin(s)
    AdminClient(admin_base(s)).setup(str(s.config["state_dir"]), "teacher", PASSWORD)
    return s, AdminClient(admin_base(s), token=create_token(s, {"read", "write"}))


def test_a_stop_page_report_is_allowed_from_the_queue(straja_factory, unbound,
                                                      tmp_path) -> None:
    s, api = _served(straja_factory, unbound, tmp_path)
    assert [str(r) for r in s.query("www.example.test").answer[0]] == ["0.0.0.0"]
    form = urllib.parse.urlencode({"name": "www.example.test", "list": "school"}).encode()
    req = urllib.request.Request(f"http://127.0.0.1:{s.stop_page_port}/.straja/report",
                                 data=form, headers={"Host": "www.example.test"})
    with urllib.request.urlopen(req, timeout=5) as r:
        assert r.status == 200
    reports = _eventually(lambda: api.get("/api/v1/reports").json()["reports"])
    assert [(r["name"], r["list_id"], r["state"]) for r in reports] == [
        ("www.example.test", "school", "open")]
    reply = api.post_json("/api/v1/reports/resolve", {"id": reports[0]["id"], "action": "allow"})
    assert reply.status == 200, reply.text
    assert api.get("/api/v1/reports").json()["reports"] == []
    assert api.get("/api/v1/reports?state=allowed").json()["reports"][0]["state"] == "allowed"
    _eventually(lambda: [str(r) for r in s.query("www.example.test").answer[0]]
                == ["192.0.2.10"], 10)
    bad = api.post_json("/api/v1/reports/resolve", {"id": reports[0]["id"], "action": "ban"})
    assert bad.status == 400 and bad.json()["error"]["field"] == "action"


def test_blocked_queries_reach_the_transparency_report(straja_factory, unbound,
                                                       tmp_path) -> None:
    s, api = _served(straja_factory, unbound, tmp_path)
    for _ in range(5):
        s.query("www.example.test")
    rows = _eventually(lambda: api.get("/api/v1/transparency").json()["rows"], 60)
    assert rows[0]["list_id"] == "school" and rows[0]["blocked"] >= 5
    download = api.get("/api/v1/transparency/download?format=csv")
    assert download.headers["Content-Disposition"].startswith("attachment;")
    table = list(csv.DictReader(io.StringIO(download.text)))
    assert table[0]["list_id"] == "school" and table[0]["category"] == "games"
    assert "client" not in download.text
    as_json = api.get("/api/v1/transparency/download?format=json").json()
    assert as_json["rows"] == rows
