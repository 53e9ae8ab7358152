"""The one thread all database I/O runs on, so no event loop that answers DNS (or serves
the UI) ever waits for SQLite's locks or a PostgreSQL server.

Rollups are handed over with `submit_rollups`, which never blocks: deltas are summed per
(minute, metric, list, tier, action, rcode) in a bounded buffer and written every couple
of seconds (`admin.flush_interval`; routers write every 10 minutes, to spare their flash).
Periodic jobs and migration retries run on their own short tick. While the database is
locked, full or gone, the buffer keeps them and the thread retries; what does not fit is
counted in `overflowed`. `healthy`, `last_error` and `unhealthy_since` tell the UI and the
alerts how the database is doing.
"""

from __future__ import annotations

import asyncio
import logging
import queue
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any, TypeVar

from sqlalchemy import text

from admin.settings import FLUSH_INTERVAL
from admin.store import Store
from admin.store.records import RollupDelta

log = logging.getLogger("straja.store")

T = TypeVar("T")
TICK = 2.0  # how often periodic jobs are looked at, and migrations retried
_BATCH_ROWS = 5000

_Key = tuple[datetime, str, str, str, str, str]


@dataclass(slots=True)
class _Job:
    fn: Callable[..., Any]
    args: tuple[Any, ...]
    kwargs: dict[str, Any]
    loop: asyncio.AbstractEventLoop
    future: asyncio.Future[Any]


@dataclass(slots=True)
class _Periodic:
    every: float
    fn: Callable[[Store], Any]
    name: str
    due: float


def describe_error(exc: BaseException) -> str:
    """A short sentence for an error, from the driver's own message: no SQL, no values."""
    orig = getattr(exc, "orig", None)
    message = str(orig if orig is not None else exc).strip().splitlines()
    return f"{type(orig or exc).__name__}: {message[0] if message else 'no message'}"


