"""`straja selftest`: prove each active list is enforced, by resolving its canary names
through the running server (what a hotline asks an operator to show)."""

from __future__ import annotations

import socket
import sys
from datetime import datetime

import click
import dnslib

from admin.commands.common import config_option, load_or_exit
from blocklists.errors import ListError
from blocklists.store import ListStore
from blocklists.trie import CompiledList
from resolver.explain import decide

EDE_OPTION = 15
BLOCK_EDE = {15, 16, 17}


def _ask(host: str, port: int, name: str, timeout: float) -> dnslib.DNSRecord:
    q = dnslib.DNSRecord.question(name, "A")
    q.add_ar(dnslib.EDNS0(udp_len=1232))
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_DGRAM) as s:
        s.settimeout(timeout)
        s.sendto(q.pack(), (host, port))
        while True:
            data, _ = s.recvfrom(65535)
            reply = dnslib.DNSRecord.parse(data)
            if reply.header.id == q.header.id:
                return reply


def _blocked_by(reply: dnslib.DNSRecord) -> str | None:
    """The list id in a Straja block answer's Extended DNS Error, or None when not blocked."""
    for rr in reply.ar:
        if rr.rtype != dnslib.QTYPE.OPT:
            continue
        for opt in rr.rdata:
            if opt.code == EDE_OPTION and len(opt.data) >= 2:
                code = int.from_bytes(opt.data[:2], "big")
                if code in BLOCK_EDE:
                    return bytes(opt.data[2:]).decode("utf-8", "replace")
    return None


@click.command("selftest")
@config_option
@click.option("--server", help="host:port of the running server (default: the first "
              "dns.listen address; a wildcard address is asked on loopback).")
@click.option("--timeout", default=2.0, show_default=True, help="Seconds per query.")
def selftest(config_path: str, server: str | None, timeout: float) -> None:
    """For each list, resolve its canary names through the running server: pass or fail.

    Exit 0 when every list that applies to this machine passes, 1 when any fails (a
    mandatory list without an active version fails), 2 when the server does not answer.
    """
    from resolver.settings import HostPort

    config = load_or_exit(config_path)
    target = HostPort.parse(server) if server else config.dns.listen[0]
    host = {"0.0.0.0": "127.0.0.1", "::": "::1"}.get(target.host, target.host)
    store = ListStore(config.state_path)
    opened: dict[str, CompiledList] = {}
    for spec in config.lists:
        try:
            if store.active_path(spec.id).exists():
                opened[spec.id] = CompiledList.open(store.active_path(spec.id))
        except ListError:
            pass
    failed = passed = skipped = 0
    click.echo(f"selftest against {target}")
    try:
        for spec in config.lists:
            lst = opened.get(spec.id)
            if lst is None:
                verdict = "FAIL" if spec.tier == "mandatory" else "SKIP"
                click.echo(f"{verdict}  {spec.id} [{spec.tier}]: no active version")
                failed += verdict == "FAIL"
                skipped += verdict == "SKIP"
                continue
            canaries = list(lst.header.canaries)
            if not canaries:
                click.echo(f"SKIP  {spec.id} [{lst.header.tier}] serial {lst.header.serial}: "
                           "the list carries no canary names (compile it with --canary)")
                skipped += 1
                continue
            local = decide(config, opened, canaries[0], host, datetime.now().astimezone())
            if lst.header.tier != "mandatory" and local.block is None:
                click.echo(f"SKIP  {spec.id} [{lst.header.tier}]: not applied to this "
                           f"machine's group ({local.group}); run selftest from a client of a "
                           "group that uses it")
                skipped += 1
                continue
            problems = []
            deciders = set()
            for name in canaries:
                try:
                    reply = _ask(host, target.port, name, timeout)
                except (TimeoutError, OSError) as exc:
                    click.echo(f"straja: {target} does not answer ({exc}); is it running?",
                               err=True)
                    sys.exit(2)
                by = _blocked_by(reply)
                if by is None:
                    problems.append(f"{name} was NOT blocked")
                else:
                    deciders.add(by)
            header = lst.header
            if problems:
                failed += 1
                click.echo(f"FAIL  {spec.id} [{header.tier}] serial {header.serial}: "
                           + "; ".join(problems))
            else:
                passed += 1
                note = "" if deciders <= {spec.id} else f" (decided by {', '.join(deciders)})"
                click.echo(f"PASS  {spec.id} [{header.tier}] serial {header.serial}: "
                           f"{len(canaries)} canary name(s) blocked{note}")
    finally:
        for lst in opened.values():
            lst.close()
    click.echo(f"selftest: {passed} list(s) pass, {failed} fail, {skipped} skipped")
    sys.exit(1 if failed else 0)
