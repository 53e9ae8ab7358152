"""Logging setup for the daemon and the CLI: plain lines on stderr, journald adds the time."""

from __future__ import annotations

import logging
import os
import sys


def setup_logging(level: str) -> None:
    """Route `straja.*` loggers to stderr at `level`; under systemd, leave timestamps out."""
    handler = logging.StreamHandler(sys.stderr)
    if os.environ.get("JOURNAL_STREAM"):
        fmt = "%(levelname)s %(name)s: %(message)s"
    else:
        fmt = "%(asctime)s %(levelname)s %(name)s[%(process)d]: %(message)s"
    handler.setFormatter(logging.Formatter(fmt))
    root = logging.getLogger("straja")
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    root.propagate = False
