"""The `straja` command line. Each command group lives in its own module under admin/commands."""

from __future__ import annotations

import click

from admin.commands import (
    check,
    config_cmd,
    keys,
    lists,
    lists_manage,
    selftest,
    serve,
    stats_cmd,
)


@click.group()
@click.version_option(package_name="straja")
def main() -> None:
    """Straja: a DNS filtering appliance."""


main.add_command(serve.serve)
main.add_command(config_cmd.config)
main.add_command(keys.keys)
main.add_command(lists.lists)
main.add_command(check.check)
main.add_command(selftest.selftest)
main.add_command(stats_cmd.stats_command)
lists.lists.add_command(lists_manage.update)
lists.lists.add_command(lists_manage.import_)
lists.lists.add_command(lists_manage.status)
