"""The small-router profile's flash-wear keys, on a real server: `query_log.storage:
memory` (the log is served from RAM, the database's table stays empty) and a long
`admin.flush_interval` (the dashboard still shows the minutes not written yet, and a clean
stop writes them)."""

from __future__ import annotations

import socket
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import text

from admin.store import Store
from tests.admintools import AdminClient, admin_base, create_token, wait_admin
from tests.listtools import Publisher, straja_cli
from tests.servers import poll


def _serve(straja_factory: Any, unbound: Any, tmp_path: Path, **sections: Any
           ) -> tuple[Any, str, AdminClient]:
    publisher = Publisher(tmp_path)
    law = publisher.compile("law", ["abuse.example.test"], 1, tier="mandatory")
    url = f"sqlite:///{tmp_path / 'straja.db'}"
    admin = {"database": url, **sections.pop("admin", {})}
    server = straja_factory({
        "upstreams": [unbound.address], "admin": admin, **sections,
        "lists": [{"id": "law", "source": str(law), "tier": "mandatory",
                   "keys": [publisher.key]}]}, start=False)
    server.write_config()
    run = straja_cli("lists", "import", str(law), "--config", str(server.config_path))
    assert "activated" in run.stdout + run.stderr
    server.start()
    wait_admin(server)
    return server, url, AdminClient(admin_base(server), token=create_token(server, {"read"}))


def _rows(url: str, table: str) -> int:
    store = Store(url, node_id=socket.gethostname())
    try:
        with store.engine.connect() as connection:
            return int(connection.execute(text(f"SELECT count(*) FROM {table}")).scalar_one())
    finally:
        store.close()


def _stored_queries(url: str) -> int:
    store = Store(url, node_id=socket.gethostname())
    try:
        now = datetime.now(UTC)
        rows = store.stats.series(now - timedelta(hours=1), now + timedelta(minutes=1))
        return sum(r.count for r in rows if r.metric == "queries" and not r.list_id)
    finally:
        store.close()


def test_a_query_log_in_memory_is_served_and_never_reaches_the_database(
        straja_factory: Any, unbound: Any, tmp_path: Path) -> None:
    server, url, reader = _serve(straja_factory, unbound, tmp_path, query_log={
        "enabled": True, "level": 1, "storage": "memory", "memory_entries": 100})
    for name in ("www.example.test", "abuse.example.test"):
        server.query(name, "A")

    def logged() -> dict[str, Any]:
        entries = reader.get("/api/v1/querylog").json()["entries"]
        by_name = {e["name"]: e for e in entries}
        return by_name if {"www.example.test", "abuse.example.test"} <= set(by_name) else {}

    by_name = poll(logged)
    assert by_name, server.read_log()
    assert by_name["www.example.test"]["client"] == "127.0.0.0/24"  # level 1
    abuse = by_name["abuse.example.test"]
    assert (abuse["action"], abuse["tier"], abuse["client"]) == ("blocked", "mandatory", None)
    assert _rows(url, "query_log") == 0
    run = Path(server.config["state_dir"]) / "run"
    assert list(run.glob("querylog-*.jsonl*")) == []  # ingested into RAM, not left behind


def test_a_long_flush_interval_still_shows_fresh_counts_and_writes_them_on_stop(
        straja_factory: Any, unbound: Any, tmp_path: Path) -> None:
    server, url, reader = _serve(straja_factory, unbound, tmp_path,
                                 admin={"flush_interval": "1h"})
    for name in ("www.example.test", "www.example.test", "abuse.example.test"):
        server.query(name, "A")

    def charted() -> float:
        points = reader.get("/api/v1/dashboard").json()["chart"]["points"]
        return sum(p["queries"] for p in points) >= 3

    assert poll(charted), server.read_log()
    assert _stored_queries(url) == 0  # an hour's flush interval: nothing written yet
    assert server.stop() == 0, server.read_log()
    assert _stored_queries(url) >= 3
