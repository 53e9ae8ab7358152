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

SELFTEST_TIMEOUT = 60.0


def mandatory_problems(lists: list[dict[str, Any]]) -> list[dict[str, str]]:
    """One entry per problem of a mandatory list (missing, refused, stale, expired), from
    the lists' health that the metrics and the alerts read too (admin/health.py)."""
    return [{"list": h["id"], "problem": problem, "reason": h.get("last_refusal") or ""}
            for h in lists if h["tier"] == "mandatory" for problem in h["problems"]]


def upstream_rows(upstreams: dict[str, Any]) -> list[dict[str, Any]]:
    """Each upstream's state (up, failing, down, unknown) and its results since start."""
    rows = []
    for name, info in upstreams.items():
        results = info.get("results", {})
        ok = int(results.get("ok", 0))
        rows.append({"upstream": name, "state": info["state"], "ok": ok,
                     "failed": sum(int(n) for r, n in results.items() if r != "ok")})
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
    from admin.web.pages.dashboard import numbers

    state = request.app[STATE]
    figures = await asyncio.to_thread(numbers, state)
    return {"mandatory_problems": mandatory_problems(figures["lists"]),
            "upstreams": upstream_rows(figures["upstreams"]),
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
