"""`straja lists catalog`: the well-known public lists `source: catalog:NAME` can name."""

from __future__ import annotations

import click

from blocklists.catalog import catalog as entries


@click.command("catalog")
def catalog() -> None:
    """The well-known lists, for `source: catalog:NAME`: URL, format, category, licence.

    The catalogue fills source and format; write tier: and signed: false yourself. Nothing
    is enabled by default.
    """
    for entry in entries():
        click.echo(f"{entry.name}  ({entry.format}, {entry.category}, {entry.licence})")
        click.echo(f"  {entry.title}")
        click.echo(f"  {entry.url}")
