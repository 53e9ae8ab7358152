"""`straja check NAME`: explain what answer a name gets, and which list decides it."""

from __future__ import annotations

import sys
from datetime import datetime, tzinfo

import click

from admin.checkname import check_name
from admin.commands.common import config_option, load_or_exit
from blocklists.errors import InvalidNameError
from blocklists.names import normalise_name
from resolver.groups import parse_at


@click.command("check")
@click.argument("name")
@config_option
@click.option("--client", help="The client's IP or MAC address (default: a client in no group).")
@click.option("--at", "at_text", metavar="TIME",
              help="When, e.g. 2026-11-23T09:30 (in the config's timezone; default: now).")
def check(name: str, config_path: str, client: str | None, at_text: str | None) -> None:
    """Say which lists match NAME, which entry and tier, and what answer a client gets:
    group, open schedule window, list, tier and action.

    Exit 0 when the name is allowed, 3 when it is blocked.
    """
    config = load_or_exit(config_path)
    try:
        at = parse_at(at_text) if at_text else None
    except ValueError as exc:
        click.echo(f"straja: --at: {exc}", err=True)
        sys.exit(1)
    try:
        normal = normalise_name(name)
    except InvalidNameError as exc:
        click.echo(f"straja: {exc}", err=True)
        sys.exit(1)
    result = check_name(config, normal, client, at)
    click.echo(f"{result.name}:")
    for m in result.lists:
        where = f"{m.list_id} [{m.tier}" + (f", serial {m.serial}]" if m.serial is not None
                                             else "]")
        if m.state == "inactive":
            click.echo(f"  {where}: no active version")
        elif m.state == "unreadable":
            click.echo(f"  {where}: cannot be read: {m.error}")
        elif m.state == "none":
            click.echo(f"  {where}: no match")
        elif m.state == "allow":
            click.echo(f"  {where}: exception {m.entry}")
        else:
            click.echo(f"  {where}: blocks, entry {m.entry}"
                       + (f" (entry action {m.action})" if m.action else ""))
    if result.local_allow:
        click.echo("  local.allow: allows (beats operator and family lists, never mandatory)")
    if result.local_deny:
        click.echo("  local.deny: blocks (as an operator list)")
    tz = result.at.tzinfo
    for kind, overridden, expires in result.overrides:
        click.echo(f"  override {kind} {overridden}{_until(expires, tz)}: "
                   + ("allows (beats operator and family lists, never mandatory)"
                      if kind == "allow" else "blocks (as local.deny)"))
    decision = result.decision
    assert decision is not None
    who = f"client {client}" if client else "a client in no group"
    click.echo(f"{who} at {result.at.strftime('%a %Y-%m-%d %H:%M %Z')}: group {decision.group}")
    for window in decision.open_windows:
        click.echo(f"  open window: {window}")
    if decision.pause is not None:
        whom = "every group" if decision.pause.group is None else f"group {decision.pause.group}"
        click.echo(f"  paused ({whom}){_until(decision.pause.until, tz)}: operator and family "
                   "tiers and local.deny are off; mandatory lists still block")
    click.echo(f"answer: {result.answer}")
    sys.exit(3 if result.blocked else 0)


def _until(expires: float | None, tz: tzinfo | None) -> str:
    if expires is None:
        return ""
    moment = datetime.fromtimestamp(expires, tz).astimezone(tz)
    return f" until {moment.strftime('%Y-%m-%d %H:%M:%S %Z')}"
