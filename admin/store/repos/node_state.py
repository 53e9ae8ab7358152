"""Small per-node bookmarks kept in the database (e.g. the reports.jsonl import offset)."""

from __future__ import annotations

from admin.store.models import NodeStateRow
from admin.store.repos.base import Repo


class NodeState(Repo):
    def get(self, key: str) -> str | None:
        with self._store.transaction() as s:
            row = s.get(NodeStateRow, (self.node_id, key))
            return None if row is None else row.value

    def set(self, key: str, value: str) -> None:
        with self._store.transaction() as s:
            row = s.get(NodeStateRow, (self.node_id, key))
            if row is None:
                s.add(NodeStateRow(node_id=self.node_id, key=key, value=value))
            else:
                row.value = value
