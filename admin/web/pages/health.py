"""Health: mandatory lists that are missing, refused or expired (the red banner), each
upstream's state, the database, and the last `straja selftest` with a button to run it."""

from __future__ import annotations

import asyncio
import json
import os
import sys
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from aiohttp import web

from admin.web.state import STATE, WebState
from admin.web.views import Data, add_action, add_page
from blocklists.store import ListStore, clock_is_sane

SELFTEST_TIMEOUT = 60.0
RECENT = 300.0  # seconds of upstream results the state is judged on


def mandatory_problems(state: WebState, now: float) -> list[dict[str, str]]:
    """One entry per mandatory list that is missing, whose last candidate was refused
    after its last activation, or that has expired (still enforced, flagged)."""
    store = ListStore(state.config.state_path)
    problems = []
    for spec in state.config.lists:
        if spec.tier != "mandatory":
            continue
        status = store.status(spec.id)
        if not store.active_path(spec.id).exists():
            problems.append({"list": spec.id, "problem": "missing", "reason": ""})
            continue
        refusal = status.get("last_refusal") or {}
        if refusal and float(refusal.get("time", 0)) >= float(status.get("activated", 0)):
            problems.append({"list": spec.id, "problem": "refused",
                             "reason": str(refusal.get("reason", ""))})
        expires = status.get("expires")
        if expires and clock_is_sane(now) and now >= float(expires):
            problems.append({"list": spec.id, "problem": "expired", "reason": ""})
    return problems


def upstream_states(state: WebState) -> list[dict[str, Any]]:
    """Each configured upstream with its answers and failures of the last minutes, from the
    workers' per-upstream counters ("<upstream>|<result>")."""
    recent = state.sampler.recent("upstreams", RECENT)
    rows = []
    for upstream in state.config.upstreams:
        name = str(upstream)
        ok = sum(n for key, n in recent.items() if key == f"{name}|ok")
        failed = sum(n for key, n in recent.items()
                     if key.startswith(f"{name}|") and not key.endswith("|ok"))
        verdict = "up" if ok else ("down" if failed else "idle")
        rows.append({"upstream": name, "state": verdict, "ok": ok, "failed": failed})
    return rows


def database(state: WebState) -> Data:
    db = state.db
    if db is None:
        return {"connected": False, "healthy": False, "error": "not connected",
                "pending": 0, "overflowed": 0}
    return {"connected": True, "healthy": bool(getattr(db, "healthy", True)),
            "error": getattr(db, "last_error", None), "pending": getattr(db, "pending", 0),
            "overflowed": getattr(db, "overflowed", 0)}


def selftest_path(state: WebState) -> Path:
    return state.config.state_path / "run" / "selftest.json"


def last_selftest(state: WebState) -> Data | None:
    try:
        data = json.loads(selftest_path(state).read_text())
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


async def data(request: web.Request) -> Data:
    state = request.app[STATE]
    now = state.clock()
    problems = await asyncio.to_thread(mandatory_problems, state, now)
    return {"mandatory_problems": problems, "upstreams": upstream_states(state),
            "database": database(state),
            "selftest": await asyncio.to_thread(last_selftest, state)}


async def run_straja(config: Any, *args: str, timeout: float) -> tuple[int, str]:
    """Run a `straja` CLI command on this config in its own process; (exit code, output)."""
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "admin", *args, "--config", str(config.source),
        stdin=asyncio.subprocess.DEVNULL, stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT, env=dict(os.environ))
    try:
        out, _ = await asyncio.wait_for(proc.communicate(), timeout)
    except TimeoutError:
        proc.kill()
        await proc.wait()
        return 124, f"straja {args[0]} did not finish within {timeout:.0f} s"
    return proc.returncode or 0, out.decode("utf-8", "replace")[-8000:]


async def run_selftest(request: web.Request, fields: Mapping[str, str]) -> Data:
    state = request.app[STATE]
    code, output = await run_straja(state.config, "selftest", timeout=SELFTEST_TIMEOUT)
    result = {"at": time.time(), "code": code, "passed": code == 0, "output": output}
    path = selftest_path(state)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(result))
    os.replace(tmp, path)
    return result


def register(app: web.Application) -> None:
    page = add_page(app, "/health", "health.html", data, title="health_title")
    add_action(app, "/health/selftest", run_selftest, page=page, api="/selftest")
