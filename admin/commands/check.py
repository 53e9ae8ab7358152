"""`straja check NAME`: explain what answer a name gets, and which list decides it."""

from __future__ import annotations

import sys

import click

from admin.commands.common import config_option, load_or_exit
from blocklists.errors import InvalidNameError, ListError
from blocklists.names import normalise_name
from blocklists.store import ListStore
from blocklists.trie import ACTION_NAMES, CompiledList, name_to_labels
from resolver.policy import ACTION_CODES, SuffixSet, build_policy

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
def check(name: str, config_path: str) -> None:
    """Say which lists match NAME, which entry and tier, and what answer a client gets.

    Exit 0 when the name is allowed, 3 when it is blocked.
    """
    config = load_or_exit(config_path)
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
    policy = build_policy(config.lists, opened, config.local.allow, config.local.deny)
    block = policy.decide(labels)
    for lst in opened.values():
        lst.close()
    if block is None:
        click.echo("answer: allowed, forwarded to the upstreams")
        sys.exit(0)
    action_code = block.action if block.action is not None else ACTION_CODES[
        config.blocking.action]
    action = next(k for k, v in ACTION_CODES.items() if v == action_code)
    answer = _ANSWERS[action].format(ipv4=config.blocking.sinkhole.ipv4,
                                     ipv6=config.blocking.sinkhole.ipv6 or "NODATA")
    click.echo(f"answer: blocked by {block.list_id} ({block.tier} tier): {answer}, "
               f"TTL {int(config.blocking.ttl)}s, EDE {_EDE[block.tier]} "
               f"when the query carries EDNS")
    sys.exit(3)
