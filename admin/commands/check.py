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
from blocklists.trie import (
    ACTION_NAMES,
    EXACT_ALLOW,
    EXACT_BLOCK,
    SUBTREE_ALLOW,
    SUBTREE_BLOCK,
    CompiledList,
    name_to_labels,
)
from resolver.explain import decide
from resolver.groups import parse_at
from resolver.policy import QTYPE_NAMES, SuffixSet

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
@click.option("--type", "qtype_text", default="A", show_default=True, metavar="TYPE",
              help="The query type asked (rules with $dnstype= depend on it).")
def check(name: str, config_path: str, client: str | None, at_text: str | None,
          qtype_text: str) -> None:
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
    qtype = _qtype(qtype_text)
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
        for line in list_matches(store, spec.id, lst, labels, normal, qtype_text.upper()):
            click.echo(f"  {line}")
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
    decision = decide(config, opened, normal, client, moment, qtype)
    for lst in opened.values():
        lst.close()
    who = f"client {client}" if client else "a client in no group"
    click.echo(f"{who} at {moment.strftime('%a %Y-%m-%d %H:%M %Z')}: group {decision.group}")
    for window in decision.open_windows:
        click.echo(f"  open window: {window}")
    if decision.canary:
        click.echo("answer: NXDOMAIN (encrypted-DNS canary: clients keep using this resolver)")
        sys.exit(3)
    block = decision.block
    if block is None:
        if decision.rewrite:
            click.echo(f"answer: safe search: CNAME {decision.rewrite} and its addresses")
        else:
            click.echo("answer: allowed, forwarded to the upstreams")
        sys.exit(0)
    if decision.dnsrewrite is not None:
        where = f" (line {block.rule.line}: {block.rule.text})" if block.rule else ""
        click.echo(f"answer: rewritten by {block.list_id}{where}: {decision.dnsrewrite}, "
                   f"TTL {int(config.blocking.ttl)}s")
        sys.exit(0)
    action = decision.action or config.blocking.action
    answer = _ANSWERS[action].format(ipv4=config.blocking.sinkhole.ipv4,
                                     ipv6=config.blocking.sinkhole.ipv6 or "NODATA")
    if block.rule is not None:
        click.echo(f"  decided by {block.list_id} line {block.rule.line}: {block.rule.text}")
    click.echo(f"answer: blocked by {block.list_id} ({block.tier} tier): {answer} "
               f"(action from {decision.action_from}), TTL {int(config.blocking.ttl)}s, "
               f"EDE {_EDE[block.tier]} when the query carries EDNS")
    sys.exit(3)


def _qtype(text: str) -> int:
    """The number of a query type name (A, AAAA, TYPE65...)."""
    names = {name: number for number, name in QTYPE_NAMES.items()}
    upper = text.upper()
    if upper in names:
        return names[upper]
    if upper.startswith("TYPE") and upper[4:].isdigit():
        return int(upper[4:])
    click.echo(f"straja: --type: unknown query type {text!r}", err=True)
    sys.exit(1)


def list_matches(store: ListStore, list_id: str, lst: CompiledList, labels: list[bytes],
                 name: str, qtype: str) -> list[str]:
    """What one list says about the name: its trie entries (block and exception, quoted from
    the source with their line when the list was compiled here) and its text rules."""
    header = lst.header
    where = f"{list_id} [{header.tier}{', allowlist' if header.kind == 'allow' else ''}, " \
            f"serial {header.serial}]"
    lines = []
    trail = lst.explain(labels).trail
    last = len(labels)
    for depth, flags in trail:
        covering = flags & (EXACT_BLOCK | EXACT_ALLOW) if depth == last else \
            flags & (SUBTREE_BLOCK | SUBTREE_ALLOW)
        if not covering:
            continue
        listed = ".".join(reversed([label.decode("ascii") for label in labels[:depth]]))
        if header.hashed:
            entry = "hashed entry"
        else:
            entry = ("*." if depth < last else "") + listed
            origin = store.origin_of(list_id, listed)
            if origin is not None:
                entry += f" (line {origin[0]}: {origin[1]})"
        if covering & (EXACT_ALLOW | SUBTREE_ALLOW):
            lines.append(f"{where}: exception {entry}")
        if covering & (EXACT_BLOCK | SUBTREE_BLOCK):
            action = ACTION_NAMES.get(
                (flags >> (4 if depth == last else 6)) & 3, "default")
            lines.append(f"{where}: blocks, entry {entry}"
                         + (f" (entry action {action})" if action != "default" else ""))
    if lst.layout.rules_length:
        for rule in lst.text_rules.matches(name, qtype):
            kind = "exception" if rule.exception else "blocks"
            lines.append(f"{where}: {kind}, rule at line {rule.line}: {rule.text}")
    return lines or [f"{where}: no match"]
