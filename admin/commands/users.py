"""`straja users add|passwd|remove|list|unlock|setup-url`: the UI's accounts."""

from __future__ import annotations

import json
import sys

import click

from admin.commands.common import config_option, load_or_exit
from admin.commands.store_access import (
    cli_actor,
    opened_store,
    password_stdin_option,
    read_new_password,
)


@click.group()
def users() -> None:
    """Accounts of the web UI and API (roles: admin changes, viewer reads)."""


@users.command("add")
@click.argument("name")
@config_option
@click.option("--role", type=click.Choice(["admin", "viewer"]), default="admin",
              show_default=True)
@password_stdin_option
def add(name: str, config_path: str, role: str, password_stdin: bool) -> None:
    """Add a user; the password is asked for (never echoed) or read with --password-stdin."""
    from admin import changes
    from admin.setup_token import ensure_setup_token

    config = load_or_exit(config_path)
    password = read_new_password(password_stdin)
    with opened_store(config) as store:
        changes.add_user(store, config, name=name, password=password, role=role,
                         actor=cli_actor())
        ensure_setup_token(config.state_path, users=store.users.count())  # now unneeded
    click.echo(f"user {name} added ({role})")


@users.command("passwd")
@click.argument("name")
@config_option
@password_stdin_option
def passwd(name: str, config_path: str, password_stdin: bool) -> None:
    """Set a new password; the user's open sessions end."""
    from admin import changes

    config = load_or_exit(config_path)
    password = read_new_password(password_stdin)
    with opened_store(config) as store:
        changes.set_password(store, config, name=name, password=password, actor=cli_actor())
    click.echo(f"password of {name} changed")


@users.command("remove")
@click.argument("name")
@config_option
def remove(name: str, config_path: str) -> None:
    """Remove a user (not the last admin)."""
    from admin import changes

    config = load_or_exit(config_path)
    with opened_store(config) as store:
        changes.remove_user(store, config, name=name, actor=cli_actor())
    click.echo(f"user {name} removed")


@users.command("list")
@config_option
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
def list_(config_path: str, as_json: bool) -> None:
    """Every user, its role, and whether failed logins hold it back."""
    config = load_or_exit(config_path)
    with opened_store(config) as store:
        found = store.users.list()
    if as_json:
        click.echo(json.dumps([{"name": u.name, "role": u.role, "created": u.created.isoformat(),
                                "locked_until": u.locked_until.isoformat()
                                if u.locked_until else None} for u in found], indent=2))
        return
    if not found:
        click.echo("no users; `straja users setup-url` prints the first-run setup URL")
        return
    width = max(len(u.name) for u in found)
    click.echo(f"{'NAME':<{width}}  {'ROLE':<6}  THROTTLED UNTIL")
    for u in found:
        locked = u.locked_until.strftime("%Y-%m-%d %H:%M:%S UTC") if u.locked_until else "-"
        click.echo(f"{u.name:<{width}}  {u.role:<6}  {locked}")


@users.command("unlock")
@click.argument("name")
@config_option
def unlock(name: str, config_path: str) -> None:
    """Clear the failed-login delays of a user, from every address."""
    from admin import changes

    config = load_or_exit(config_path)
    with opened_store(config) as store:
        cleared = changes.unlock_user(store, config, name=name, actor=cli_actor())
    click.echo(f"{name} unlocked ({cleared} address{'es' if cleared != 1 else ''} cleared)")


@users.command("setup-url")
@config_option
def setup_url_command(config_path: str) -> None:
    """Print the first-run setup URL (with its one-time token) while no user exists."""
    from admin.setup_token import ensure_setup_token, setup_url

    config = load_or_exit(config_path)
    with opened_store(config) as store:
        count = store.users.count()
    if count:
        click.echo("straja: users exist already; the setup token is used up. Log in, or add "
                   "a user with `straja users add`", err=True)
        sys.exit(1)
    ensure_setup_token(config.state_path)
    click.echo(setup_url(config))
