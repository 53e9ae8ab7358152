"""The store at run time, on the control side: the database thread (which migrates first,
and keeps retrying while the database is unreachable), the rollups, the mirrors of
state_dir, the purges, and the operator state republished at start.

Started once DNS answers; nothing here is ever awaited by the DNS path. A database that
is locked, full or gone leaves DNS serving and the rollups waiting in the bounded buffer.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

from admin.config import Config

if TYPE_CHECKING:
    from admin.query_log import MemoryQueryLog
    from admin.rollups import Rollups
    from admin.store import Store
    from admin.store.dbthread import DbThread

log = logging.getLogger("straja.store")

MIRROR_EVERY = 10.0
PURGE_EVERY = 3600.0
QUERY_LOG_EVERY = 5.0


class StoreService:
    """Owns the Store, its DbThread and the rollups task of one control process."""

    def __init__(self, config: Config, store: Store, db: DbThread, rollups: Rollups,
                 memory_log: MemoryQueryLog | None = None) -> None:
        self.config = config
        self.store = store
        self.db = db
        self.rollups = rollups
        # query_log.storage: memory, with the log on: the ring the UI's query log reads.
        self.memory_log = memory_log
        self._task: asyncio.Task[None] | None = None

    @classmethod
    async def start(cls, config: Config) -> StoreService:
        """Create everything and start. SQLAlchemy and Alembic are imported, and the
        spill file read, on a thread: with `workers: 1` this loop answers DNS meanwhile."""
        service = await asyncio.to_thread(cls._create, config)
        service._task = asyncio.get_running_loop().create_task(service._collect())
        return service

    @classmethod
    def _create(cls, config: Config) -> StoreService:
        from admin.rollups import Rollups
        from admin.store import Store, database_url
        from admin.store.dbthread import DbThread

        url = database_url(config)
        if url.startswith("sqlite:///"):
            config.state_path.mkdir(parents=True, exist_ok=True)
        store = Store(url, node_id=config.admin.node_id)
        db = DbThread(store, migrate=True, flush_interval=config.admin.flush_interval)
        rollups = Rollups(config.state_path, db)
        rollups.start()
        section = config.query_log
        memory_log = None
        if section.storage == "memory" and section.enabled:
            from admin.query_log import MemoryQueryLog

            memory_log = MemoryQueryLog(section.memory_entries)
            memory_log.take_over(config.state_path, section.level)
        service = cls(config, store, db, rollups, memory_log)
        service._schedule()
        return service

    def _schedule(self) -> None:
        from admin import changes
        from admin.mirror import import_reports, mirror_list_events
        from admin.query_log import ingest

        config = self.config
        state = config.state_path
        list_ids = [spec.id for spec in config.lists]
        published = False

        def publish_once(store: Store) -> None:
            nonlocal published
            if not published:  # the database's overrides, groups and pauses reach workers
                changes.publish(store, config)
                published = True

        def mirror(store: Store) -> None:
            mirror_list_events(store, state, list_ids)
            import_reports(store, state)

        def query_log(store: Store) -> None:
            ring = self.memory_log
            ingest(store if ring is None else ring, state, enabled=config.query_log.enabled,
                   level=config.query_log.level)

        def purge(store: Store) -> None:
            store.stats.purge()
            store.sessions.purge_expired()
            store.users.purge_failures()
            before = datetime.now(UTC) - timedelta(seconds=config.query_log.retention)
            store.query_log.purge(before)
            if self.memory_log is not None:
                self.memory_log.purge(before)

        # What writes to the database waits for admin.flush_interval like the rollups;
        # the query log kept in memory does not (no disk sees it).
        flush = config.admin.flush_interval
        self.db.every(MIRROR_EVERY, publish_once, "publish", first=0)
        self.db.every(max(MIRROR_EVERY, flush), mirror, "mirror", first=0)
        in_ram = self.memory_log is not None
        self.db.every(QUERY_LOG_EVERY if in_ram else max(QUERY_LOG_EVERY, flush),
                      query_log, "query log", first=0)
        self.db.every(PURGE_EVERY, purge, "purge", first=60)

    async def _collect(self) -> None:
        from admin.rollups import INTERVAL

        while True:
            await asyncio.sleep(INTERVAL)
            try:
                self.rollups.collect()
            except Exception:  # noqa: BLE001 - the next turn tries again; DNS is not affected
                log.exception("rollups: collecting the counters failed")

    async def stop(self) -> None:
        """Stop collecting, write or spill what is pending, close the engine."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        await asyncio.to_thread(self.rollups.stop)
        if self.memory_log is not None:
            self.memory_log.hand_over(self.config.state_path)
        self.store.close()
