"""What the admin app holds for its lifetime, in one place: `app[STATE]`."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from aiohttp import web

if TYPE_CHECKING:
    from admin.config import Config
    from admin.web.rendering import Templates
    from admin.web.views import Rule


@dataclass
class WebState:
    config: Config
    db: Any  # admin.store.dbthread.DbThread, or None when this process has no database
    templates: Templates
    clock: Callable[[], float]
    tls: bool = False
    # The query log's ring with query_log.storage: memory (admin.query_log.MemoryQueryLog).
    memory_log: Any = None
    rules: dict[tuple[str, str], Rule] = field(default_factory=dict)


STATE: web.AppKey[WebState] = web.AppKey("straja_state", WebState)
