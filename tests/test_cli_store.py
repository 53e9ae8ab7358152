"""`straja users|tokens|overrides|report` against a real database (SQLite, PostgreSQL),
with no daemon running: every change is audited as `cli:<unix user>`."""

from __future__ import annotations

import csv
import io
import json
import subprocess
from datetime import UTC, datetime
from pathlib import Path

import pytest
import yaml

from admin.commands.store_access import cli_actor
from admin.store import Store
from admin.store.records import RollupDelta
from tests.servers import straja_cmd, straja_env

PASSWORD = "correct horse battery"


class Cli:
    def __init__(self, tmp_path: Path, db_url: str, **extra: object) -> None:
        self.state = tmp_path / "state"
        self.db_url = db_url
        self.config = tmp_path / "straja.yaml"
        self.config.write_text(yaml.safe_dump({
            "upstreams": ["127.0.0.2:53"], "state_dir": str(self.state),
            "admin": {"database": db_url, "node_id": "node-a"}, **extra}))

    def __call__(self, *args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
        return subprocess.run(straja_cmd(*args, "--config", str(self.config)), input=stdin,
                              capture_output=True, text=True, env=straja_env(), timeout=120)

    def store(self) -> Store:
        return Store(self.db_url, node_id="node-a")


@pytest.fixture
def cli(tmp_path: Path, db_url: str) -> Cli:
    return Cli(tmp_path, db_url)


def test_users_are_added_listed_and_audited_without_their_password(cli: Cli) -> None:
    added = cli("users", "add", "teacher", "--role", "admin", "--password-stdin",
                stdin=PASSWORD + "\n")
    assert added.returncode == 0, added.stderr
    listed = cli("users", "list", "--json")
    assert [(u["name"], u["role"]) for u in json.loads(listed.stdout)] == [("teacher", "admin")]
    passwd = cli("users", "passwd", "teacher", "--password-stdin", stdin="a new password!\n")
    assert passwd.returncode == 0, passwd.stderr
    store = cli.store()
    assert store.users.check_password("teacher", "a new password!", "127.0.0.1") is not None
    entries = store.audit.list()
    assert [(e.actor, e.action) for e in entries] == [(cli_actor(), "user.password"),
                                                      (cli_actor(), "user.add")]
    for run in (added, listed, passwd):
        assert PASSWORD not in run.stdout + run.stderr
    assert PASSWORD not in repr(entries)
    store.close()


def test_a_short_password_is_refused_with_the_reason(cli: Cli) -> None:
    run = cli("users", "add", "teacher", "--password-stdin", stdin="short\n")
    assert run.returncode == 1
    assert "password: a password has at least 10 characters" in run.stderr


def test_unlock_clears_failed_logins(cli: Cli) -> None:
    cli("users", "add", "teacher", "--password-stdin", stdin=PASSWORD + "\n")
    store = cli.store()
    for _ in range(5):
        store.users.check_password("teacher", "guess", "10.0.0.66")
    assert store.users.login_delay("teacher", "10.0.0.66") > 0
    run = cli("users", "unlock", "teacher")
    assert run.returncode == 0 and "1 address cleared" in run.stdout
    assert store.users.login_delay("teacher", "10.0.0.66") == 0
    store.close()


def test_setup_url_until_the_first_user_exists(cli: Cli) -> None:
    run = cli("users", "setup-url")
    assert run.returncode == 0
    token = (cli.state / "setup-token").read_text().strip()
    assert run.stdout.strip() == f"http://127.0.0.1:8053/setup?token={token}"
    cli("users", "add", "teacher", "--password-stdin", stdin=PASSWORD + "\n")
    assert not (cli.state / "setup-token").exists()
    again = cli("users", "setup-url")
    assert again.returncode == 1 and "users exist already" in again.stderr


def test_tokens_are_shown_once_and_revocable(cli: Cli) -> None:
    created = cli("tokens", "create", "prometheus", "--scope", "metrics")
    assert created.returncode == 0, created.stderr
    secret = created.stdout.strip()
    store = cli.store()
    info = store.tokens.lookup(secret)
    assert info is not None and info.scopes == {"metrics"}
    listed = cli("tokens", "list", "--json")
    assert secret not in listed.stdout
    assert cli("tokens", "revoke", str(info.id)).returncode == 0
    assert store.tokens.lookup(secret) is None
    assert "token.revoke" in [e.action for e in store.audit.list()]
    assert cli("tokens", "revoke", str(info.id)).returncode == 1
    store.close()


def test_overrides_work_with_the_daemon_stopped(cli: Cli) -> None:
    added = cli("overrides", "add", "allow", "Intranet.School.TEST", "--comment", "our site",
                "--expires", "7d")
    assert added.returncode == 0, added.stderr
    listed = json.loads(cli("overrides", "list", "--json").stdout)["overrides"]
    assert [(o["kind"], o["name"], o["comment"]) for o in listed] == [
        ("allow", "intranet.school.test", "our site")]
    assert cli("overrides", "remove", str(listed[0]["id"])).returncode == 0
    assert json.loads(cli("overrides", "list", "--json").stdout)["overrides"] == []
    store = cli.store()
    assert [e.action for e in store.audit.list()] == ["override.remove", "override.add"]
    store.close()


def test_overrides_are_published_for_the_workers(cli: Cli) -> None:
    pytest.importorskip("admin.publish", reason="admin.publish (h/publish) is not merged")
    cli("overrides", "add", "deny", "games.test")
    assert (cli.state / "operator").is_dir()


def test_bad_override_input_exits_1_naming_the_field(cli: Cli) -> None:
    run = cli("overrides", "add", "deny", "bad..name")
    assert run.returncode == 1 and run.stderr.startswith("straja: name: ")
    run = cli("overrides", "add", "deny", "x.test", "--expires", "soon")
    assert run.returncode == 2 and "neither a duration" in run.stderr


def test_the_transparency_report_as_csv_and_json(tmp_path: Path, db_url: str) -> None:
    cli = Cli(tmp_path, db_url, lists=[
        {"id": "hotline", "source": "hotline.sl", "tier": "mandatory", "category": "csam",
         "keys": ["RWQ" + "A" * 53]}])
    store = cli.store()
    store.migrate()
    store.stats.add([
        RollupDelta(datetime(2026, 3, 1, 10, 15, tzinfo=UTC), "blocked", 3, "hotline",
                    "mandatory"),
        RollupDelta(datetime(2026, 3, 2, 23, 59, tzinfo=UTC), "blocked", 4, "hotline",
                    "mandatory"),
        RollupDelta(datetime(2026, 3, 2, 1, 0, tzinfo=UTC), "queries", 99)])
    store.close()
    run = cli("report", "transparency", "--from", "2026-03-01", "--to", "2026-03-02",
              "--format", "csv")
    assert run.returncode == 0, run.stderr
    assert list(csv.DictReader(io.StringIO(run.stdout))) == [
        {"day": "2026-03-01", "list": "hotline", "category": "csam", "tier": "mandatory",
         "blocked": "3"},
        {"day": "2026-03-02", "list": "hotline", "category": "csam", "tier": "mandatory",
         "blocked": "4"}]
    run = cli("report", "transparency", "--from", "2026-03-02", "--to", "2026-03-02",
              "--format", "json")
    data = json.loads(run.stdout)
    assert data["rows"] == [{"day": "2026-03-02", "list": "hotline", "category": "csam",
                             "tier": "mandatory", "blocked": 4}]
    assert data["blocked_per_category"] == {"csam": 4}
    backwards = cli("report", "transparency", "--from", "2026-03-02", "--to", "2026-03-01")
    assert backwards.returncode == 1
