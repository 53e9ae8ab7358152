"""`straja serve`: run the DNS service."""

from __future__ import annotations

import sys

import click

from admin.config import ConfigError, load_config
from admin.logs import setup_logging

# sysexits.h EX_CONFIG: systemd units list it in RestartPreventExitStatus, so a bad config
# is reported instead of restarted in a loop.
EXIT_BAD_CONFIG = 78


@click.command()
@click.option("--config", "config_path", required=True, type=click.Path(dir_okay=False),
              help="The config file, e.g. config.example.yaml.")
def serve(config_path: str) -> None:
    """Answer DNS queries as the config says, until SIGTERM. SIGHUP reloads the config."""
    try:
        config = load_config(config_path)
    except ConfigError as exc:
        click.echo(f"straja: {exc}", err=True)
        click.echo("straja: nothing was started.", err=True)
        sys.exit(EXIT_BAD_CONFIG)
    setup_logging(config.log.level)
    from admin.listmanager import activate_missing_local

    activate_missing_local(config.lists, config.state_path)
    if config.dns.workers == 1:
        from admin.worker import run_worker

        sys.exit(run_worker(config))
    from admin.supervisor import Supervisor

    sys.exit(Supervisor(config).run())
