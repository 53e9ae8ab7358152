"""Lists: each list's active version and history from `state_dir/lists`, "update now", and
a search saying which list holds a name and which entry matches it. A hashed list carries
no names, so it answers only whether the exact name typed is listed (never a parent)."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping

from aiohttp import web

from admin.web import auth
from admin.web.pages.health import run_straja
from admin.web.state import STATE, WebState
from admin.web.views import Data, FieldError, add_action, add_page
from blocklists.errors import InvalidNameError, ListError
from blocklists.names import normalise_name
from blocklists.store import ListStore
from blocklists.trie import CompiledList, name_to_labels

UPDATE_TIMEOUT = 300.0


def list_rows(state: WebState) -> list[Data]:
    store = ListStore(state.config.state_path)
    rows = []
    for spec in state.config.lists:
        status = store.status(spec.id)
        active = store.active_path(spec.id).exists()
        signature = "none" if not active else ("verified" if spec.signed else "unsigned")
        refusal = status.get("last_refusal") or None
        error = status.get("last_error") or None
        rows.append({
            "id": spec.id, "tier": spec.tier, "category": spec.category, "active": active,
            "serial": status.get("serial") if active else None,
            "key_id": status.get("key_id"), "signature": signature,
            "issued": status.get("issued"), "expires": status.get("expires"),
            "activated": status.get("activated"), "last_check": status.get("last_check"),
            "last_refusal": refusal, "refusals": status.get("refusals", 0),
            "last_error": error, "entries": status.get("entries") if active else None,
        })
    return rows


def search(state: WebState, query: str) -> list[Data]:
    """The lists that hold `query` (normalised), each with its matching entry."""
    labels = name_to_labels(query)
    store = ListStore(state.config.state_path)
    found = []
    for spec in state.config.lists:
        path = store.active_path(spec.id)
        if not path.exists():
            continue
        try:
            lst = CompiledList.open(path)
        except ListError:
            continue
        try:
            ex = lst.explain(labels)
            hashed = lst.header.hashed
        finally:
            lst.close()
        if ex.verdict == "none":
            continue
        if hashed:
            if ex.depth != len(labels):
                continue  # a parent's entry would reveal a name nobody typed
            found.append({"list": spec.id, "tier": spec.tier, "verdict": ex.verdict,
                          "entry": None, "kind": ex.kind, "hashed": True})
            continue
        wildcard = ex.kind == "subtree" and ex.depth < len(labels)
        found.append({"list": spec.id, "tier": spec.tier, "verdict": ex.verdict,
                      "entry": ("*." if wildcard else "") + str(ex.matched),
                      "kind": ex.kind, "hashed": False})
    return found


async def data(request: web.Request) -> Data:
    state = request.app[STATE]
    result: Data = {"lists": await asyncio.to_thread(list_rows, state), "query": None,
                    "matches": None}
    raw = request.query.get("q", "").strip()
    if raw:
        try:
            query = normalise_name(raw)
        except InvalidNameError as exc:
            raise FieldError("q", f"q: {exc}") from None
        result["query"] = query
        result["matches"] = await asyncio.to_thread(search, state, query)
    return result


async def update_now(request: web.Request, fields: Mapping[str, str]) -> Data:
    state = request.app[STATE]
    only = (fields.get("list") or "").strip()
    args = ["lists", "update"]
    if only:
        if only not in {spec.id for spec in state.config.lists}:
            raise FieldError("list", f"list: no list with id {only!r} is configured.")
        args += ["--list", only]
    auth.log.info("%s asked to update %s", auth.actor(request), only or "every list")
    code, output = await run_straja(state.config, *args, timeout=UPDATE_TIMEOUT)
    return {"code": code, "updated": code == 0, "output": output}


def register(app: web.Application) -> None:
    page = add_page(app, "/lists", "lists.html", data, title="lists_title")
    add_action(app, "/lists/update", update_now, page=page)

