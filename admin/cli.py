"""The `straja` command line. Each command group lives in its own module under admin/commands."""

from __future__ import annotations

import click

from admin.commands import config_cmd, keys, lists, serve


@click.group()
@click.version_option(package_name="straja")
def main() -> None:
    """Straja: a DNS filtering appliance."""


main.add_command(serve.serve)
main.add_command(config_cmd.config)
main.add_command(keys.keys)
main.add_command(lists.lists)
