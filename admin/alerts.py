"""Alerts: a webhook POST and/or an email when something needs the operator.

They fire when a mandatory list is missing, refused, stale or expired, when every upstream
is down, and when the database has been unreachable for `alerts.database_grace`. A
condition fires when it appears, repeats every `alerts.repeat` while it lasts, and sends
`resolved` when it clears; the state is kept in `state_dir/run/alerts.json`, so a restarted
control process (every SIGHUP) does not fire again what it already told. Delivery never
raises: a webhook or mail server that fails is logged, and nothing else is affected.

Runs in the control process (or the single process with `dns.workers: 1`), reading
state_dir like the metrics do. The database's health is a callable handed in
(`lambda: db.healthy`), so this module needs no import of the store.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import socket
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from admin import health, stats
from blocklists.store import ListStore

if TYPE_CHECKING:
    from admin.config import Config

log = logging.getLogger("straja.alerts")

CHECK_INTERVAL = 15.0  # seconds between two looks at the state
FIRST_CHECK_DELAY = 5.0  # after start, so the refresher's first pass can run first


@dataclass(slots=True)
class EmailSettings:
    """`alerts.email:` send each alert event by SMTP."""

    host: str = ""
    port: int = 25
    from_: str = field(default="", metadata={"key": "from"})
    to: list[str] = field(default_factory=list)
    starttls: bool = False
    username: str | None = None
    password: str | None = field(default=None, metadata={"secret": True})
    timeout: float = field(default=10.0, metadata={"unit": "duration"})

    def validate(self) -> None:
        if not self.host:
            raise ValueError("host is missing: name the SMTP server, e.g. host: mail.example.org")
        if not 0 < self.port <= 65535:
            raise ValueError(f"port {self.port} is not a TCP port from 1 to 65535")
        if not self.from_ or "@" not in self.from_:
            raise ValueError("from must be the sender's address, e.g. from: straja@example.org")
        if not self.to or any("@" not in a for a in self.to):
            raise ValueError("to must list the recipients' addresses, e.g. to: [it@example.org]")
        if (self.username is None) != (self.password is None):
            raise ValueError("username and password go together: give both or neither")
        if self.password is not None and not self.starttls and not _is_loopback(self.host):
            raise ValueError("a password is only sent over an encrypted connection: set "
                             "starttls: true (or use an SMTP relay on this machine)")


@dataclass(slots=True)
class AlertSettings:
    """`alerts:` where alert events go (none by default) and how often they repeat."""

    # A URL that receives each event as a JSON POST. Secret: a webhook's path is usually
    # the token that lets anyone post to it (Slack, Teams, Discord, ntfy).
    webhook: str | None = field(default=None, metadata={"secret": True})
    email: EmailSettings | None = None
    repeat: float = field(default=3600.0, metadata={"unit": "duration"})
    database_grace: float = field(default=300.0, metadata={"unit": "duration"})

    def validate(self) -> None:
        if self.webhook is not None and not self.webhook.startswith(("https://", "http://")):
            raise ValueError(f"webhook {self.webhook!r} must be an http:// or https:// URL")
        if self.repeat < 60:
            raise ValueError("repeat must be at least 1m")

    @property
    def enabled(self) -> bool:
        return self.webhook is not None or self.email is not None


def _is_loopback(host: str) -> bool:
    return host in ("localhost", "::1") or host.startswith("127.")


@dataclass(frozen=True)
class Condition:
    """Something that is wrong now: `alert` names its kind, `key` this one occurrence."""

    key: str
    alert: str  # mandatory_list_missing|refused|stale|expired, upstreams_down, database_unreachable
    message: str
    list_id: str | None = None


_LIST_MESSAGES = {
    health.MISSING: "Mandatory list {id} has no active version, so it is NOT ENFORCED. "
                    "Check `straja lists status` and the list's source.",
    health.REFUSED: "Mandatory list {id}: its latest version was refused ({refusal}); the "
                    "active version keeps serving.",
    health.STALE: "Mandatory list {id} has not been brought up to date since {updated}; the "
                  "last error was: {error}.",
    health.EXPIRED: "Mandatory list {id} expired at {expires}; it is still enforced, but no "
                    "newer version has arrived.",
}


def _iso(ts: float | None) -> str | None:
    return None if ts is None else datetime.fromtimestamp(ts, UTC).isoformat(timespec="seconds")


def list_conditions(config: Config, now: float) -> list[Condition]:
    """A condition for each problem of each mandatory list."""
    found = []
    for h in health.list_health(config.lists, ListStore(config.state_path), now):
        if h.tier != "mandatory":
            continue
        for problem in h.problems:
            message = _LIST_MESSAGES[problem].format(
                id=h.list_id, refusal=h.last_refusal or "no reason recorded",
                updated=_iso(h.last_update), error=h.last_error or "none recorded",
                expires=_iso(h.expires),
            )
            found.append(Condition(f"mandatory_list_{problem}:{h.list_id}",
                                   f"mandatory_list_{problem}", message, h.list_id))
    return found


def upstream_conditions(config: Config) -> list[Condition]:
    """`upstreams_down` while every configured upstream is down in every worker."""
    total = stats.totals(config.state_path)
    states = health.upstream_states(total, [str(u) for u in config.upstreams])
    if total["workers"] and states and all(s == "down" for s in states.values()):
        names = ", ".join(states)
        return [Condition("upstreams_down", "upstreams_down",
                          f"Every upstream is down ({names}): queries that are not in the "
                          "cache get SERVFAIL or a stale answer.")]
    return []


class Alerts:
    """Watches the conditions and sends events on change (see the module's docstring)."""

    def __init__(self, config: Config, db_healthy: Callable[[], bool] | None = None,
                 interval: float = CHECK_INTERVAL) -> None:
        self.config = config
        self.db_healthy = db_healthy
        self.interval = interval
        self.db_down_since: float | None = None
        self.node = socket.gethostname()
        self.active: dict[str, dict[str, Any]] = self._load()
        self.failed_deliveries = 0

    def configure(self, config: Config) -> None:
        self.config = config

    @property
    def state_path(self) -> Path:
        return stats.run_dir(self.config.state_path) / "alerts.json"

    def _load(self) -> dict[str, dict[str, Any]]:
        try:
            data = json.loads(self.state_path.read_text())
        except (OSError, ValueError):
            return {}
        return {k: v for k, v in data.items() if isinstance(v, dict)} if isinstance(data, dict) \
            else {}

    def _save(self) -> None:
        path = self.state_path
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            tmp = path.with_suffix(".tmp")
            tmp.write_text(json.dumps(self.active, indent=1, sort_keys=True))
            os.replace(tmp, path)
        except OSError as exc:
            log.warning("cannot keep the alert state in %s: %s", path, exc)

    def database_conditions(self, now: float) -> list[Condition]:
        if self.db_healthy is None:
            return []
        try:
            healthy = bool(self.db_healthy())
        except Exception:  # noqa: BLE001 - a broken probe means we cannot tell: unhealthy
            healthy = False
        if healthy:
            self.db_down_since = None
            return []
        if self.db_down_since is None:
            self.db_down_since = now
        grace = self.config.alerts.database_grace
        if now - self.db_down_since < grace:
            return []
        return [Condition("database_unreachable", "database_unreachable",
                          f"The database has been unreachable since {_iso(self.db_down_since)};"
                          " DNS answers on, statistics wait in a bounded buffer.")]

    def conditions(self, now: float) -> list[Condition]:
        """Everything that is wrong now (reads a few small files: run it off the loop)."""
        return (list_conditions(self.config, now) + upstream_conditions(self.config)
                + self.database_conditions(now))

    def events(self, current: list[Condition], now: float) -> list[dict[str, Any]]:
        """The events to send for the conditions seen now, updating the remembered state."""
        out = []
        repeat = self.config.alerts.repeat
        seen = set()
        for cond in current:
            seen.add(cond.key)
            state = self.active.get(cond.key)
            if state is None:
                state = self.active[cond.key] = {"since": now, "sent": now,
                                                 "alert": cond.alert, "list": cond.list_id}
                out.append(self._event(cond.alert, "firing", cond.message, cond.list_id, state))
            elif now - float(state.get("sent", 0)) >= repeat:
                state["sent"] = now
                out.append(self._event(cond.alert, "firing", cond.message, cond.list_id, state))
        for key in [k for k in self.active if k not in seen]:
            state = self.active.pop(key)
            alert = str(state.get("alert", key.partition(":")[0]))
            out.append(self._event(alert, "resolved", _resolved_message(alert, state.get("list")),
                                   state.get("list"), state))
        if out:
            self._save()
        return out

    def _event(self, alert: str, state: str, message: str, list_id: object,
               memory: dict[str, Any]) -> dict[str, Any]:
        return {
            "source": "straja", "node": self.node, "alert": alert, "state": state,
            "list": list_id, "message": message, "since": _iso(float(memory["since"])),
            "at": _iso(time.time()),
        }  # fmt: skip

    async def check(self) -> list[dict[str, Any]]:
        """One look at the state; sends what changed and returns it."""
        if not self.config.alerts.enabled:
            return []
        now = time.time()
        current = await asyncio.to_thread(self.conditions, now)
        events = self.events(current, now)
        for event in events:
            log.warning("alert %s: %s", event["state"], event["message"])
            await self.deliver(event)
        return events

    async def deliver(self, event: dict[str, Any]) -> None:
        """Send one event to every configured target; failures are logged and counted."""
        settings = self.config.alerts
        if settings.webhook is not None:
            try:
                await post_webhook(settings.webhook, event)
            except Exception as exc:  # noqa: BLE001 - a receiver's failure is never ours
                self.failed_deliveries += 1
                log.warning("alert webhook %s failed: %s", _safe_url(settings.webhook),
                            _describe(exc))
        if settings.email is not None:
            try:
                await asyncio.to_thread(send_email, settings.email, event)
            except Exception as exc:  # noqa: BLE001
                self.failed_deliveries += 1
                log.warning("alert email through %s:%d failed: %s", settings.email.host,
                            settings.email.port, _describe(exc))

    async def run(self) -> None:
        """Check every `interval` seconds until cancelled."""
        await asyncio.sleep(min(FIRST_CHECK_DELAY, self.interval))
        while True:
            try:
                await self.check()
            except Exception:
                log.exception("alert check failed")
            await asyncio.sleep(self.interval)


def _resolved_message(alert: str, list_id: object) -> str:
    if alert.startswith("mandatory_list_"):
        problem = alert[len("mandatory_list_"):]
        return f"Resolved: mandatory list {list_id} is no longer {problem}."
    if alert == "upstreams_down":
        return "Resolved: an upstream answers again."
    if alert == "database_unreachable":
        return "Resolved: the database is reachable again."
    return f"Resolved: {alert.replace('_', ' ')} is over."


def _describe(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}".rstrip(": ") if str(exc) else type(exc).__name__


def _safe_url(url: str) -> str:
    """The URL without a query string or user info (either may hold a secret)."""
    from urllib.parse import urlsplit

    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.hostname}{f':{parts.port}' if parts.port else ''}{parts.path}"


