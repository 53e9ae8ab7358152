"""`straja check NAME`: explain what answer a name gets, and which list decides it."""

from __future__ import annotations

import sys
from datetime import datetime
from zoneinfo import ZoneInfo

import click

from admin.commands.common import config_option, load_or_exit
from blocklists.errors import InvalidNameError, ListError
from blocklists.names import normalise_name
from blocklists.store import ListStore
from blocklists.trie import ACTION_NAMES, CompiledList, name_to_labels
from resolver.explain import decide
from resolver.groups import parse_at
from resolver.operator_state import load_operator_state
from resolver.policy import SuffixSet

_ANSWERS = {
    "sinkhole": "the sinkhole address ({ipv4} for A, {ipv6} for AAAA; NODATA for other types)",
    "nxdomain": "NXDOMAIN",
    "nodata": "NODATA (NOERROR, no records)",
    "refused": "REFUSED",
}
_EDE = {"mandatory": "16 Censored", "operator": "15 Blocked", "family": "17 Filtered"}


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
    labels = name_to_labels(normal)
    store = ListStore(config.state_path)
    opened: dict[str, CompiledList] = {}
    click.echo(f"{normal}:")
    for spec in config.lists:
        path = store.active_path(spec.id)
        if not path.exists():
            click.echo(f"  {spec.id} [{spec.tier}]: no active version")
            continue
        try:
            lst = CompiledList.open(path)
        except ListError as exc:
            click.echo(f"  {spec.id} [{spec.tier}]: cannot be read: {exc}")
            continue
        opened[spec.id] = lst
        ex = lst.explain(labels)
        tier = lst.header.tier
        serial = lst.header.serial
        if ex.verdict == "none":
            click.echo(f"  {spec.id} [{tier}, serial {serial}]: no match")
            continue
        entry = "hashed entry" if lst.header.hashed else (
            ("*." if ex.kind == "subtree" and ex.depth < len(labels) else "") + str(ex.matched)
        )
        if ex.verdict == "allow":
            click.echo(f"  {spec.id} [{tier}, serial {serial}]: exception {entry}")
        else:
            action = ACTION_NAMES.get(ex.action or 0, "default")
            click.echo(f"  {spec.id} [{tier}, serial {serial}]: blocks, entry {entry}"
                       + (f" (entry action {action})" if action != "default" else ""))
    allow = SuffixSet(config.local.allow)
    deny = SuffixSet(config.local.deny)
    if allow.match(labels):
        click.echo("  local.allow: allows (beats operator and family lists, never mandatory)")
    if deny.match(labels):
        click.echo("  local.deny: blocks (as an operator list)")
    tz = ZoneInfo(config.timezone) if config.timezone else None
    moment = datetime.now(tz).astimezone(tz) if at is None else at
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=tz) if tz else moment.astimezone()
    operator = load_operator_state(config.state_path)
    for override in operator.active_overrides(moment.timestamp()):
        if SuffixSet((override.name,)).match(labels):
            click.echo(f"  override {override.kind} {override.name}{_until(override.expires, tz)}: "
                       + ("allows (beats operator and family lists, never mandatory)"
                          if override.kind == "allow" else "blocks (as local.deny)"))
    decision = decide(config, opened, normal, client, moment, operator)
    for lst in opened.values():
        lst.close()
    who = f"client {client}" if client else "a client in no group"
    click.echo(f"{who} at {moment.strftime('%a %Y-%m-%d %H:%M %Z')}: group {decision.group}")
    for window in decision.open_windows:
        click.echo(f"  open window: {window}")
    if decision.pause is not None:
        whom = "every group" if decision.pause.group is None else f"group {decision.pause.group}"
        click.echo(f"  paused ({whom}){_until(decision.pause.until, tz)}: operator and family "
                   "tiers and local.deny are off; mandatory lists still block")
    if decision.canary:
        click.echo("answer: NXDOMAIN (encrypted-DNS canary: clients keep using this resolver)")
        sys.exit(3)
    block = decision.block
    if block is None:
        if decision.rewrite:
            click.echo(f"answer: safe search: CNAME {decision.rewrite} and its addresses")
        elif decision.override is not None:
            click.echo(f"answer: allowed by override allow {decision.override.name}, "
                       "forwarded to the upstreams")
        else:
            click.echo("answer: allowed, forwarded to the upstreams")
        sys.exit(0)
    action = decision.action or config.blocking.action
    answer = _ANSWERS[action].format(ipv4=config.blocking.sinkhole.ipv4,
                                     ipv6=config.blocking.sinkhole.ipv6 or "NODATA")
    by = block.list_id
    if decision.override is not None:
        by = f"override deny {decision.override.name}"
    click.echo(f"answer: blocked by {by} ({block.tier} tier): {answer} "
               f"(action from {decision.action_from}), TTL {int(config.blocking.ttl)}s, "
               f"EDE {_EDE[block.tier]} when the query carries EDNS")
    sys.exit(3)


def _until(expires: float | None, tz: ZoneInfo | None) -> str:
    if expires is None:
        return ""
    moment = datetime.fromtimestamp(expires, tz).astimezone(tz)
    return f" until {moment.strftime('%Y-%m-%d %H:%M:%S %Z')}"
