"""Keeping a worker's policy in step with the active lists in state_dir.

Activation (CLI or daemon) renames a new file into place and bumps `lists/generation`; every
serving process polls that file's mtime once a second and remaps. One stat a second costs
nothing, and works on OpenWrt where inotify tooling is missing.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from pathlib import Path

from blocklists.spec import ListSpec
from blocklists.store import ListStore, open_active
from blocklists.trie import CompiledList
from resolver.core import Resolver
from resolver.policy import policy_factory
from resolver.settings import LocalSettings

log = logging.getLogger("straja.lists")

POLL_INTERVAL = 1.0


class ListWatcher:
    """Opens the active lists, hands the resolver a new Policy, and remaps on every change."""

    def __init__(self, resolver: Resolver, state_dir: Path) -> None:
        self.resolver = resolver
        self.store = ListStore(state_dir)
        self.specs: Sequence[ListSpec] = ()
        self.local = LocalSettings()
        self.opened: dict[str, CompiledList] = {}
        self.stamp = -1.0
        self.missing_mandatory: list[str] = []

    def configure(self, state_dir: Path, specs: Sequence[ListSpec], local: LocalSettings) -> None:
        """Take a (re)loaded config; the lists are remapped only if their part changed."""
        unchanged = (state_dir, list(specs), local) == (
            self.store.root.parent, list(self.specs), self.local
        )
        if unchanged and self.stamp >= 0:  # loaded before, and nothing of ours changed
            return
        self.store = ListStore(state_dir)
        self.specs = list(specs)
        self.local = local
        self.load()

    def load(self) -> None:
        """(Re)open every active list and swap the policy; old maps close after the swap."""
        self.stamp = self.store.generation_stamp()
        opened = open_active(self.store, self.specs)
        old = self.opened
        self.opened = opened
        self.resolver.set_policy_factory(policy_factory(self.specs, opened, self.local))
        for lst in old.values():
            lst.close()
        self.missing_mandatory = [
            s.id for s in self.specs if s.tier == "mandatory" and s.id not in opened
        ]
        for list_id in self.missing_mandatory:
            log.error(
                "MANDATORY LIST %s HAS NO ACTIVE VERSION AND IS NOT ENFORCED; "
                "run `straja lists update` or import it (see `straja lists status`)",
                list_id,
            )
        summary = ", ".join(f"{i} serial {lst.header.serial}" for i, lst in opened.items())
        log.info("policy generation %d: %s", self.resolver.generation, summary or "no lists")

    async def run(self) -> None:
        """Poll the generation file (and the resolver's own files) until cancelled."""
        while True:
            await asyncio.sleep(POLL_INTERVAL)
            self.resolver.poll_files()
            stamp = self.store.generation_stamp()
            if stamp != self.stamp:
                try:
                    self.load()
                except Exception:
                    log.exception("remapping the lists failed; the previous policy stays")

    def close(self) -> None:
        for lst in self.opened.values():
            lst.close()
        self.opened = {}
