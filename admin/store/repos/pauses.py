"""Paused filtering (operator and family tiers only; the change layer enforces that),
per group or for every group (group None)."""

from __future__ import annotations

import builtins
from datetime import datetime

from sqlalchemy import ColumnElement, delete, select

from admin.store.models import PauseRow
from admin.store.records import Pause
from admin.store.repos.base import Repo, utcnow


def _record(row: PauseRow) -> Pause:
    return Pause(row.group, row.until, row.by)


def _same_group(group: str | None) -> ColumnElement[bool]:
    return PauseRow.group.is_(None) if group is None else PauseRow.group == group


class Pauses(Repo):
    def set(self, group: str | None, until: datetime, by: str) -> Pause:
        """Pause `group` until `until`, replacing a pause it had."""
        with self._store.transaction() as s:
            s.execute(delete(PauseRow).where(_same_group(group)))
            row = PauseRow(group=group, until=until, by=by, created=utcnow())
            s.add(row)
            return _record(row)

    def remove(self, group: str | None) -> Pause | None:
        """End the pause of `group`; returns it, or None when it had none running."""
        with self._store.transaction() as s:
            row = s.scalar(select(PauseRow).where(_same_group(group),
                                                  PauseRow.until > utcnow()))
            s.execute(delete(PauseRow).where(_same_group(group)))
            return None if row is None else _record(row)

    def list(self) -> builtins.list[Pause]:
        """The pauses still running."""
        with self._store.transaction() as s:
            rows = s.scalars(select(PauseRow).where(PauseRow.until > utcnow())
                             .order_by(PauseRow.until))
            return [_record(r) for r in rows]
