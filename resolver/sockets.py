"""Binding listening sockets the way every Straja server does (DNS, STOP page)."""

from __future__ import annotations

import socket

from resolver.settings import HostPort


def bind_socket(
    address: HostPort, kind: int, reuse_port: bool, purpose: str = ""
) -> socket.socket:
    """A non-blocking socket bound to `address`: SO_REUSEADDR, SO_REUSEPORT when several
    workers share the address, IPv6-only for IPv6 (so [::] and 0.0.0.0 can coexist), and a
    4 MB receive buffer for UDP so bursts are queued rather than dropped.

    Raises OSError; a port below 1024 gets a hint about root or CAP_NET_BIND_SERVICE.
    """
    family = socket.AF_INET6 if address.family_v6 else socket.AF_INET
    sock = socket.socket(family, kind)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        if reuse_port:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        if family == socket.AF_INET6:
            sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
        if kind == socket.SOCK_DGRAM:
            try:
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4 * 1024 * 1024)
            except OSError:
                pass
        sock.bind((address.host, address.port))
        sock.setblocking(False)
    except OSError as exc:
        sock.close()
        hint = ""
        if 0 < address.port < 1024:
            hint = " (ports below 1024 need root or CAP_NET_BIND_SERVICE)"
        raise OSError(
            exc.errno, f"cannot listen on {address}{purpose}: {exc.strerror}{hint}"
        ) from None
    return sock
