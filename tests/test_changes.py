"""Changes as the UI and the CLI make them: validated, stored, audited with the value
before and after in the same transaction, on SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import yaml

from admin import changes
from admin.changes import ChangeRefused
from admin.config import Config, load_config_text
from admin.listmanager import update
from admin.store import Store
from admin.store.records import ManagedGroup
from blocklists.store import ListStore
from tests.listtools import Publisher


@pytest.fixture
def config(tmp_path: Path) -> Config:
    publisher = Publisher(tmp_path)
    law = publisher.compile("law", ["forbidden.example.test"], 1, tier="mandatory")
    ads = publisher.compile("ads", ["ads.example.test"], 1, tier="operator")
    text = yaml.safe_dump({
        "upstreams": ["127.0.0.2:53"],
        "state_dir": str(tmp_path / "state"),
        "lists": [{"id": "law", "source": str(law), "tier": "mandatory",
                   "keys": [publisher.key]},
                  {"id": "ads", "source": str(ads), "tier": "operator",
                   "keys": [publisher.key]}],
    })
    cfg = load_config_text(text, str(tmp_path / "straja.yaml"))
    lists = ListStore(cfg.state_path)
    for spec in cfg.lists:
        update(spec, lists)
    return cfg


@pytest.fixture
def store(db_url: str) -> Iterator[Store]:
    s = Store(db_url, node_id="node-a")
    s.migrate()
    yield s
    s.close()


def test_an_override_is_audited_with_before_and_after(store: Store, config: Config) -> None:
    added = changes.add_override(store, config, kind="allow", name="Ads.Example.TEST.",
                                 comment="the school needs it", actor="web:teacher")
    assert added.name == "ads.example.test"
    changes.remove_override(store, config, override_id=added.id, actor="cli:root")
    newest, oldest = store.audit.list()
    assert (oldest.actor, oldest.action, oldest.before) == ("web:teacher", "override.add", None)
    assert oldest.after["name"] == "ads.example.test"
    assert oldest.after["comment"] == "the school needs it"
    assert (newest.actor, newest.action, newest.after) == ("cli:root", "override.remove", None)
    assert newest.before["name"] == "ads.example.test"
    assert store.overrides.list() == []


def test_an_allow_for_a_mandatory_name_is_refused(store: Store, config: Config) -> None:
    with pytest.raises(ChangeRefused) as refused:
        changes.add_override(store, config, kind="allow", name="www.forbidden.example.test",
                             actor="web:teacher")
    assert refused.value.field == "name" and "mandatory list law" in str(refused.value)
    assert store.overrides.list() == [] and store.audit.list() == []


def test_a_deny_for_a_mandatory_name_is_fine(store: Store, config: Config) -> None:
    changes.add_override(store, config, kind="deny", name="forbidden.example.test",
                         actor="web:teacher")
    assert [o.kind for o in store.overrides.list()] == ["deny"]


def test_bad_override_input_names_the_field(store: Store, config: Config) -> None:
    cases = [({"kind": "maybe", "name": "x.test"}, "kind"),
             ({"kind": "deny", "name": "bad..name"}, "name"),
             ({"kind": "deny", "name": "x.test",
               "expires": datetime.now(UTC) - timedelta(minutes=1)}, "expires")]
    for kwargs, field in cases:
        with pytest.raises(ChangeRefused) as refused:
            changes.add_override(store, config, actor="web:teacher", **kwargs)
        assert refused.value.field == field
    changes.add_override(store, config, kind="deny", name="x.test", actor="a")
    with pytest.raises(ChangeRefused, match="already"):
        changes.add_override(store, config, kind="deny", name="x.test", actor="a")
    assert len(store.audit.list()) == 1


def test_a_failed_audit_write_rolls_the_change_back(store: Store, config: Config,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    def broken(*args: object, **kwargs: object) -> None:
        raise RuntimeError("the disk is full")

    monkeypatch.setattr(store.audit, "record", broken)
    with pytest.raises(RuntimeError):
        changes.add_override(store, config, kind="deny", name="x.test", actor="a")
    assert store.overrides.list() == []


def test_users_and_tokens_are_audited_without_secrets(store: Store, config: Config) -> None:
    changes.add_user(store, config, name="teacher", password="correct horse battery",
                     role="admin", actor="setup")
    changes.set_password(store, config, name="teacher", password="another long one",
                         actor="cli:root")
    info, secret = changes.create_token(store, config, name="grafana", scopes={"read"},
                                        actor="web:teacher")
    changes.revoke_token(store, config, token_id=info.id, actor="web:teacher")
    entries = store.audit.list()
    assert [e.action for e in entries] == ["token.revoke", "token.create", "user.password",
                                           "user.add"]
    text = repr(entries)
    for s in ("correct horse battery", "another long one", secret):
        assert s not in text


def test_user_input_is_checked(store: Store, config: Config) -> None:
    with pytest.raises(ChangeRefused) as short:
        changes.add_user(store, config, name="teacher", password="short", role="admin",
                         actor="x")
    assert short.value.field == "password"
    with pytest.raises(ChangeRefused) as role:
        changes.add_user(store, config, name="teacher", password="long enough pw",
                         role="root", actor="x")
    assert role.value.field == "role"
    with pytest.raises(ChangeRefused) as scopes:
        changes.create_token(store, config, name="t", scopes={"everything"}, actor="x")
    assert scopes.value.field == "scopes"


def test_the_last_admin_cannot_be_removed(store: Store, config: Config) -> None:
    changes.add_user(store, config, name="teacher", password="correct horse battery",
                     role="admin", actor="setup")
    with pytest.raises(ChangeRefused, match="last admin"):
        changes.remove_user(store, config, name="teacher", actor="x")
    changes.add_user(store, config, name="helper", password="correct horse battery",
                     role="admin", actor="setup")
    changes.remove_user(store, config, name="teacher", actor="x")
    assert [u.name for u in store.users.list()] == ["helper"]


def test_groups_cannot_take_mandatory_lists(store: Store, config: Config) -> None:
    with pytest.raises(ChangeRefused) as refused:
        changes.put_group(store, config, ManagedGroup("pupils", ["10.1.0.0/16"], ["law"]),
                          actor="x")
    assert refused.value.field == "lists"
    with pytest.raises(ChangeRefused) as bad_client:
        changes.put_group(store, config, ManagedGroup("pupils", ["not-a-client"], ["ads"]),
                          actor="x")
    assert bad_client.value.field == "clients[0]"
    changes.put_group(store, config, ManagedGroup("pupils", ["10.1.0.7/16"], ["ads"]),
                      actor="x")
    assert store.groups.list()[0].clients == ["10.1.0.0/16"]


def test_a_pause_lasts_5_30_or_60_minutes_and_is_audited(store: Store, config: Config) -> None:
    with pytest.raises(ChangeRefused) as refused:
        changes.pause(store, config, group=None, minutes=600, actor="x")
    assert refused.value.field == "minutes"
    paused = changes.pause(store, config, group=None, minutes=5, actor="web:teacher")
    assert paused.until > datetime.now(UTC) + timedelta(minutes=4)
    changes.resume(store, config, group=None, actor="web:teacher")
    assert [e.action for e in store.audit.list()] == ["pause.end", "pause.start"]
    assert store.pauses.list() == []


def test_allowing_a_report_adds_an_allow_override(store: Store, config: Config) -> None:
    report = store.reports.add(datetime.now(UTC), "ads.example.test", "ads")
    changes.resolve_report(store, config, report_id=report.id, action="allow", actor="x")
    assert [o.name for o in store.overrides.list()] == ["ads.example.test"]
    assert store.reports.list(state="allowed")[0].id == report.id
    mandatory = store.reports.add(datetime.now(UTC), "forbidden.example.test", "law")
    with pytest.raises(ChangeRefused):
        changes.resolve_report(store, config, report_id=mandatory.id, action="allow",
                               actor="x")
    changes.resolve_report(store, config, report_id=mandatory.id, action="keep", actor="x")
    assert store.reports.get(mandatory.id).state == "kept"  # type: ignore[union-attr]
