"""`straja keys ...`: publisher key management."""

from __future__ import annotations

import click


@click.group()
def keys() -> None:
    """Manage minisign-format publisher keys."""
