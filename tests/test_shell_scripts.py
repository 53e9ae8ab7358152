"""Every shell script the project ships passes shellcheck; procd init scripts (rc.common,
POSIX sh on OpenWrt's BusyBox ash) are checked as sh."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from tests.servers import REPO

SHELLCHECK = shutil.which("shellcheck")


def shell_scripts() -> list[tuple[Path, str]]:
    found = []
    for folder in ("deploy", "scripts"):
        for path in sorted((REPO / folder).rglob("*")):
            if not path.is_file():
                continue
            try:
                first = path.read_text(errors="replace").split("\n", 1)[0]
            except OSError:
                continue
            if first.startswith("#!") and ("bash" in first or "/sh" in first):
                found.append((path, "bash" if "bash" in first else "sh"))
    return found


def test_the_scripts_are_found() -> None:
    names = {p.name for p, _ in shell_scripts()}
    assert {"install.sh", "test-deps"} <= names


@pytest.mark.skipif(SHELLCHECK is None, reason="shellcheck is not installed")
@pytest.mark.parametrize("script,shell", shell_scripts(),
                         ids=[str(p.relative_to(REPO)) for p, _ in shell_scripts()])
def test_shellcheck_is_clean(script: Path, shell: str) -> None:
    run = subprocess.run([str(SHELLCHECK), f"--shell={shell}", "--external-sources",
                          str(script)], capture_output=True, text=True, cwd=script.parent)
    assert run.returncode == 0, run.stdout + run.stderr
