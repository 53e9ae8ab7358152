"""click's CliRunner as both click 8.1 (Debian 13's python3-click, 8.1.8) and 8.2+ run it.

8.2 always captures stderr apart and makes `output` both streams; 8.1 mixes stderr into
`stdout` unless asked (`mix_stderr=False`), and then `output` is stdout alone. Tests see
one shape: `stdout` and `stderr` apart, `output` both, on either version.
"""

from __future__ import annotations

import inspect
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import click
from click.testing import CliRunner

MIXES_STDERR = "mix_stderr" in inspect.signature(CliRunner.__init__).parameters


@dataclass(frozen=True, slots=True)
class Outcome:
    exit_code: int
    stdout: str
    stderr: str
    output: str  # stdout and stderr (interleaved on 8.2, stdout first on 8.1)
    exception: BaseException | None


def invoke(command: click.Command, args: Sequence[str | Path],
           input: str | None = None) -> Outcome:
    words = [str(a) for a in args]
    if MIXES_STDERR:
        result = CliRunner(mix_stderr=False).invoke(command, words, input=input)
        output = result.stdout + result.stderr
    else:
        result = CliRunner().invoke(command, words, input=input)
        output = result.output
    return Outcome(result.exit_code, result.stdout, result.stderr, output, result.exception)
