"""`straja overrides add|remove|list`: allow and deny entries for every client.

These write the store and publish the operator state themselves, so they work with the
daemon stopped, like `lists import`; a running daemon's workers see them within 2 s.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import click

from admin.commands.common import config_option, load_or_exit
from admin.commands.store_access import cli_actor, opened_store
from admin.config import parse_duration


def _expiry(value: str | None) -> datetime | None:
    if value is None:
        return None
    try:
        return datetime.now(UTC) + timedelta(seconds=parse_duration(value))
    except ValueError:
        pass
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        raise click.BadParameter(f"{value!r} is neither a duration (2h, 7d) nor a time "
                                 "(2026-09-01T08:00Z)") from None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


@click.group()
def overrides() -> None:
    """Allow or deny names for every client (mandatory lists always win)."""


@overrides.command("add")
@click.argument("kind", type=click.Choice(["allow", "deny"]))
@click.argument("name")
@config_option
@click.option("--comment", default="", help="Why, for whoever reads the list later.")
@click.option("--expires", default=None, metavar="DURATION|TIME",
              help="Ends after a duration (2h, 7d) or at a time (UTC unless given).")
def add(kind: str, name: str, config_path: str, comment: str, expires: str | None) -> None:
    """Add an allow or deny override for NAME and its subdomains.

    An allow for a name that a mandatory list blocks is refused (exit 1)."""
    from admin import changes

    config = load_or_exit(config_path)
    with opened_store(config) as store:
        override = changes.add_override(store, config, kind=kind, name=name, comment=comment,
                                        expires=_expiry(expires), actor=cli_actor())
    until = f", until {override.expires:%Y-%m-%d %H:%M} UTC" if override.expires else ""
    click.echo(f"override {override.id}: {kind} {override.name}{until}")


@overrides.command("remove")
@click.argument("override_id", type=int)
@config_option
def remove(override_id: int, config_path: str) -> None:
    """Remove an override by its id (see `straja overrides list`)."""
    from admin import changes

    config = load_or_exit(config_path)
    with opened_store(config) as store:
        changes.remove_override(store, config, override_id=override_id, actor=cli_actor())
    click.echo(f"override {override_id} removed")


@overrides.command("list")
@config_option
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
def list_(config_path: str, as_json: bool) -> None:
    """The overrides in force, then the config file's local.allow/local.deny (read-only)."""
    config = load_or_exit(config_path)
    with opened_store(config) as store:
        found = store.overrides.list()
    local = [("allow", n) for n in config.local.allow] + [("deny", n) for n in config.local.deny]
    if as_json:
        click.echo(json.dumps({
            "overrides": [{"id": o.id, "kind": o.kind, "name": o.name, "comment": o.comment,
                           "expires": o.expires.isoformat() if o.expires else None,
                           "created_by": o.created_by, "created": o.created.isoformat()}
                          for o in found],
            "config": [{"kind": k, "name": n, "read_only": True} for k, n in local]},
            indent=2))
        return
    if not found and not local:
        click.echo("no overrides")
        return
    for o in found:
        until = f"{o.expires:%Y-%m-%d %H:%M} UTC" if o.expires else "-"
        click.echo(f"{o.id:>4}  {o.kind:<5}  {o.name}  until {until}  by {o.created_by}"
                   f"{'  # ' + o.comment if o.comment else ''}")
    for kind, name in local:
        click.echo(f"{'-':>4}  {kind:<5}  {name}  (config file, read-only)")
