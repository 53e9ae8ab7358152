"""The history of list versions on this node, mirrored from state_dir (which stays the
truth: the CLI activates lists with no daemon and no database)."""

from __future__ import annotations

import builtins
from datetime import datetime

from sqlalchemy import select

from admin.store.models import ListEventRow
from admin.store.records import ListEvent
from admin.store.repos.base import Repo


class ListEvents(Repo):
    def add(self, at: datetime, list_id: str, event: str, serial: int | None, reason: str = ""
            ) -> bool:
        """Record an event once: False when this node has it already."""
        with self._store.transaction() as s:
            exists = s.scalar(select(ListEventRow.id).where(
                ListEventRow.node_id == self.node_id, ListEventRow.list_id == list_id,
                ListEventRow.event == event, ListEventRow.at == at))
            if exists is not None:
                return False
            s.add(ListEventRow(node_id=self.node_id, at=at, list_id=list_id, event=event,
                               serial=serial, reason=reason))
            return True

    def list(self, list_id: str | None = None, limit: int = 100) -> builtins.list[ListEvent]:
        """This node's events, newest first."""
        with self._store.transaction() as s:
            query = select(ListEventRow).where(ListEventRow.node_id == self.node_id)
            if list_id is not None:
                query = query.where(ListEventRow.list_id == list_id)
            rows = s.scalars(query.order_by(ListEventRow.at.desc(), ListEventRow.id.desc())
                             .limit(limit))
            return [ListEvent(r.at, r.list_id, r.event, r.serial, r.reason) for r in rows]
