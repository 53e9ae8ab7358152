"""`straja lists ...`: compile, sign, verify and manage blocklists."""

from __future__ import annotations

import io
import sys
import time
from typing import Any

import click

from admin.commands.lists_catalog import catalog
from admin.commands.lists_sign import sign, verify
from admin.config import parse_duration
from blocklists.compiled import CompileResult, ListMetadata, compile_source
from blocklists.errors import ListError
from blocklists.formats import FORMATS
from blocklists.summary import compile_summary, summary_details, summary_line, write_report
from blocklists.trie import KINDS, TIERS


@click.group()
def lists() -> None:
    """Compile, sign, verify and manage blocklists."""


lists.add_command(sign)
lists.add_command(verify)
lists.add_command(catalog)


MAX_BAD_LINES_SHOWN = 10

# One table of every format's semantics (docs/lists.md carries the same one).
FORMAT_TABLE = """\b
Formats (what one line means):
  domains   example.org        example.org and its subdomains
            *.example.org      its subdomains only
  wildcard  *.example.org      example.org and its subdomains (Blocky, HaGeZi)
            example.org        example.org only
  hosts     0.0.0.0 example.org  example.org only (also 127.0.0.1, ::, ::1)
            192.0.2.7 printer.lan  a rewrite (lists[].allow_rewrites: true)
  adblock   ||example.org^     example.org and its subdomains (also ||d^|)
            |example.org^      example.org only (also |d^|, and a plain d line)
            ||*.example.org^   its subdomains only (also .example.org^)
            ||example          a pattern: any name with a label starting 'example'
            ||example.         a pattern: example under any TLD
            ||ad*.example^     a glob; /^ad[0-9]+\\./ a regular expression
            @@||example.org^   an exception (for every operator/family list)
            modifiers: $important, $badfilter, $dnstype=AAAA, $denyallow=a.example,
            $client=192.168.1.0/24, $ctag=user_child, $dnsrewrite=NXDOMAIN|1.2.3.4|...
  rpz       bad.example CNAME .     bad.example only (NXDOMAIN)
            *.bad.example CNAME .   its subdomains only; rpz-passthru. an exception
"""


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
@click.option("--kind", type=click.Choice(KINDS), default="block", show_default=True,
              help="allow: every entry is an exception for the operator and family lists.")
@click.option("--report", "report_path", type=click.Path(dir_okay=False), default=None,
              help="Write every unsupported rule and bad line, with its line, to this file.")
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
    kind: str,
    report_path: str | None,
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
        kind=kind,
    )
    bar = LineBar()
    try:
        if source == "-":
            stdin = io.TextIOWrapper(sys.stdin.buffer, encoding="utf-8-sig", errors="replace")
            try:
                result = compile_source(stdin, fmt, output, metadata, progress=bar.progress)
            finally:
                stdin.detach()  # leave sys.stdin open
        else:
            result = compile_source(source, fmt, output, metadata, progress=bar.progress)
    except ListError as exc:
        bar.close()
        click.echo(f"straja: {exc}", err=True)
        sys.exit(1)
    bar.close()
    if report_path is not None and result.report is not None:
        write_report(report_path, result.report)
    _print_compile_result(result, "stdin" if source == "-" else source)


compile_list.help = (compile_list.help or "") + "\n\n" + FORMAT_TABLE


class LineBar:
    """A progress bar on stderr, shown only once a compile has run for over a second."""

    def __init__(self) -> None:
        self.started = time.monotonic()
        self.bar: Any = None
        self.done = 0

    def progress(self, lines: int) -> None:
        if self.bar is None:
            if time.monotonic() - self.started < 1.0:
                return
            self.bar = click.progressbar(length=0, label="compiling (lines read)",
                                         file=sys.stderr, show_pos=True)
            self.bar.__enter__()
        self.bar.update(lines - self.done)
        self.done = lines

    def close(self) -> None:
        if self.bar is not None:
            self.bar.__exit__(None, None, None)
            self.bar = None


def _print_compile_result(result: CompileResult, source: str) -> None:
    header = result.header
    report = result.report
    click.echo(
        f"Compiled {header.count:,} entries ({result.nodes:,} trie nodes) from {source} "
        f"({header.source_format}{', allowlist' if header.kind == 'allow' else ''}) "
        f"into {result.path}."
    )
    kind = "hashed, no names" if header.hashed else "public, with names"
    click.echo(
        f"  {result.size:,} bytes, {result.bytes_per_entry:.1f} bytes per entry ({kind}), "
        f"in {result.seconds:.2f} s."
    )
    if report is not None:
        summary = compile_summary(report)
        click.echo(f"  {summary_line(summary)}.")
        for line in summary_details(summary):
            click.echo(f"{source}: {line}", err=True)
    if not header.rpz_expressible:
        click.echo("  Not expressible as RPZ (it has pattern or $dnstype rules).")
    if header.count == 0 and not header.patterns:
        click.echo("straja: warning: the compiled list is empty.", err=True)


lists.add_command(compile_list)
