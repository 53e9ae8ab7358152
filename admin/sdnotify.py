"""systemd's notify protocol (sd_notify(3)) in the standard library: READY, RELOADING,
STOPPING, WATCHDOG and STATUS as datagrams to $NOTIFY_SOCKET.

Without systemd (no NOTIFY_SOCKET) every call does nothing, so the same code runs under
procd, in a shell or in the tests. Only the main process notifies (the unit says
NotifyAccess=main); forked workers call `forget()` so nothing they run can notify.
"""

from __future__ import annotations

import logging
import os
import socket
import time

log = logging.getLogger("straja.sdnotify")

_ENV = ("NOTIFY_SOCKET", "WATCHDOG_USEC", "WATCHDOG_PID")


def notify(*fields: str) -> bool:
    """Send `fields` ("READY=1", "STATUS=...") to systemd; False when there is no socket."""
    path = os.environ.get("NOTIFY_SOCKET")
    if not path:
        return False
    if path[0] == "@":  # an abstract socket name
        path = "\0" + path[1:]
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC) as sock:
            sock.sendto("\n".join(fields).encode(), path)
    except OSError as exc:
        log.warning("cannot notify systemd at %s: %s", path, exc)
        return False
    return True


def ready(status: str = "") -> bool:
    return notify("READY=1", *([f"STATUS={status}"] if status else []))


def reloading() -> bool:
    # MONOTONIC_USEC lets systemd (253+) tell this reload from an earlier one.
    now = time.clock_gettime_ns(time.CLOCK_MONOTONIC) // 1000
    return notify("RELOADING=1", f"MONOTONIC_USEC={now}")


def stopping() -> bool:
    return notify("STOPPING=1")


def watchdog() -> bool:
    return notify("WATCHDOG=1")


def watchdog_interval() -> float | None:
    """How often to ping: half of WatchdogSec, or None when no watchdog is asked of us."""
    usec = os.environ.get("WATCHDOG_USEC")
    pid = os.environ.get("WATCHDOG_PID")
    if not usec or (pid and pid != str(os.getpid())):
        return None
    try:
        value = int(usec)
    except ValueError:
        return None
    return value / 2e6 if value > 0 else None


def forget() -> None:
    """Drop the notify environment (in a forked worker: only the main process notifies)."""
    for name in _ENV:
        os.environ.pop(name, None)
