"""`straja reports list`: the "looks wrongly blocked" reports sent from the STOP page."""

from __future__ import annotations

import json

import click

from admin.commands.common import config_option, load_or_exit, when
from resolver.stoppage.reports import ReportStore


@click.group()
def reports() -> None:
    """Reports of names that look wrongly blocked, sent from the STOP page."""


@reports.command("list")
@config_option
@click.option("--json", "as_json", is_flag=True, help="Print a JSON array instead of a table.")
def list_(config_path: str, as_json: bool) -> None:
    """Show every report, newest first: time (UTC), name and the list that blocks it.

    Reports hold no client address; they live in state_dir/reports/reports.jsonl.
    """
    config = load_or_exit(config_path)
    items = ReportStore(config.state_path).list()
    if as_json:
        click.echo(json.dumps([r.as_dict() for r in items], ensure_ascii=False, indent=2))
        return
    if not items:
        click.echo("no reports")
        return
    rows = [(when(r.time), r.name, r.list_id) for r in items]
    width = max(len(name) for _, name, _ in rows)
    click.echo(f"{'TIME':<20}  {'NAME':<{width}}  LIST")
    for stamp, name, list_id in rows:
        click.echo(f"{stamp:<20}  {name:<{width}}  {list_id}")
