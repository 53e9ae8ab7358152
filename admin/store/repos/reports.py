"""Wrongly-blocked reports, imported from the STOP page's reports.jsonl. They hold the
name, the list and the time, never who sent them."""

from __future__ import annotations

import builtins
from datetime import datetime

from sqlalchemy import select

from admin.store.models import ReportRow
from admin.store.records import REPORT_STATES, Report
from admin.store.repos.base import Repo


def _record(row: ReportRow) -> Report:
    return Report(row.id, row.at, row.name, row.list_id, row.comment, row.state)


class Reports(Repo):
    def add(self, at: datetime, name: str, list_id: str, comment: str = "") -> Report:
        with self._store.transaction() as s:
            row = ReportRow(node_id=self.node_id, at=at, name=name, list_id=list_id,
                            comment=comment, state="open")
            s.add(row)
            s.flush()
            return _record(row)

    def get(self, report_id: int) -> Report | None:
        with self._store.transaction() as s:
            row = s.get(ReportRow, report_id)
            return None if row is None else _record(row)

    def set_state(self, report_id: int, state: str) -> Report | None:
        """Move a report to `state`; returns it as it was before, None when there is none."""
        if state not in REPORT_STATES:
            raise ValueError(f"state {state!r} is not one of {', '.join(REPORT_STATES)}")
        with self._store.transaction() as s:
            row = s.get(ReportRow, report_id)
            if row is None:
                return None
            before = _record(row)
            row.state = state
            return before

    def list(self, state: str | None = None) -> builtins.list[Report]:
        """Newest first, every node's."""
        with self._store.transaction() as s:
            query = select(ReportRow).order_by(ReportRow.at.desc(), ReportRow.id.desc())
            if state is not None:
                query = query.where(ReportRow.state == state)
            return [_record(r) for r in s.scalars(query)]
