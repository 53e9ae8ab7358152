"""`straja config check`: validate a config file without starting anything."""

from __future__ import annotations

import click

from admin.commands.common import config_option, load_or_exit
from admin.config import exposed_secrets_warning


@click.group()
def config() -> None:
    """Inspect config files."""


@config.command()
@config_option
def check(config_path: str) -> None:
    """Report whether the config file is usable (exit 0) or what is wrong with it (exit 1)."""
    cfg = load_or_exit(config_path)
    listen = ", ".join(str(a) for a in cfg.dns.listen)
    upstreams = ", ".join(str(u) for u in cfg.upstreams)
    click.echo(f"{config_path}: OK")
    click.echo(f"  listens on {listen} with {cfg.dns.workers} worker(s)")
    click.echo(f"  forwards to {upstreams}")
    click.echo(f"  {len(cfg.lists)} list(s), {len(cfg.groups)} group(s)")
    click.echo(f"  state in {cfg.state_path}")
    exposed = exposed_secrets_warning(config_path)
    if exposed:  # usable, so still exit 0, but the same warning `serve` logs at start
        click.echo(f"warning: {exposed}", err=True)
