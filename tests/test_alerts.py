"""Alerts reach a real loopback webhook and a real loopback SMTP server, once per change."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Any

import pytest

from admin.alerts import Alerts
from admin.config import Config, load_config
from tests.listtools import Publisher, straja_cli
from tests.receivers import SmtpReceiver, WebhookReceiver, closed_port, wait_for


def write_config(tmp_path: Path, pub: Publisher, alerts: dict[str, Any],
                 upstreams: str = "[127.0.0.1]") -> Path:
    import yaml

    path = tmp_path / "straja.yaml"
    path.write_text(yaml.safe_dump({
        "upstreams": yaml.safe_load(upstreams),
        "state_dir": str(tmp_path / "state"),
        "lists": [{"id": "hotline", "source": str(tmp_path / "not-here-yet.sl"),
                   "tier": "mandatory", "keys": [pub.key]}],
        "alerts": alerts,
    }))
    return path


def email_to(smtp: SmtpReceiver) -> dict[str, Any]:
    return {"host": "127.0.0.1", "port": smtp.port, "from": "straja@school.test",
            "to": ["it@school.test"]}


def check(alerts: Alerts) -> list[dict[str, Any]]:
    return asyncio.run(alerts.check())


@pytest.mark.parametrize("workers", [1, 2])  # the single process; the control process
def test_a_missing_mandatory_list_reaches_the_webhook_and_the_mailbox_from_serve(
    straja_factory, unbound, tmp_path, workers
) -> None:
    pub = Publisher(tmp_path)
    with WebhookReceiver() as hook, SmtpReceiver() as smtp:
        straja_factory({
            "upstreams": [unbound.address],
            "dns": {"workers": workers},
            "lists": [{"id": "hotline", "source": str(tmp_path / "absent.sl"),
                       "tier": "mandatory", "keys": [pub.key]}],
            "alerts": {"webhook": hook.url, "email": email_to(smtp)},
        })
        wait_for(lambda: hook.events and smtp.mails)
        time.sleep(2)  # a second sender (a worker as well as the control process) would show
        assert len(hook.events) == 1 and len(smtp.mails) == 1
        event = hook.events[0]
        assert (event["alert"], event["state"], event["list"]) == \
            ("mandatory_list_missing", "firing", "hotline")
        assert "NOT ENFORCED" in event["message"]
        mail = smtp.mails[0]
        assert mail["to"] == ["<it@school.test>"]
        assert "ALERT" in mail["message"]["Subject"] and "hotline" in mail["message"]["Subject"]
        assert "mandatory_list_missing" in mail["message"].get_payload()


def test_an_alert_fires_once_repeats_late_and_resolves_when_the_list_arrives(tmp_path) -> None:
    pub = Publisher(tmp_path)
    with WebhookReceiver() as hook, SmtpReceiver() as smtp:
        path = write_config(tmp_path, pub, {"webhook": hook.url, "email": email_to(smtp)})
        alerts = Alerts(load_config(path))
        assert [e["alert"] for e in check(alerts)] == ["mandatory_list_missing"]
        assert check(alerts) == []  # still missing: told already, nothing new
        # A restarted control process (every SIGHUP) remembers what it told.
        assert check(Alerts(load_config(path))) == []
        later = alerts.events(alerts.conditions(0), now=10**10)  # past alerts.repeat
        assert [(e["alert"], e["state"]) for e in later] == [("mandatory_list_missing", "firing")]

        lst = pub.compile("hotline", ["csam.example.test"], 1, tier="mandatory")
        assert straja_cli("lists", "import", str(lst), "--config", str(path)).returncode == 0
        resolved = check(alerts)
        assert [(e["alert"], e["state"]) for e in resolved] == \
            [("mandatory_list_missing", "resolved")]
        wait_for(lambda: len(hook.events) == 2 and len(smtp.mails) == 2)
        assert [e["state"] for e in hook.events] == ["firing", "resolved"]
        assert "RESOLVED" in smtp.mails[1]["message"]["Subject"]

        older = pub.compile("hotline", ["csam.example.test"], 0, tier="mandatory")
        refused = straja_cli("lists", "import", str(older), "--config", str(path))
        assert refused.returncode == 1
        fired = check(alerts)
        assert [(e["alert"], e["list"]) for e in fired] == [("mandatory_list_refused", "hotline")]
        assert "rollback" in fired[0]["message"]


def test_an_expired_mandatory_list_alerts(tmp_path) -> None:

    pub = Publisher(tmp_path)
    with WebhookReceiver() as hook:
        path = write_config(tmp_path, pub, {"webhook": hook.url})
        soon = int(time.time()) + 120  # far enough that the import and check come first
        lst = pub.compile("hotline", ["csam.example.test"], 1, tier="mandatory", expires=soon)
        assert straja_cli("lists", "import", str(lst), "--config", str(path)).returncode == 0
        alerts = Alerts(load_config(path))
        assert check(alerts) == []
        fired = alerts.events(alerts.conditions(soon + 1), now=soon + 1)
        assert [e["alert"] for e in fired] == ["mandatory_list_expired"]


def test_a_failing_webhook_breaks_nothing_and_the_email_still_goes(tmp_path) -> None:
    pub = Publisher(tmp_path)
    with WebhookReceiver(status=500) as broken, SmtpReceiver() as smtp:
        for url in (broken.url, f"http://127.0.0.1:{closed_port()}/hook"):
            path = write_config(tmp_path, pub, {"webhook": url, "email": email_to(smtp)})
            (tmp_path / "state" / "run" / "alerts.json").unlink(missing_ok=True)
            alerts = Alerts(load_config(path))
            assert [e["alert"] for e in check(alerts)] == ["mandatory_list_missing"]
            assert alerts.failed_deliveries == 1
        assert len(broken.events) == 1 and len(smtp.mails) == 2


def test_an_unreachable_database_alerts_only_after_its_grace_period(tmp_path) -> None:
    pub = Publisher(tmp_path)
    path = write_config(tmp_path, pub, {"webhook": "http://127.0.0.1:9/unused",
                                        "database_grace": "5m"})
    healthy = [True]
    alerts = Alerts(load_config(path), db_healthy=lambda: healthy[0])
    config: Config = alerts.config
    assert config.alerts.database_grace == 300
    assert alerts.database_conditions(1000) == []
    healthy[0] = False
    assert alerts.database_conditions(1000) == []  # just went away: give it time
    assert alerts.database_conditions(1299) == []
    assert [c.alert for c in alerts.database_conditions(1300)] == ["database_unreachable"]
    healthy[0] = True
    assert alerts.database_conditions(1301) == []
