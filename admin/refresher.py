"""The daemon's list refresher: each list on its own `refresh:` schedule.

With `dns.workers: 1` it is a task on the worker's loop (its blocking work, fetching and
verifying, runs in a thread; compiling in a child process). With several workers it runs
in the supervisor's control process (admin.control). Either way it only writes state_dir; serving
processes pick changes up through the generation file.
"""

from __future__ import annotations

import asyncio
import logging
import random

from admin.config import Config
from blocklists.store import ListStore

log = logging.getLogger("straja.refresher")

TICK = 30.0  # how often we look for lists that are due


class Refresher:
    def __init__(self, config: Config) -> None:
        self.config = config

    def configure(self, config: Config) -> None:
        self.config = config

    async def run(self) -> None:
        """Refresh due lists until cancelled; the first pass right away (with a little jitter,
        so a fleet restarted together does not hit the publisher at the same second)."""
        await asyncio.sleep(random.uniform(0.5, 3.0))
        while True:
            config = self.config
            if config.lists:
                store = ListStore(config.state_path)
                from admin import listmanager  # fetching and verifying: not needed to serve

                try:
                    await asyncio.to_thread(listmanager.refresh_all, list(config.lists), store)
                except Exception:
                    log.exception("list refresh pass failed")
            await asyncio.sleep(TICK)
