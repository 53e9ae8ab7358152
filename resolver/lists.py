"""Keeping a worker's policy in step with the active lists and the published operator
state in state_dir.

Activation (CLI or daemon) renames a new file into place and bumps `lists/generation`; a
change published by the control side (resolver.operator_state) bumps
`operator/generation`. Every serving process stats both files once a second, in one loop,
and remaps the lists or re-reads the changed operator sections. Two stats a second cost
nothing, and work on OpenWrt where inotify tooling is missing.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import time
from collections.abc import Sequence
from pathlib import Path

from blocklists.spec import ListSpec
from blocklists.store import ListStore, open_active
from blocklists.trie import CompiledList
from resolver.core import Resolver
from resolver.operator_state import OperatorReader
from resolver.policy import policy_factory
from resolver.settings import LocalSettings

log = logging.getLogger("straja.lists")

POLL_INTERVAL = 1.0


class ListWatcher:
    """Opens the active lists, hands the resolver a new Policy, and remaps on every change;
    reads the published operator state and hands it over on every change too."""

    def __init__(self, resolver: Resolver, state_dir: Path) -> None:
        self.resolver = resolver
        self.store = ListStore(state_dir)
        self.operator = OperatorReader(state_dir)
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
        if state_dir != self.operator.state_dir or self.stamp < 0:
            self.operator = OperatorReader(state_dir)
            self.operator.refresh()
            self.resolver.operator = self.operator.state  # applied by load()'s rebuild
        self.store = ListStore(state_dir)
        self.specs = list(specs)
        self.local = local
        self.load()
        if self.operator.state.overrides or self.operator.state.groups or \
                self.operator.state.pauses:
            self._log_operator()

    def load(self) -> None:
        """(Re)open every active list and swap the policy; old maps close after the swap."""
        self.stamp = self.store.generation_stamp()
        opened = open_active(self.store, self.specs)
        old = self.opened
        self.opened = opened
        self.resolver.set_policy_source(functools.partial(policy_factory, self.specs, opened))
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

    def load_operator(self) -> None:
        """Re-read the changed operator sections and, if anything changed, rebuild."""
        if self.operator.refresh():
            self.resolver.set_operator_state(self.operator.state)
            self._log_operator()

    def _log_operator(self) -> None:
        state = self.operator.state
        log.info("operator state: %d overrides, %d managed groups, %d pauses "
                 "(policy generation %d)", len(state.overrides), len(state.groups),
                 len(state.pauses), self.resolver.generation)

    async def run(self) -> None:
        """Poll both generation files until cancelled."""
        while True:
            await asyncio.sleep(POLL_INTERVAL)
            self.poll()

    def poll(self) -> None:
        """One round of the poll: a stat per generation file, and work only on a change."""
        stamp = self.store.generation_stamp()
        if stamp != self.stamp:
            try:
                self.load()
            except Exception:
                log.exception("remapping the lists failed; the previous policy stays")
        if self.operator.changed():
            try:
                self.load_operator()
            except Exception:
                log.exception("reading the operator state failed; the previous state stays")
        if time.time() >= self.resolver.operator_deadline:
            # The resolver rebuilds at that moment on its next query; an idle worker, or a
            # wall clock that jumped ahead, is caught here.
            self.resolver.rebuild()

    def close(self) -> None:
        for lst in self.opened.values():
            lst.close()
        self.opened = {}
