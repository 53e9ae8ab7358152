"""`straja stats`: the dashboard's numbers, then the counters of every worker, summed."""

from __future__ import annotations

import json
from typing import Any

import click

from admin import stats
from admin.commands.common import config_option, load_or_exit, when

_SHOWN = (
    "queries", "cache_hits", "cache_misses", "blocked", "blocked_mandatory", "blocked_operator",
    "blocked_family", "blocked_cname", "refused_acl", "servfail", "stale_served",
    "upstream_answers", "upstream_failures", "truncated", "formerr", "tcp",
)


def _share(value: float | None) -> str:
    return "-" if value is None else f"{value:.1%}"


def print_dashboard(numbers: dict[str, Any]) -> None:
    """The numbers the web dashboard shows, as lines of text."""
    click.echo(f"queries per second  {numbers['qps']}")
    shares = ", ".join(f"{tier} {_share(share)}"
                       for tier, share in numbers["blocked_share"].items())
    click.echo(f"blocked share       {shares}")
    click.echo(f"cache hit ratio     {_share(numbers['cache_hit_ratio'])} "
               f"({numbers['cache_entries']} entries)")
    for list_id, hits in numbers["list_hits"].items():
        click.echo(f"  list {list_id:20} [{hits['tier']}] {hits['hits']} blocked")
    for upstream, state in numbers["upstreams"].items():
        click.echo(f"  upstream {upstream:16} {state['state']}")
    for lst in numbers["lists"]:
        problems = ", ".join(lst["problems"]).upper() or "ok"
        click.echo(f"  list {lst['id']:20} serial {lst['serial'] if lst['active'] else '-'}, "
                   f"updated {when(lst['last_update'])}: {problems}")
    if numbers["mandatory_deficit"]:
        click.echo("MANDATORY LIST MISSING: a mandatory list has no active version and is "
                   "NOT ENFORCED; see `straja lists status`")


@click.command("stats")
@config_option
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
def stats_command(config_path: str, as_json: bool) -> None:
    """The dashboard's numbers and the counters summed over all workers (written every
    2 s). No client identities exist here: mandatory hits are counted, never logged with
    who asked."""
    from admin.metrics import dashboard_numbers

    config = load_or_exit(config_path)
    total = stats.totals(config.state_path)
    numbers = dashboard_numbers(config)
    if as_json:
        click.echo(json.dumps({**total, "dashboard": numbers}, indent=2, sort_keys=True))
        return
    print_dashboard(numbers)
    click.echo(f"workers reporting: {total['workers']}")
    for name in _SHOWN:
        click.echo(f"  {name:20} {total.get(name, 0)}")