async def post_webhook(url: str, event: dict[str, Any], timeout: float = 10.0) -> None:
    """POST the event as JSON; raises on a network error or a status other than 2xx."""
    import aiohttp

    client_timeout = aiohttp.ClientTimeout(total=timeout)
    async with aiohttp.ClientSession(timeout=client_timeout) as session, \
            session.post(url, json=event) as response:
        if response.status // 100 != 2:
            raise RuntimeError(f"the receiver answered HTTP {response.status}")


def send_email(settings: EmailSettings, event: dict[str, Any]) -> None:
    """Send the event by SMTP (blocking: run it in a thread)."""
    import smtplib
    from email.message import EmailMessage

    message = EmailMessage()
    label = "RESOLVED" if event["state"] == "resolved" else "ALERT"
    subject = event["message"].split(". ")[0].rstrip(".")
    message["Subject"] = f"[straja {event['node']}] {label}: {subject}"
    message["From"] = settings.from_
    message["To"] = ", ".join(settings.to)
    message.set_content(f"{event['message']}\n\n{json.dumps(event, indent=2)}\n")
    with smtplib.SMTP(settings.host, settings.port, timeout=settings.timeout) as smtp:
        if settings.starttls:
            import ssl

            smtp.starttls(context=ssl.create_default_context())
        if settings.username is not None and settings.password is not None:
            smtp.login(settings.username, settings.password)
        smtp.send_message(message)
