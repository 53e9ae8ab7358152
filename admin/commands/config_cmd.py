"""`straja config check`: validate a config file without starting anything."""

from __future__ import annotations

import sys

import click

from admin.config import ConfigError, load_config


@click.group()
def config() -> None:
    """Inspect config files."""


@config.command()
@click.option("--config", "config_path", required=True, type=click.Path(dir_okay=False),
              help="The config file to check.")
def check(config_path: str) -> None:
    """Report whether the config file is usable (exit 0) or what is wrong with it (exit 1)."""
    try:
        cfg = load_config(config_path)
    except ConfigError as exc:
        click.echo(f"straja: {exc}", err=True)
        sys.exit(1)
    listen = ", ".join(str(a) for a in cfg.dns.listen)
    upstreams = ", ".join(str(u) for u in cfg.upstreams)
    click.echo(f"{config_path}: OK")
    click.echo(f"  listens on {listen} with {cfg.dns.workers} worker(s)")
    click.echo(f"  forwards to {upstreams}")
    click.echo(f"  state in {cfg.state_path}")