class DbThread:
    """Runs `fn(store, ...)` for `await db.call(fn, ...)` and writes rollups, on one thread."""

    def __init__(self, store: Store, *, max_pending: int = 10000,
                 flush_interval: float = FLUSH_INTERVAL, migrate: bool = False) -> None:
        """With `migrate`, the thread brings the schema up to date first (in a subprocess,
        see Store.ensure_current), and retries every TICK while the database is unreachable
        (DNS serves meanwhile). Rollups are written every `flush_interval` seconds, and all
        of them when the thread is closed."""
        self.store = store
        self.migrated = not migrate
        self.max_pending = max_pending
        self.flush_interval = flush_interval
        self.overflowed = 0
        self.healthy = True
        self.last_error: str | None = None
        self.unhealthy_since: float | None = None  # time.time() of the first failure
        self._jobs: queue.SimpleQueue[_Job | None] = queue.SimpleQueue()
        self._buffer: dict[_Key, int] = {}
        self._lock = threading.Lock()
        self._periodic: list[_Periodic] = []
        self._closed = threading.Event()
        self._thread = threading.Thread(target=self._run, name="straja-db", daemon=True)
        self._thread.start()

    # -- called from event loops ----------------------------------------------------------

    async def call(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        """Run `fn(store, *args, **kwargs)` on the database thread and await its result."""
        if self._closed.is_set():
            raise RuntimeError("the database thread is closed")
        loop = asyncio.get_running_loop()
        future: asyncio.Future[T] = loop.create_future()
        self._jobs.put(_Job(fn, args, kwargs, loop, future))
        return await future

    def submit_rollups(self, rows: Iterable[RollupDelta]) -> bool:
        """Queue deltas for writing; never blocks. False when some did not fit (counted)."""
        fitted = True
        with self._lock:
            for row in rows:
                key = (row.minute, row.metric, row.list_id, row.tier, row.action, row.rcode)
                if key in self._buffer:
                    self._buffer[key] += row.count
                elif len(self._buffer) < self.max_pending:
                    self._buffer[key] = row.count
                else:
                    self.overflowed += 1
                    fitted = False
        return fitted

    def every(self, seconds: float, fn: Callable[[Store], Any], name: str,
              first: float | None = None) -> None:
        """Run `fn(store)` on the thread every `seconds` (purges, mirrors), the first time
        after `first` seconds (default: `seconds`); a failure marks the database unhealthy
        and is retried at the next turn."""
        delay = seconds if first is None else first
        self._periodic.append(_Periodic(seconds, fn, name, time.monotonic() + delay))

    @property
    def pending(self) -> int:
        with self._lock:
            return len(self._buffer)

    def pending_rows(self) -> list[RollupDelta]:
        """A copy of what waits to be written, for readers that must not lag behind a long
        flush interval (the dashboard's chart). Called on this thread (inside a `call`),
        it sees each count either here or in the database, never both or neither."""
        with self._lock:
            items = list(self._buffer.items())
        return [RollupDelta(k[0], k[1], n, k[2], k[3], k[4], k[5]) for k, n in items]

    def take_pending(self) -> list[RollupDelta]:
        """Empty the buffer and return what it held (to spill it to disk at stop)."""
        with self._lock:
            buffer, self._buffer = self._buffer, {}
        return [RollupDelta(k[0], k[1], n, k[2], k[3], k[4], k[5]) for k, n in buffer.items()]

    def close(self, timeout: float = 10.0) -> None:
        """Write what the buffer holds if the database lets us, then stop the thread."""
        if self._closed.is_set():
            return
        self._closed.set()
        self._jobs.put(None)
        self._thread.join(timeout)

    # -- the thread -----------------------------------------------------------------------

    def _run(self) -> None:
        self._migrate()
        tick = min(TICK, self.flush_interval)
        next_tick = time.monotonic() + tick
        next_flush = time.monotonic() + self.flush_interval
        while True:
            wait = max(0.0, min(next_tick, next_flush) - time.monotonic())
            try:
                job = self._jobs.get(timeout=wait)
            except queue.Empty:
                job = False  # type: ignore[assignment]
            if job is None:
                if self.migrated:
                    self._flush()
                return
            if job:
                self._execute(job)
            now = time.monotonic()
            if now < next_tick and now < next_flush:
                continue
            migrated = self._migrate()
            if migrated and now >= next_flush:
                self._flush()
                next_flush = time.monotonic() + self.flush_interval  # from the write's end
            if migrated:
                self._run_periodic()
            next_tick = time.monotonic() + tick

    def _migrate(self) -> bool:
        if self.migrated:
            return True
        try:
            self.store.ensure_current()
        except Exception as exc:  # noqa: BLE001 - retried at the next turn
            self._failed(exc)
            return False
        self.migrated = True
        self._recovered()
        return True

    def _execute(self, job: _Job) -> None:
        try:
            result = job.fn(self.store, *job.args, **job.kwargs)
        except Exception as exc:  # noqa: BLE001 - handed to the awaiting coroutine
            if _is_database_error(exc):
                self._failed(exc)
            self._resolve(job, None, exc)
            return
        self._resolve(job, result, None)

    @staticmethod
    def _resolve(job: _Job, result: Any, exc: BaseException | None) -> None:
        def settle() -> None:
            if job.future.done():
                return
            if exc is not None:
                job.future.set_exception(exc)
            else:
                job.future.set_result(result)

        try:
            job.loop.call_soon_threadsafe(settle)
        except RuntimeError:
            pass  # the loop is closed: nobody is waiting any more

    def _flush(self) -> None:
        """Write the whole buffer, a batch at a time; a failure keeps the rest for later."""
        while True:
            with self._lock:
                keys = list(self._buffer)[:_BATCH_ROWS]
                batch = {k: self._buffer.pop(k) for k in keys}
            try:
                if batch:
                    self.store.stats.add(RollupDelta(k[0], k[1], n, k[2], k[3], k[4], k[5])
                                         for k, n in batch.items())
                elif not self.healthy:
                    with self.store.engine.connect() as connection:  # is it back?
                        connection.execute(text("SELECT 1"))
            except Exception as exc:  # noqa: BLE001 - any failure keeps the batch for later
                with self._lock:
                    for key, count in batch.items():
                        self._buffer[key] = self._buffer.get(key, 0) + count
                self._failed(exc)
                return
            self._recovered()
            if len(batch) < _BATCH_ROWS:
                return

    def _run_periodic(self) -> None:
        now = time.monotonic()
        for task in self._periodic:
            if now < task.due:
                continue
            task.due = now + task.every
            try:
                task.fn(self.store)
            except Exception as exc:  # noqa: BLE001 - a failed purge is retried next time
                self._failed(exc)

    def _failed(self, exc: BaseException) -> None:
        error = describe_error(exc)
        if self.healthy or error != self.last_error:
            log.warning("the database is unavailable, rollups wait in memory (%d pending): %s",
                        self.pending, error)
        if self.healthy:
            self.unhealthy_since = time.time()
        self.healthy = False
        self.last_error = error

    def _recovered(self) -> None:
        if not self.healthy:
            log.info("the database is back; pending rollups are being written")
        self.healthy = True
        self.unhealthy_since = None


def _is_database_error(exc: BaseException) -> bool:
    from sqlalchemy.exc import DBAPIError, OperationalError

    # A constraint violation is the caller's mistake; a lost or locked database is health.
    return isinstance(exc, OperationalError) or (
        isinstance(exc, DBAPIError) and exc.connection_invalidated)
