"""`straja stats`: the counters of every worker, summed."""

from __future__ import annotations

import json

import click

from admin import stats
from admin.commands.common import config_option, load_or_exit

_SHOWN = (
    "queries", "cache_hits", "cache_misses", "blocked", "blocked_mandatory", "blocked_operator",
    "blocked_family", "blocked_cname", "refused_acl", "servfail", "stale_served",
    "upstream_answers", "upstream_failures", "truncated", "formerr", "tcp",
)


@click.command("stats")
@config_option
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
def stats_command(config_path: str, as_json: bool) -> None:
    """Counters summed over all workers (written every 2 s). No client identities exist
    here: mandatory hits are counted, never logged with who asked."""
    config = load_or_exit(config_path)
    total = stats.totals(config.state_path)
    if as_json:
        click.echo(json.dumps(total, indent=2, sort_keys=True))
        return
    click.echo(f"workers reporting: {total['workers']}")
    for name in _SHOWN:
        click.echo(f"  {name:20} {total.get(name, 0)}")
    for list_id, hits in sorted(total["list_hits"].items()):
        click.echo(f"  list {list_id:15} {hits} blocked")
