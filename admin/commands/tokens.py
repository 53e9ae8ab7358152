"""`straja tokens create|revoke|list`: API tokens (scopes read, write, metrics)."""

from __future__ import annotations

import json

import click

from admin.commands.common import config_option, load_or_exit
from admin.commands.store_access import cli_actor, opened_store


@click.group()
def tokens() -> None:
    """API tokens for scripts and Prometheus (sent as `Authorization: Bearer ...`)."""


@tokens.command("create")
@click.argument("name")
@config_option
@click.option("--scope", "scopes", multiple=True, required=True,
              type=click.Choice(["read", "write", "metrics"]),
              help="What the token may do (repeatable).")
def create(name: str, config_path: str, scopes: tuple[str, ...]) -> None:
    """Create a token and print its secret once; only a hash of it is stored."""
    from admin import changes

    config = load_or_exit(config_path)
    with opened_store(config) as store:
        info, secret = changes.create_token(store, config, name=name, scopes=set(scopes),
                                            actor=cli_actor())
    click.echo(f"token {info.id} ({name}, {' '.join(sorted(info.scopes))}); keep this secret, "
               "it is not shown again:", err=True)
    click.echo(secret)


@tokens.command("revoke")
@click.argument("token_id", type=int)
@config_option
def revoke(token_id: int, config_path: str) -> None:
    """Revoke a token by its id; it stops working at once."""
    from admin import changes

    config = load_or_exit(config_path)
    with opened_store(config) as store:
        changes.revoke_token(store, config, token_id=token_id, actor=cli_actor())
    click.echo(f"token {token_id} revoked")


@tokens.command("list")
@config_option
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
def list_(config_path: str, as_json: bool) -> None:
    """Every token: id, name, scopes, last use, revoked or not (never the secret)."""
    config = load_or_exit(config_path)
    with opened_store(config) as store:
        found = store.tokens.list()
    if as_json:
        click.echo(json.dumps([{
            "id": t.id, "name": t.name, "scopes": sorted(t.scopes),
            "created": t.created.isoformat(),
            "last_used": t.last_used.isoformat() if t.last_used else None,
            "revoked": t.revoked} for t in found], indent=2))
        return
    if not found:
        click.echo("no tokens")
        return
    click.echo(f"{'ID':>4}  {'NAME':<20}  {'SCOPES':<20}  {'LAST USED':<20}  STATE")
    for t in found:
        used = t.last_used.strftime("%Y-%m-%d %H:%M UTC") if t.last_used else "-"
        state = "revoked" if t.revoked else "active"
        click.echo(f"{t.id:>4}  {t.name:<20}  {' '.join(sorted(t.scopes)):<20}  {used:<20}  "
                   f"{state}")
