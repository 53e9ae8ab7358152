"""Groups: the config file's groups (read-only), groups managed here (clients by CIDR or
MAC, lists, schedules, safe search), and "pause filtering" for 5, 30 or 60 minutes per
group or for all. A pause lifts operator and family lists only, never mandatory ones; the
changes service enforces that and audits it."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from aiohttp import web

from admin.web.auth import actor
from admin.web.state import STATE
from admin.web.views import Data, FieldError, add_action, add_page, has_store, need, store_call

PAUSE_MINUTES = (5, 30, 60)


def _schedule_text(schedule: Any) -> str:
    """`mon,tue 08:00-15:00 games` from a record's dict or a config ScheduleSettings."""
    if isinstance(schedule, dict):
        days, start, end = schedule.get("days", []), schedule.get("from"), schedule.get("to")
        lists = schedule.get("lists", [])
    else:
        days, start, end, lists = schedule.days, schedule.start, schedule.end, schedule.lists
    return f"{','.join(days)} {start}-{end} {','.join(lists)}"


def config_groups(config: Any) -> list[Data]:
    return [{"name": g.name, "clients": [str(c) for c in g.clients], "lists": list(g.lists),
             "schedules": [_schedule_text(s) for s in g.schedules],
             "safe_search": g.safe_search.enabled, "read_only": True}
            for g in config.groups]


def parse_schedules(text: str) -> list[dict[str, Any]]:
    """Schedule lines `mon,tue 08:00-15:00 games,social` as the group record's dicts."""
    schedules = []
    for number, line in enumerate(text.splitlines(), 1):
        parts = line.split()
        if not parts:
            continue
        if len(parts) != 3 or "-" not in parts[1]:
            raise FieldError("schedules", f"schedules: line {number} ({line.strip()!r}) is "
                             "not 'days from-to lists', e.g. mon,tue 08:00-15:00 games.")
        start, _, end = parts[1].partition("-")
        schedules.append({"days": parts[0].split(","), "from": start, "to": end,
                          "lists": parts[2].split(",")})
    return schedules


def _split(text: str) -> list[str]:
    return [item.strip() for item in text.replace("\n", ",").split(",") if item.strip()]


async def data(request: web.Request) -> Data:
    config = request.app[STATE].config
    managed = pauses = None
    if has_store(request):
        managed = await store_call(request, lambda s: s.groups.list())
        pauses = await store_call(request, lambda s: s.pauses.list())
    managed_rows = None if managed is None else [
        {"name": g.name, "clients": list(g.clients), "lists": list(g.lists),
         "schedules": [_schedule_text(s) for s in g.schedules], "safe_search": g.safe_search,
         "read_only": False} for g in managed]
    choosable = [s.id for s in config.lists if s.tier != "mandatory"]
    return {"config_groups": config_groups(config), "groups": managed_rows, "pauses": pauses,
            "lists": choosable, "pause_minutes": list(PAUSE_MINUTES), "store": has_store(request)}


async def put(request: web.Request, fields: Mapping[str, str]) -> Data:
    from admin import changes
    from admin.store.records import ManagedGroup

    config = request.app[STATE].config
    name = need(fields, "name", "a group name")
    if name in {g.name for g in config.groups}:
        raise FieldError("name", f"name: the group {name!r} comes from the config file and "
                         "is read-only here.")
    group = ManagedGroup(name=name, clients=_split(fields.get("clients", "")),
                         lists=_split(fields.get("lists", "")),
                         safe_search=fields.get("safe_search", "") not in ("", "0", "false"),
                         schedules=parse_schedules(fields.get("schedules", "")))
    who = actor(request)
    await store_call(request, lambda s: changes.put_group(s, config, group, actor=who))
    return {"group": group}


async def remove(request: web.Request, fields: Mapping[str, str]) -> Data:
    from admin import changes

    config = request.app[STATE].config
    name = need(fields, "name", "a group name")
    who = actor(request)
    await store_call(request, lambda s: changes.remove_group(s, config, name=name, actor=who))
    return {"removed": name}


def _group_field(fields: Mapping[str, str]) -> str | None:
    return (fields.get("group") or "").strip() or None


async def pause(request: web.Request, fields: Mapping[str, str]) -> Data:
    from admin import changes

    raw = need(fields, "minutes", "5, 30 or 60")
    if not raw.isdigit() or int(raw) not in PAUSE_MINUTES:
        raise FieldError("minutes", f"minutes: {raw!r} is not one of 5, 30 or 60.")
    config = request.app[STATE].config
    group, who = _group_field(fields), actor(request)
    paused = await store_call(request, lambda s: changes.pause(
        s, config, group=group, minutes=int(raw), actor=who))
    return {"pause": paused}


async def resume(request: web.Request, fields: Mapping[str, str]) -> Data:
    from admin import changes

    config = request.app[STATE].config
    group, who = _group_field(fields), actor(request)
    await store_call(request, lambda s: changes.resume(s, config, group=group, actor=who))
    return {"resumed": group}


def register(app: web.Application) -> None:
    page = add_page(app, "/groups", "groups.html", data, title="groups_title")
    add_action(app, "/groups/put", put, page=page)
    add_action(app, "/groups/remove", remove, page=page)
    add_action(app, "/groups/pause", pause, page=page)
    add_action(app, "/groups/resume", resume, page=page)
