"""The audit log: who changed what, when, and the value before and after."""

from __future__ import annotations

import builtins
from typing import Any

from sqlalchemy import func, select

from admin.store.models import AuditRow
from admin.store.records import AuditEntry
from admin.store.repos.base import Repo, utcnow


def _entry(row: AuditRow) -> AuditEntry:
    return AuditEntry(row.id, row.at, row.actor, row.action, row.target, row.before, row.after)


class Audit(Repo):
    def record(self, actor: str, action: str, target: str, before: Any, after: Any
               ) -> AuditEntry:
        """Add an entry; inside a Store.transaction it commits with the change it records."""
        with self._store.transaction() as s:
            row = AuditRow(node_id=self.node_id, at=utcnow(), actor=actor, action=action,
                           target=target, before=before, after=after)
            s.add(row)
            s.flush()
            return _entry(row)

    def list(self, limit: int = 100, offset: int = 0) -> builtins.list[AuditEntry]:
        """Newest first."""
        with self._store.transaction() as s:
            rows = s.scalars(select(AuditRow).order_by(AuditRow.id.desc())
                             .limit(limit).offset(offset))
            return [_entry(r) for r in rows]

    def count(self) -> int:
        with self._store.transaction() as s:
            return int(s.scalar(select(func.count()).select_from(AuditRow)) or 0)
