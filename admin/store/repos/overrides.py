"""Allow and deny overrides managed from the UI, the API and `straja overrides`."""

from __future__ import annotations

import builtins
from datetime import datetime

from sqlalchemy import delete, or_, select

from admin.store.errors import Conflict
from admin.store.models import OverrideRow
from admin.store.records import Override
from admin.store.repos.base import Repo, utcnow


def _record(row: OverrideRow) -> Override:
    return Override(row.id, row.kind, row.name, row.comment, row.expires, row.created_by,
                    row.created)


class Overrides(Repo):
    def add(self, kind: str, name: str, *, comment: str = "", expires: datetime | None = None,
            created_by: str) -> Override:
        with self._store.transaction() as s:
            exists = s.scalar(select(OverrideRow.id).where(OverrideRow.kind == kind,
                                                           OverrideRow.name == name))
            if exists is not None:
                raise Conflict(f"{name} has a {kind} override already (id {exists})")
            row = OverrideRow(kind=kind, name=name, comment=comment, expires=expires,
                              created_by=created_by, created=utcnow())
            s.add(row)
            s.flush()
            return _record(row)

    def get(self, override_id: int) -> Override | None:
        with self._store.transaction() as s:
            row = s.get(OverrideRow, override_id)
            return None if row is None else _record(row)

    def remove(self, override_id: int) -> Override | None:
        """Delete one; returns what it was, or None when there was none."""
        with self._store.transaction() as s:
            row = s.get(OverrideRow, override_id)
            if row is None:
                return None
            record = _record(row)
            s.delete(row)
            return record

    def list(self, *, include_expired: bool = False) -> builtins.list[Override]:
        with self._store.transaction() as s:
            query = select(OverrideRow).order_by(OverrideRow.name, OverrideRow.kind)
            if not include_expired:
                query = query.where(or_(OverrideRow.expires.is_(None),
                                        OverrideRow.expires > utcnow()))
            return [_record(r) for r in s.scalars(query)]

    def purge_expired(self) -> int:
        with self._store.transaction() as s:
            result = s.execute(delete(OverrideRow).where(OverrideRow.expires <= utcnow()))
            return int(result.rowcount or 0)  # type: ignore[attr-defined]
