"""`straja lists ...`: compile, sign, verify and manage blocklists."""

from __future__ import annotations

import click

from admin.commands.lists_sign import sign, verify


@click.group()
def lists() -> None:
    """Compile, sign, verify and manage blocklists."""


lists.add_command(sign)
lists.add_command(verify)
