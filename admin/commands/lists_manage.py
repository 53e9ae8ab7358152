"""`straja lists update|import|status`: bring lists in and show their state."""

from __future__ import annotations

import dataclasses
import sys
import time
from pathlib import Path

import click
from click._termui_impl import ProgressBar

from admin import listmanager
from admin.commands.common import config_option, load_or_exit, when
from blocklists.errors import ListError
from blocklists.spec import ListSpec
from blocklists.store import ListStore, clock_is_sane
from blocklists.summary import summary_details, summary_line
from blocklists.trie import CompiledList

SHOWN_CANCELLATIONS = 10


@click.command("update")
@config_option
@click.option("--list", "only", multiple=True, help="Update only this list id (repeatable).")
def update(config_path: str, only: tuple[str, ...]) -> None:
    """Fetch, verify, compile and activate every configured list once.

    The running daemon sees the result within 2 s (it watches state_dir/lists/generation).
    Exit 0 when every list is active and current, 1 when any was refused or unreachable.
    """
    config = load_or_exit(config_path)
    store = ListStore(config.state_path)
    specs = [s for s in config.lists if not only or s.id in only]
    unknown = set(only) - {s.id for s in config.lists}
    if unknown:
        click.echo(f"straja: no list with id {', '.join(sorted(unknown))} in {config_path}",
                   err=True)
        sys.exit(1)
    failed = 0
    for spec in specs:
        if spec.format != "compiled":
            click.echo(f"{spec.id}: fetching and compiling ({spec.format}) ...", err=True)
        bar = _DownloadBar(spec.id)
        try:
            result = listmanager.update(spec, store, bar.progress)
        except ListError as exc:
            failed += 1
            click.echo(f"{spec.id}: FAILED: {exc}", err=True)
            continue
        finally:
            bar.close()
        click.echo(f"{spec.id}: {result.message}")
        summary = store.status(spec.id).get("summary")
        if result.changed and summary:
            click.echo(f"  {summary_line(summary)}")
            for line in summary_details(summary):
                click.echo(f"  {line}", err=True)
    sys.exit(1 if failed else 0)


class _DownloadBar:
    """A progress bar on stderr that appears with the first downloaded bytes."""

    def __init__(self, label: str) -> None:
        self.label = label
        self.bar: ProgressBar[int] | None = None
        self.done = 0

    def progress(self, url: str, done: int, total: int | None) -> None:
        if self.bar is None:
            self.bar = click.progressbar(length=total or 0, label=f"{self.label}: downloading",
                                         file=sys.stderr, show_pos=True)
            self.bar.__enter__()
        self.bar.update(done - self.done)
        self.done = done

    def close(self) -> None:
        if self.bar is not None:
            self.bar.__exit__(None, None, None)


@click.command("import")
@click.argument("file", type=click.Path(exists=True, dir_okay=False))
@config_option
@click.option("--list", "list_id", help="The list id (needed for source lists; a compiled "
              "file names its own).")
def import_(file: str, config_path: str, list_id: str | None) -> None:
    """Activate a list file brought in by hand (a USB stick), with FILE.minisig beside it."""
    config = load_or_exit(config_path)
    path = Path(file)
    if list_id is None:
        try:
            with CompiledList.open(path) as lst:
                list_id = lst.header.list_id
        except ListError:
            click.echo(f"straja: {file} is not a compiled list; name its list with --list ID",
                       err=True)
            sys.exit(1)
    spec = next((s for s in config.lists if s.id == list_id), None)
    if spec is None:
        click.echo(f"straja: list {list_id!r} is not configured in {config_path}; "
                   "add it under lists: first", err=True)
        sys.exit(1)
    if spec.format != "compiled" and _is_compiled(path):
        spec = _as_compiled(spec)
    try:
        result = listmanager.import_file(spec, ListStore(config.state_path), path)
    except ListError as exc:
        click.echo(f"{spec.id}: REFUSED: {exc}", err=True)
        sys.exit(1)
    click.echo(f"{spec.id}: {result.message}")


def _is_compiled(path: Path) -> bool:
    try:
        with CompiledList.open(path):
            return True
    except ListError:
        return False


def _as_compiled(spec: ListSpec) -> ListSpec:
    return dataclasses.replace(spec, format="compiled")


@click.command("status")
@config_option
def status(config_path: str) -> None:
    """Each list's active serial, tier, key, times, entries, last check and last refusal."""
    config = load_or_exit(config_path)
    store = ListStore(config.state_path)
    now = time.time()
    problems = 0
    if not config.lists:
        click.echo("no lists configured")
    for spec in config.lists:
        st = store.status(spec.id)
        active = store.active_path(spec.id).exists()
        flags = []
        if not active:
            flags.append("NO ACTIVE VERSION" + (" - NOT ENFORCED" if spec.tier == "mandatory"
                                                else ""))
            problems += spec.tier == "mandatory"
        expires = st.get("expires")
        if active and expires and clock_is_sane(now) and now >= float(expires):
            flags.append("STALE (expired, still enforced)")
        click.echo(f"{spec.id}  [{spec.tier}]  {' '.join(flags) or 'ok'}")
        click.echo(f"  serial      {st.get('serial', '-') if active else '-'}")
        click.echo(f"  key         {st.get('key_id') or ('unsigned' if not spec.signed else '-')}")
        click.echo(f"  issued      {when(st.get('issued'))}")
        click.echo(f"  expires     {when(expires) if expires else 'never'}")
        click.echo(f"  entries     {st.get('entries', '-')}")
        if active:
            for line in _rule_lines(store, spec, st):
                click.echo(line)
        click.echo(f"  last check  {when(st.get('last_check'))}")
        refusal = st.get("last_refusal")
        if refusal:
            click.echo(f"  refused     {st.get('refusals', 1)} time(s), last "
                       f"{when(refusal.get('time'))}: {refusal.get('reason')}")
        error = st.get("last_error")
        if error:
            click.echo(f"  last error  {when(error.get('time'))}: {error.get('reason')}")
    sys.exit(2 if problems else 0)


def _rule_lines(store: ListStore, spec: ListSpec, st: dict[str, object]) -> list[str]:
    """The kind, the last compile's summary, RPZ export and `$badfilter` cancellations."""
    lines = []
    summary = st.get("summary")
    if isinstance(summary, dict):
        lines.append(f"  rules       {summary_line(summary)}")
        lines += [f"              {line}" for line in summary_details(summary)]
    try:
        with CompiledList.open(store.active_path(spec.id)) as lst:
            header = lst.header
            if header.kind == "allow":
                lines.append("  kind        allow (unblocks the operator and family lists)")
            rpz = "yes" if header.rpz_expressible else "no (patterns or $dnstype)"
            lines.append(f"  rpz export  {rpz}")
            cancels = [rule for rule in lst.text_rules.rules if rule.badfilter] \
                if lst.layout.rules_length else []
    except ListError as exc:
        return [*lines, f"  unreadable  {exc}"]
    for rule in cancels[:SHOWN_CANCELLATIONS]:
        lines.append(f"  cancels     {rule.key} (line {rule.line}: {rule.text}), in every "
                     "operator and family list of the groups using this list")
    if len(cancels) > SHOWN_CANCELLATIONS:
        more = len(cancels) - SHOWN_CANCELLATIONS
        lines.append(f"              ... and {more} more $badfilter rules")
    return lines
