"""The opt-in query log. The entries arrive already anonymised to the configured level;
this repository stores and purges them."""

from __future__ import annotations

import builtins
from collections.abc import Iterable
from datetime import datetime

from sqlalchemy import delete, select

from admin.store.models import QueryLogRow
from admin.store.records import QueryLogEntry
from admin.store.repos.base import Repo


class QueryLog(Repo):
    def add(self, entries: Iterable[QueryLogEntry]) -> int:
        with self._store.transaction() as s:
            rows = [QueryLogRow(node_id=self.node_id, at=e.at, client=e.client, name=e.name,
                                qtype=e.qtype, action=e.action, rcode=e.rcode,
                                list_id=e.list_id, tier=e.tier) for e in entries]
            s.add_all(rows)
            return len(rows)

    def list(self, limit: int = 100, offset: int = 0, *, name: str | None = None,
             client: str | None = None, since: datetime | None = None
             ) -> builtins.list[QueryLogEntry]:
        """This node's entries, newest first, optionally for one name or client."""
        with self._store.transaction() as s:
            query = select(QueryLogRow).where(QueryLogRow.node_id == self.node_id)
            if name is not None:
                query = query.where(QueryLogRow.name == name)
            if client is not None:
                query = query.where(QueryLogRow.client == client)
            if since is not None:
                query = query.where(QueryLogRow.at >= since)
            rows = s.scalars(query.order_by(QueryLogRow.at.desc(), QueryLogRow.id.desc())
                             .limit(limit).offset(offset))
            return [QueryLogEntry(r.at, r.client, r.name, r.qtype, r.action, r.rcode,
                                  r.list_id, r.tier) for r in rows]

    def purge(self, before: datetime) -> int:
        with self._store.transaction() as s:
            result = s.execute(delete(QueryLogRow).where(QueryLogRow.node_id == self.node_id,
                                                         QueryLogRow.at < before))
            return int(result.rowcount or 0)  # type: ignore[attr-defined]
