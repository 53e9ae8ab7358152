"""What the control process knows about the lists and the upstreams, from state_dir alone.

The metrics' gauges, the dashboard's health numbers and the alerts all read this, so the
three never disagree. Lists come from their status files (blocklists/store.py), upstreams
from the workers' counter snapshots (admin/stats.py). Nothing here opens a database.
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from blocklists.spec import ListSpec
from blocklists.store import ListStore, clock_is_sane

# A list not brought up to date (activated, or checked and found current) for this many
# refresh intervals is stale: its publisher or the network has been failing for a while.
STALE_AFTER_REFRESHES = 3

# An upstream is down after this many consecutive failed exchanges in every worker.
DOWN_AFTER_FAILURES = 3

# List problems, in the words the alerts and the dashboard use.
MISSING = "missing"  # no active version: a mandatory list is not enforced
REFUSED = "refused"  # the latest candidate was refused (the active version keeps serving)
STALE = "stale"  # not updated for STALE_AFTER_REFRESHES refresh intervals
EXPIRED = "expired"  # the active version is past its expiry (still enforced)


@dataclass(frozen=True)
class ListHealth:
    """One configured list as the control process sees it in state_dir."""

    list_id: str
    tier: str
    active: bool
    serial: int | None
    entries: int | None
    last_update: float | None  # unix time it was last activated or found current
    expires: float | None
    refusals: Mapping[str, int]  # reason label -> count
    last_refusal: str | None
    last_error: str | None
    problems: tuple[str, ...]  # MISSING, REFUSED, STALE, EXPIRED

    def as_dict(self) -> dict[str, Any]:
        return {
            "id": self.list_id, "tier": self.tier, "active": self.active,
            "serial": self.serial, "entries": self.entries, "last_update": self.last_update,
            "expires": self.expires, "refusals": dict(self.refusals),
            "last_refusal": self.last_refusal, "last_error": self.last_error,
            "problems": list(self.problems),
        }  # fmt: skip


def _time_of(event: object) -> float | None:
    if isinstance(event, dict) and isinstance(event.get("time"), (int, float)):
        return float(event["time"])
    return None


def _reason_of(event: object) -> str | None:
    return str(event["reason"]) if isinstance(event, dict) and "reason" in event else None


def _number(value: object) -> float | None:
    return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else None


def list_health(specs: Sequence[ListSpec], store: ListStore,
                now: float | None = None) -> list[ListHealth]:
    """The health of every configured list, in config order."""
    now = time.time() if now is None else now
    found = []
    for spec in specs:
        st = store.status(spec.id)
        active = store.active_path(spec.id).exists()
        refused_at = _time_of(st.get("last_refusal"))
        failed_at = _time_of(st.get("last_error"))
        # A check that neither failed nor was refused in its second found the list current.
        checked = _number(st.get("last_check"))
        if checked is not None and checked in (refused_at, failed_at):
            checked = None
        times = [t for t in (_number(st.get("activated")), checked) if t is not None]
        last_update = max(times) if times and active else None
        expires = _number(st.get("expires"))
        refusals = st.get("refusal_kinds")
        refusals = dict(refusals) if isinstance(refusals, dict) else {}
        untold = int(st.get("refusals", 0) or 0) - sum(refusals.values())
        if untold > 0:  # counted before refusals were counted per kind
            refusals["other"] = refusals.get("other", 0) + untold
        problems = []
        if not active:
            problems.append(MISSING)
        if refused_at is not None and (last_update is None or refused_at >= last_update):
            problems.append(REFUSED)
        if (active and last_update is not None and clock_is_sane(now)
                and now - last_update > STALE_AFTER_REFRESHES * spec.refresh):
            problems.append(STALE)
        if active and expires is not None and clock_is_sane(now) and now >= expires:
            problems.append(EXPIRED)
        serial = st.get("serial")
        entries = st.get("entries")
        found.append(ListHealth(
            list_id=spec.id, tier=spec.tier, active=active,
            serial=int(serial) if active and isinstance(serial, int) else None,
            entries=int(entries) if active and isinstance(entries, int) else None,
            last_update=last_update, expires=expires, refusals=refusals,
            last_refusal=_reason_of(st.get("last_refusal")),
            last_error=_reason_of(st.get("last_error")), problems=tuple(problems),
        ))  # fmt: skip
    return found


def mandatory_deficit(lists: Sequence[ListHealth]) -> bool:
    """True while a mandatory list has no active version, so it is not enforced."""
    return any(h.tier == "mandatory" and not h.active for h in lists)


def upstream_states(totals: Mapping[str, Any],
                    configured: Sequence[str] = ()) -> dict[str, str]:
    """Each upstream's state from the summed snapshots: `up` (its last exchange worked in
    some worker), `failing` (failures, fewer than DOWN_AFTER_FAILURES), `down`, or
    `unknown` (no worker has reported it yet)."""
    health = totals.get("upstream_health")
    health = health if isinstance(health, dict) else {}
    states = {}
    for upstream in list(configured) + [u for u in health if u not in configured]:
        failures = health.get(upstream)
        if not isinstance(failures, int):
            states[upstream] = "unknown"
        elif failures == 0:
            states[upstream] = "up"
        elif failures < DOWN_AFTER_FAILURES:
            states[upstream] = "failing"
        else:
            states[upstream] = "down"
    return states
