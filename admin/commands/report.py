"""`straja report transparency`: queries blocked per list and category, per day."""

from __future__ import annotations

import sys
from datetime import UTC, date, datetime, timedelta

import click

from admin.commands.common import config_option, load_or_exit
from admin.commands.store_access import opened_store


@click.group()
def report() -> None:
    """Reports for regulators and hotlines (aggregated, no personal data)."""


def _day(value: str | None, default: date) -> date:
    if value is None:
        return default
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise click.BadParameter(f"{value!r} is not a day like 2026-09-01") from None


@report.command("transparency")
@config_option
@click.option("--from", "start", default=None, metavar="DAY",
              help="First day (UTC), e.g. 2026-09-01; default 30 days ago.")
@click.option("--to", "end", default=None, metavar="DAY", help="Last day (UTC); default today.")
@click.option("--format", "fmt", type=click.Choice(["csv", "json"]), default="csv",
              show_default=True)
def transparency(config_path: str, start: str | None, end: str | None, fmt: str) -> None:
    """Queries blocked per day, list and category, summed over every client and node."""
    from admin.transparency import report_rows, to_csv, to_json

    config = load_or_exit(config_path)
    today = datetime.now(UTC).date()
    first, last = _day(start, today - timedelta(days=30)), _day(end, today)
    if last < first:
        click.echo(f"straja: --to {last} is before --from {first}", err=True)
        sys.exit(1)
    with opened_store(config) as store:
        rows = report_rows(store, config, first, last)
    click.echo(to_csv(rows) if fmt == "csv" else to_json(rows, first, last), nl=fmt == "json")
