"""What every repository shares: the store, its node id, and the clock."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from admin.store import Store


def utcnow() -> datetime:
    return datetime.now(UTC)


class Repo:
    def __init__(self, store: Store) -> None:
        self._store = store

    @property
    def node_id(self) -> str:
        return self._store.node_id
