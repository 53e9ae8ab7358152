"""Sockets passed by systemd's socket activation (sd_listen_fds(3): LISTEN_PID, LISTEN_FDS,
LISTEN_FDNAMES), each used for the dns.listen address it is bound to.

They are taken once, in the main process before any worker is forked, so every worker
inherits them; a listen address with no passed socket is bound as usual. The standard
library is enough: the protocol is three environment variables and file descriptors from 3.
"""

from __future__ import annotations

import ipaddress
import logging
import os
import socket

from resolver.settings import HostPort

log = logging.getLogger("straja.activation")

SD_LISTEN_FDS_START = 3
_ENV = ("LISTEN_PID", "LISTEN_FDS", "LISTEN_FDNAMES")

Key = tuple[int, ipaddress.IPv4Address | ipaddress.IPv6Address, int]  # kind, address, port
_passed: dict[Key, socket.socket] = {}


def _key(kind: int, host: str, port: int) -> Key | None:
    try:
        return kind, ipaddress.ip_address(host.split("%")[0]), port
    except ValueError:
        return None


def take_from_environment() -> int:
    """Adopt the sockets systemd passed to this process; returns how many.

    Clears the variables, so neither a forked worker nor a program it runs takes them again.
    """
    pid, count, names = (os.environ.get(name) for name in _ENV)
    for name in _ENV:
        os.environ.pop(name, None)
    if not count or pid != str(os.getpid()):
        return 0
    try:
        n = int(count)
    except ValueError:
        log.warning("LISTEN_FDS=%r is not a number; no passed socket is used", count)
        return 0
    labels = (names or "").split(":")
    taken = 0
    for i, fd in enumerate(range(SD_LISTEN_FDS_START, SD_LISTEN_FDS_START + n)):
        label = labels[i] if i < len(labels) else ""
        try:
            sock = socket.socket(fileno=fd)
        except OSError as exc:
            log.warning("passed file descriptor %d (%s) is not a socket: %s", fd, label, exc)
            continue
        if sock.family not in (socket.AF_INET, socket.AF_INET6) or sock.type not in (
            socket.SOCK_DGRAM, socket.SOCK_STREAM
        ):
            log.warning("passed socket %d (%s) is not UDP or TCP over IP; ignored", fd, label)
            sock.detach()
            continue
        host, port = sock.getsockname()[:2]
        key = _key(sock.type, host, port)
        if key is None:
            sock.detach()
            continue
        os.set_inheritable(fd, False)
        sock.setblocking(False)
        _passed[key] = sock
        taken += 1
        kind = "UDP" if sock.type == socket.SOCK_DGRAM else "TCP"
        log.info("using the %s socket passed by systemd (%s) for %s", kind, label or "-",
                 HostPort(host, port))
    return taken


def claim(address: HostPort, kind: int) -> socket.socket | None:
    """The passed socket bound to `address` for `kind` (SOCK_DGRAM/SOCK_STREAM), once."""
    if not _passed:
        return None
    key = _key(kind, address.host, address.port)
    return _passed.pop(key, None) if key is not None else None


def unclaimed() -> list[HostPort]:
    """Passed sockets no listen address has used (a dns.listen that does not name them)."""
    return [HostPort(str(key[1]), key[2]) for key in _passed]
