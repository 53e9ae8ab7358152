"""One summary of a compile, the same for `lists compile`, `lists update`, the daemon's
refresher and `lists status`: what was kept, what was skipped, and which rules Straja could
not enforce, with their line numbers."""

from __future__ import annotations

import os
from typing import Any

from blocklists.formats import ParseReport

SHOWN_UNSUPPORTED = 10


def compile_summary(report: ParseReport) -> dict[str, Any]:
    """The counts, and the first unsupported rules and bad lines as (line, text, reason)."""
    summary: dict[str, Any] = dict(report.summary())
    summary["first_unsupported"] = [
        [u.line, u.text, u.reason] for u in report.unsupported_lines[:SHOWN_UNSUPPORTED]
    ]
    summary["first_bad"] = [
        [b.line, b.text, b.reason] for b in report.bad_lines[:SHOWN_UNSUPPORTED]
    ]
    return summary


def summary_line(summary: dict[str, Any]) -> str:
    """The counts in one sentence."""
    return (
        f"{summary.get('entries', 0):,} entries, {summary.get('exceptions', 0):,} exceptions, "
        f"{summary.get('patterns', 0):,} pattern rules, "
        f"{summary.get('modifier_rules', 0):,} rules with modifiers; skipped "
        f"{summary.get('not_dns', 0):,} not-DNS rules, {summary.get('unsupported', 0):,} "
        f"unsupported rules and {summary.get('bad_lines', 0):,} bad lines"
    )


def summary_details(summary: dict[str, Any]) -> list[str]:
    """The first unsupported rules and bad lines, one line each."""
    lines = [f"line {line}: unsupported rule {text} ({reason})"
             for line, text, reason in summary.get("first_unsupported", [])]
    more = summary.get("unsupported", 0) - len(summary.get("first_unsupported", []))
    if more > 0:
        lines.append(f"... and {more:,} more unsupported rules (--report FILE lists them all)")
    lines += [f"line {line}: {reason}" for line, _, reason in summary.get("first_bad", [])]
    more = summary.get("bad_lines", 0) - len(summary.get("first_bad", []))
    if more > 0:
        lines.append(f"... and {more:,} more bad lines")
    return lines


def write_report(path: str | os.PathLike[str], report: ParseReport) -> None:
    """Every unsupported rule and bad line kept, tab-separated: kind, line, reason, text."""
    with open(path, "w", encoding="utf-8") as out:
        out.write("kind\tline\treason\trule\n")
        for item in report.unsupported_lines:
            out.write(f"unsupported\t{item.line}\t{item.reason}\t{item.text}\n")
        for item in report.bad_lines:
            out.write(f"bad\t{item.line}\t{item.reason}\t{item.text}\n")
