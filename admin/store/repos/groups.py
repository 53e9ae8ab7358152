"""Client groups managed from the UI (the config file's groups are not stored here)."""

from __future__ import annotations

import builtins

from sqlalchemy import select

from admin.store.models import GroupRow
from admin.store.records import ManagedGroup
from admin.store.repos.base import Repo


def _record(row: GroupRow) -> ManagedGroup:
    return ManagedGroup(row.name, list(row.clients), list(row.lists), row.safe_search,
                        list(row.schedules))


class Groups(Repo):
    def put(self, group: ManagedGroup) -> ManagedGroup | None:
        """Create or replace a group; returns the previous version, if any."""
        with self._store.transaction() as s:
            row = s.get(GroupRow, group.name)
            before = None if row is None else _record(row)
            if row is None:
                row = GroupRow(name=group.name)
                s.add(row)
            row.clients = list(group.clients)
            row.lists = list(group.lists)
            row.safe_search = group.safe_search
            row.schedules = [dict(x) for x in group.schedules]
            return before

    def get(self, name: str) -> ManagedGroup | None:
        with self._store.transaction() as s:
            row = s.get(GroupRow, name)
            return None if row is None else _record(row)

    def remove(self, name: str) -> ManagedGroup | None:
        with self._store.transaction() as s:
            row = s.get(GroupRow, name)
            if row is None:
                return None
            record = _record(row)
            s.delete(row)
            return record

    def list(self) -> builtins.list[ManagedGroup]:
        with self._store.transaction() as s:
            return [_record(r) for r in s.scalars(select(GroupRow).order_by(GroupRow.name))]
