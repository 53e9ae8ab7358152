"""Statistics rollups: counter deltas per minute (kept 2 days), hour (90 days) and day
(forever), per node, metric, list, tier, action and rcode. No client appears here."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, date, datetime, timedelta

from sqlalchemy import and_, delete, func, select, update

from admin.store.models import RollupRow
from admin.store.records import RollupDelta, SeriesRow, TransparencyRow
from admin.store.repos.base import Repo, utcnow

RESOLUTIONS = ("minute", "hour", "day")
RETENTION = {"minute": timedelta(days=2), "hour": timedelta(days=90)}  # day: forever

Key = tuple[str, datetime, str, str, str, str, str]


def bucket_of(moment: datetime, resolution: str) -> datetime:
    """The start of the bucket `moment` falls in, in UTC."""
    moment = moment.astimezone(UTC)
    if resolution == "minute":
        return moment.replace(second=0, microsecond=0)
    if resolution == "hour":
        return moment.replace(minute=0, second=0, microsecond=0)
    if resolution == "day":
        return moment.replace(hour=0, minute=0, second=0, microsecond=0)
    raise ValueError(f"resolution {resolution!r} is not one of {', '.join(RESOLUTIONS)}")


class Stats(Repo):
    def add(self, deltas: Iterable[RollupDelta]) -> int:
        """Add the deltas to their minute, hour and day buckets; returns the rows touched."""
        summed: dict[Key, int] = {}
        for d in deltas:
            if d.count == 0:
                continue
            for resolution in RESOLUTIONS:
                key = (resolution, bucket_of(d.minute, resolution), d.metric, d.list_id,
                       d.tier, d.action, d.rcode)
                summed[key] = summed.get(key, 0) + d.count
        with self._store.transaction() as s:
            for key, count in summed.items():
                resolution, bucket, metric, list_id, tier, action, rcode = key
                where = and_(RollupRow.node_id == self.node_id,
                             RollupRow.resolution == resolution, RollupRow.bucket == bucket,
                             RollupRow.metric == metric, RollupRow.list_id == list_id,
                             RollupRow.tier == tier, RollupRow.action == action,
                             RollupRow.rcode == rcode)
                result = s.execute(update(RollupRow).where(where)
                                   .values(count=RollupRow.count + count))
                if not result.rowcount:  # type: ignore[attr-defined]
                    s.add(RollupRow(node_id=self.node_id, resolution=resolution, bucket=bucket,
                                    metric=metric, list_id=list_id, tier=tier, action=action,
                                    rcode=rcode, count=count))
                    s.flush()
        return len(summed)

    def series(self, since: datetime, until: datetime, resolution: str = "minute",
               metric: str | None = None, node_id: str | None = None) -> list[SeriesRow]:
        """Buckets in [since, until), summed over every node unless one is named."""
        bucket_of(since, resolution)  # refuses an unknown resolution
        with self._store.transaction() as s:
            total = func.sum(RollupRow.count)
            query = (select(RollupRow.bucket, RollupRow.metric, RollupRow.list_id,
                            RollupRow.tier, RollupRow.action, RollupRow.rcode, total)
                     .where(RollupRow.resolution == resolution, RollupRow.bucket >= since,
                            RollupRow.bucket < until)
                     .group_by(RollupRow.bucket, RollupRow.metric, RollupRow.list_id,
                               RollupRow.tier, RollupRow.action, RollupRow.rcode)
                     .order_by(RollupRow.bucket, RollupRow.metric))
            if metric is not None:
                query = query.where(RollupRow.metric == metric)
            if node_id is not None:
                query = query.where(RollupRow.node_id == node_id)
            return [SeriesRow(b, m, li, t, a, r, int(c)) for b, m, li, t, a, r, c in
                    s.execute(query)]

    def transparency(self, start: date, end: date) -> list[TransparencyRow]:
        """Queries blocked per day and list, for the days start..end (both included),
        summed over every node: aggregated counts, nothing about anyone who asked."""
        since = datetime(start.year, start.month, start.day, tzinfo=UTC)
        until = datetime(end.year, end.month, end.day, tzinfo=UTC) + timedelta(days=1)
        rows = self.series(since, until, "day", metric="blocked")
        return [TransparencyRow(r.bucket.strftime("%Y-%m-%d"), r.list_id, r.tier, r.count)
                for r in rows]

    def purge(self, now: datetime | None = None) -> int:
        """Delete minute buckets older than 2 days and hour buckets older than 90 days."""
        now = now or utcnow()
        removed = 0
        with self._store.transaction() as s:
            for resolution, keep in RETENTION.items():
                result = s.execute(delete(RollupRow).where(
                    RollupRow.node_id == self.node_id, RollupRow.resolution == resolution,
                    RollupRow.bucket < now - keep))
                removed += int(result.rowcount or 0)  # type: ignore[attr-defined]
        return removed
