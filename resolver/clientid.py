"""Who is behind a trusted local forwarder: EDNS Client Subnet and dnsmasq's MAC option.

dnsmasq on OpenWrt forwards every client's query from its own address; with `add-mac` it
adds EDNS option 65001 carrying the client's MAC (binary, base64 or text, by its
`add-mac=` setting), with `add-subnet` an RFC 7871 Client Subnet option. Both are only
believed from `access.trusted_forwarders`, and neither travels upstream.
"""

from __future__ import annotations

import base64
import binascii
import ipaddress
from collections.abc import Iterable
from typing import NamedTuple

OPTION_ECS = 8
OPTION_DNSMASQ_MAC = 65001


class Identity(NamedTuple):
    mac: str | None
    address: str | None


def _mac(value: bytes) -> str | None:
    raw: bytes | None = None
    if len(value) == 6:
        raw = value
    elif len(value) == 17:
        try:
            raw = bytes.fromhex(value.decode("ascii").replace(":", "").replace("-", ""))
        except (UnicodeDecodeError, ValueError):
            raw = None
    elif len(value) == 8:
        try:
            raw = base64.b64decode(value + b"==", validate=False)[:6]
        except (binascii.Error, ValueError):
            raw = None
    if raw is None or len(raw) != 6:
        return None
    return ":".join(f"{b:02x}" for b in raw)


class BadClientSubnet(ValueError):
    """An ECS option that cannot be right (RFC 7871 7.1: the answer is FORMERR)."""


def check_ecs(value: bytes) -> None:
    """Raise BadClientSubnet for an unknown family, a prefix longer than the family's
    address, an address of another length than the prefix needs, or a non-zero scope."""
    if len(value) < 4:
        raise BadClientSubnet("a Client Subnet option shorter than its 4-byte header")
    family = int.from_bytes(value[0:2], "big")
    source, scope = value[2], value[3]
    bits = {1: 32, 2: 128}.get(family)
    if bits is None:
        raise BadClientSubnet(f"a Client Subnet option of unknown family {family}")
    if source > bits:
        raise BadClientSubnet(f"a Client Subnet prefix /{source} for family {family}")
    if scope != 0:
        raise BadClientSubnet("a Client Subnet option in a query with a non-zero scope")
    if len(value) - 4 != (source + 7) // 8:
        raise BadClientSubnet("a Client Subnet address of another length than its prefix")


def _ecs(value: bytes) -> str | None:
    if len(value) < 4:
        return None
    family = int.from_bytes(value[0:2], "big")
    address = value[4:]
    try:
        if family == 1 and len(address) <= 4:
            return str(ipaddress.IPv4Address(address.ljust(4, b"\0")))
        if family == 2 and len(address) <= 16:
            return str(ipaddress.IPv6Address(address.ljust(16, b"\0")))
    except ValueError:
        return None
    return None


def client_identity(options: Iterable[tuple[int, bytes]]) -> Identity:
    """The client's MAC and/or address from a forwarder's EDNS options.

    Raises BadClientSubnet for an ECS option that cannot be right."""
    mac = address = None
    for code, value in options:
        if code == OPTION_DNSMASQ_MAC and mac is None:
            mac = _mac(value)
        elif code == OPTION_ECS and address is None:
            check_ecs(value)
            address = _ecs(value)
    return Identity(mac, address)
