"""`straja lists ...`: compile, sign, verify and manage blocklists."""

from __future__ import annotations

import io
import sys
import time

import click

from admin.commands.lists_sign import sign, verify
from admin.config import parse_duration
from blocklists.compiled import CompileResult, ListMetadata, compile_source
from blocklists.errors import ListError
from blocklists.formats import FORMATS
from blocklists.trie import TIERS


@click.group()
def lists() -> None:
    """Compile, sign, verify and manage blocklists."""


lists.add_command(sign)
lists.add_command(verify)


MAX_BAD_LINES_SHOWN = 10


@click.command("compile")
@click.argument("source", type=click.Path(exists=True, dir_okay=False, allow_dash=True))
@click.option(
    "--format", "fmt", type=click.Choice(FORMATS), required=True, help="The source's format."
)
@click.option("--id", "list_id", required=True, help="The list's id, e.g. hotline-csam.")
@click.option("--serial", type=click.IntRange(min=0), required=True, help="Version, increasing.")
@click.option("--tier", type=click.Choice(TIERS), required=True)
@click.option("--category", default=None, help="Optional category, e.g. malware.")
@click.option("--expires", metavar="DURATION", default=None, help="Valid for, e.g. 30d or 12h.")
@click.option("--canary", "canaries", multiple=True, metavar="NAME", help="A test name to block.")
@click.option("--hashed", is_flag=True, help="Store keyed hashes only, no domain names.")
@click.option("--output", "-o", type=click.Path(dir_okay=False), required=True)
def compile_list(
    source: str,
    fmt: str,
    list_id: str,
    serial: int,
    tier: str,
    category: str | None,
    expires: str | None,
    canaries: tuple[str, ...],
    hashed: bool,
    output: str,
) -> None:
    """Compile the list SOURCE (a file, or - for stdin) into a compiled list file."""
    issued = int(time.time())
    valid_for = None
    if expires is not None:
        try:
            valid_for = parse_duration(expires)
        except ValueError as exc:
            raise click.BadParameter(str(exc), param_hint="--expires") from None
        if valid_for <= 0:
            raise click.BadParameter("the list must be valid for some time", param_hint="--expires")
    metadata = ListMetadata(
        list_id=list_id,
        serial=serial,
        tier=tier,
        category=category,
        issued=issued,
        expires=None if valid_for is None else issued + int(valid_for),
        canaries=canaries,
        hashed=hashed,
    )
    try:
        if source == "-":
            stdin = io.TextIOWrapper(sys.stdin.buffer, encoding="utf-8-sig", errors="replace")
            try:
                result = compile_source(stdin, fmt, output, metadata)
            finally:
                stdin.detach()  # leave sys.stdin open
        else:
            result = compile_source(source, fmt, output, metadata)
    except ListError as exc:
        click.echo(f"straja: {exc}", err=True)
        sys.exit(1)
    _print_compile_result(result, "stdin" if source == "-" else source)


def _print_compile_result(result: CompileResult, source: str) -> None:
    header = result.header
    report = result.report
    if report is not None:
        for bad in report.bad_lines[:MAX_BAD_LINES_SHOWN]:
            click.echo(f"{source}: {bad}", err=True)
        if report.skipped > MAX_BAD_LINES_SHOWN:
            click.echo(
                f"{source}: ... and {report.skipped - MAX_BAD_LINES_SHOWN} more bad lines",
                err=True,
            )
    click.echo(
        f"Compiled {header.count:,} entries ({result.nodes:,} trie nodes) from {source} "
        f"({header.source_format}) into {result.path}."
    )
    kind = "hashed, no names" if header.hashed else "public, with names"
    click.echo(
        f"  {result.size:,} bytes, {result.bytes_per_entry:.1f} bytes per entry ({kind}), "
        f"in {result.seconds:.2f} s."
    )
    click.echo(
        f"  Skipped {header.skipped:,} bad lines; {header.unsupported:,} unsupported rules ignored."
    )
    if header.count == 0:
        click.echo("straja: warning: the compiled list is empty.", err=True)


lists.add_command(compile_list)
