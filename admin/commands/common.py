"""Helpers the CLI commands share."""

from __future__ import annotations

import sys
from datetime import UTC, datetime

import click

from admin.config import Config, ConfigError, load_config

config_option = click.option(
    "--config", "config_path", required=True, type=click.Path(dir_okay=False),
    help="The config file.",
)


def load_or_exit(
    path: str, code: int = 1, note: str | None = None, as_state_owner: bool = True
) -> Config:
    """The config, or exit `code` with the error (file, line, key, reason) on stderr.

    Run as root, the command then goes on as the owner of state_dir (admin.privileges).
    """
    try:
        config = load_config(path)
    except ConfigError as exc:
        click.echo(f"straja: {exc}", err=True)
        if note:
            click.echo(f"straja: {note}", err=True)
        sys.exit(code)
    if as_state_owner:
        from admin.privileges import become_state_owner

        become_state_owner(config.state_path)
    return config


def when(ts: object) -> str:
    """A Unix time as an ISO date and time in UTC, '-' for none."""
    if ts is None or ts == "":
        return "-"
    try:
        return datetime.fromtimestamp(float(ts), UTC).strftime("%Y-%m-%d %H:%M UTC")  # type: ignore[arg-type]
    except (TypeError, ValueError, OverflowError):
        return "-"
