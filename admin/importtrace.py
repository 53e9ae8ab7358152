"""Which modules a Straja process loaded, for the OpenWrt package's DEPENDS.

With STRAJA_IMPORT_TRACE=DIR set, each `straja` process writes the names in sys.modules
to DIR/<pid>.txt as it exits, and so does each child interpreter it starts (the variable
is inherited): the migrations' `python -m admin.store.migrate`, where Alembic and Mako
are loaded, and the list compiler's `python -m admin.compile_job`. scripts/openwrt-deps
maps them to the feed's packages.
"""

from __future__ import annotations

import atexit
import os
import sys
from pathlib import Path


def install() -> None:
    """Register the exit hook when STRAJA_IMPORT_TRACE names a folder; nothing otherwise."""
    folder = os.environ.get("STRAJA_IMPORT_TRACE")
    if folder:
        atexit.register(_write, Path(folder))


def _write(folder: Path) -> None:
    try:
        folder.mkdir(parents=True, exist_ok=True)
        (folder / f"{os.getpid()}.txt").write_text("\n".join(sorted(sys.modules)) + "\n")
    except OSError:
        pass  # a trace is a development aid; never fail the command for it
