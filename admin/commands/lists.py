"""`straja lists ...`: compile, sign, verify and manage blocklists."""

from __future__ import annotations

import click


@click.group()
def lists() -> None:
    """Compile, sign, verify and manage blocklists."""
