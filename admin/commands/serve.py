"""`straja serve`: run the DNS service."""

from __future__ import annotations

import logging
import sys

import click

from admin.commands.common import config_option, load_or_exit
from admin.config import Config, exposed_secrets_warning
from admin.logs import setup_logging

# sysexits.h EX_CONFIG: systemd units list it in RestartPreventExitStatus, so a bad config
# is reported instead of restarted in a loop.
EXIT_BAD_CONFIG = 78


@click.command()
@config_option
def serve(config_path: str) -> None:
    """Answer DNS queries as the config says, until SIGTERM. SIGHUP reloads the config."""
    # The service binds its ports first; systemd already starts it as the straja user.
    config = load_or_exit(config_path, EXIT_BAD_CONFIG, "nothing was started.",
                          as_state_owner=False)
    setup_logging(config.log.level)
    exposed = exposed_secrets_warning(config_path)
    if exposed:
        logging.getLogger("straja").warning("%s", exposed)
    adopt_passed_sockets(config)
    missing = [
        spec for spec in config.lists
        if not spec.is_url and spec.format == "compiled"
        and not (config.state_path / "lists" / spec.id / "active.sl").exists()
    ]
    if missing:  # a first run: verify and activate local lists before the first answer
        from admin.listmanager import activate_missing_local

        activate_missing_local(missing, config.state_path)
    if config.dns.workers == 1:
        from admin.worker import run_worker

        sys.exit(run_worker(config))
    from admin.supervisor import Supervisor

    sys.exit(Supervisor(config).run())


def adopt_passed_sockets(config: Config) -> None:
    """Take systemd's sockets (straja.socket) before any worker is forked."""
    from resolver import activation

    if activation.take_from_environment():
        wanted = set(config.dns.listen)
        for address in activation.unclaimed():
            if address not in wanted:
                logging.getLogger("straja.serve").warning(
                    "systemd passed a socket on %s, which dns.listen in %s does not name; "
                    "it is not used", address, config.source)
