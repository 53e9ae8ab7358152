"""The opt-in query log: off by default (no hook, no file, no row); on, entries reach the
database with the client as the level keeps it, and never for a mandatory-tier hit."""

from __future__ import annotations

import json
import socket
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from admin.query_log import ingest
from admin.store import Store
from resolver.querylog import anonymise
from tests.listtools import Publisher, straja_cli
from tests.servers import free_port, poll


def test_levels_keep_the_address_its_network_or_nothing() -> None:
    assert anonymise("192.0.2.77", 0) == "192.0.2.77"
    assert anonymise("192.0.2.77", 1) == "192.0.2.0/24"
    assert anonymise("2001:db8:1:2::5", 1) == "2001:db8:1::/48"
    assert anonymise("192.0.2.77", 2) is None


@pytest.mark.parametrize(("level", "kept"), [(0, "10.0.0.7"), (1, "10.0.0.0/24"), (2, None)])
def test_ingest_applies_the_level_and_never_keeps_a_mandatory_client(
        tmp_path: Path, level: int, kept: str | None) -> None:
    store = Store(f"sqlite:///{tmp_path / 'straja.db'}", node_id="n")
    store.migrate()
    run = tmp_path / "run"
    run.mkdir()
    now = time.time()
    lines = [{"at": now, "client": "10.0.0.7", "name": "www.example.test", "qtype": "A",
              "action": "answered", "rcode": "NOERROR", "list": None, "tier": None},
             {"at": now, "client": "10.0.0.7", "name": "abuse.example.test", "qtype": "A",
              "action": "blocked", "rcode": "NOERROR", "list": "law", "tier": "mandatory"}]
    (run / "querylog-0.jsonl").write_text("".join(json.dumps(x) + "\n" for x in lines))
    assert ingest(store, tmp_path, enabled=True, level=level) == 2
    assert not list(run.iterdir())
    by_name = {e.name: e for e in store.query_log.list()}
    assert by_name["www.example.test"].client == kept
    assert by_name["abuse.example.test"].client is None
    assert store.query_log.purge(datetime.now(UTC) + timedelta(seconds=1)) == 2
    store.close()


def test_a_spool_left_from_when_the_log_was_on_is_deleted(tmp_path: Path) -> None:
    store = Store(f"sqlite:///{tmp_path / 'straja.db'}", node_id="n")
    store.migrate()
    (tmp_path / "run").mkdir()
    (tmp_path / "run" / "querylog-0.jsonl").write_text('{"at": 1}\n')
    assert ingest(store, tmp_path, enabled=False, level=0) == 0
    assert not list((tmp_path / "run").iterdir()) and store.query_log.list() == []
    store.close()


def _serve(straja_factory: Any, unbound: Any, tmp_path: Path, query_log: dict[str, Any]
           ) -> tuple[Any, str]:
    publisher = Publisher(tmp_path)
    law = publisher.compile("law", ["abuse.example.test"], 1, tier="mandatory")
    ads = publisher.compile("ads", ["ads.example.test"], 1)
    url = f"sqlite:///{tmp_path / 'straja.db'}"
    server = straja_factory({
        "upstreams": [unbound.address], "query_log": query_log,
        "admin": {"database": url, "listen": [f"127.0.0.1:{free_port()}"]},
        "lists": [{"id": "law", "source": str(law), "tier": "mandatory",
                   "keys": [publisher.key]},
                  {"id": "ads", "source": str(ads), "tier": "operator",
                   "keys": [publisher.key]}]}, start=False)
    server.write_config()
    for path in (law, ads):
        run = straja_cli("lists", "import", str(path), "--config", str(server.config_path))
        assert "activated" in run.stdout + run.stderr
    server.start()
    return server, url


def _log(url: str) -> list[Any]:
    store = Store(url, node_id=socket.gethostname())  # the server's default node id
    try:
        return store.query_log.list(limit=1000, offset=0)
    except Exception:  # noqa: BLE001 - not migrated yet
        return []
    finally:
        store.close()


def test_entries_reach_the_database_anonymised(straja_factory: Any, unbound: Any,
                                               tmp_path: Path) -> None:
    server, url = _serve(straja_factory, unbound, tmp_path, {"enabled": True, "level": 1})
    for name in ("www.example.test", "ads.example.test", "abuse.example.test",
                 "www.example.test"):
        server.query(name, "A")
    entries = poll(lambda: (e := _log(url)) and len(
        {x.name for x in e} & {"www.example.test", "ads.example.test", "abuse.example.test"}
    ) == 3 and e, 90)
    assert entries, server.read_log()
    by_name: dict[str, list[Any]] = {}
    for e in entries:
        by_name.setdefault(e.name, []).append(e)
    www = by_name["www.example.test"]
    assert {e.client for e in www} == {"127.0.0.0/24"}
    assert {e.action for e in www} <= {"answered", "cached"}
    ads = by_name["ads.example.test"][0]
    assert (ads.action, ads.list_id, ads.tier, ads.client) == (
        "blocked", "ads", "operator", "127.0.0.0/24")
    abuse = by_name["abuse.example.test"][0]
    assert (abuse.action, abuse.list_id, abuse.tier, abuse.client) == (
        "blocked", "law", "mandatory", None)


def test_nothing_is_recorded_when_the_log_is_off(straja_factory: Any, unbound: Any,
                                                 tmp_path: Path) -> None:
    server, url = _serve(straja_factory, unbound, tmp_path, {"enabled": False, "level": 0})
    for name in ("www.example.test", "abuse.example.test"):
        server.query(name, "A")
    state = Path(server.config["state_dir"])
    assert poll(lambda: (state / "run" / "counters-0.json").exists(), 30)
    time.sleep(3)  # a writer, had there been one, would have written by now
    assert list((state / "run").glob("querylog-*")) == []
    assert _log(url) == []
