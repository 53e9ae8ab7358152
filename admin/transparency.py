"""The transparency report: queries blocked per day, list and category, aggregated over
every node and client. It holds no personal data: no client, no name asked for. This is
what a regulator or hotline asks an operator for; the UI and `straja report transparency`
print the same rows."""

from __future__ import annotations

import csv
import io
import json
from datetime import UTC, date, datetime
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from admin.config import Config
    from admin.store import Store

COLUMNS = ("day", "list", "category", "tier", "blocked")


def report_rows(store: Store, config: Config, start: date, end: date) -> list[dict[str, Any]]:
    """One row per day and list with blocks, from the day rollups (UTC days)."""
    if end < start:
        raise ValueError(f"the report ends ({end}) before it starts ({start})")
    categories = {spec.id: spec.category or "" for spec in config.lists}
    return [{"day": r.day, "list": r.list_id, "category": categories.get(r.list_id, ""),
             "tier": r.tier, "blocked": r.blocked}
            for r in store.stats.transparency(start, end) if r.blocked]


def to_csv(rows: list[dict[str, Any]]) -> str:
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=COLUMNS, lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    return out.getvalue()


def to_json(rows: list[dict[str, Any]], start: date, end: date) -> str:
    totals: dict[str, int] = {}
    for row in rows:
        key = row["category"] or "uncategorised"
        totals[key] = totals.get(key, 0) + row["blocked"]
    return json.dumps({
        "from": start.isoformat(), "to": end.isoformat(),
        "generated": datetime.now(UTC).replace(microsecond=0).isoformat(),
        "rows": rows, "blocked_per_category": dict(sorted(totals.items())),
    }, indent=2)
