"""Who may query: the client ACL, with a per-address answer cache for the hot path."""

from __future__ import annotations

import fcntl
import ipaddress
import logging
import socket
import struct
from collections.abc import Iterable

from resolver.settings import LOCAL_NETWORKS, HostPort, IPNetwork

log = logging.getLogger("straja.access")

_SIOCGIFADDR = 0x8915
_SIOCGIFNETMASK = 0x891B


Interface = tuple[str, IPNetwork, ipaddress.IPv4Address | ipaddress.IPv6Address]


def interface_networks() -> list[Interface]:
    """(interface index, subnet, address) for every IPv4 and IPv6 address on this host.

    Read over rtnetlink (every address, secondary ones included), falling back to ioctl and
    /proc on systems without it. Standard library only: OpenWrt has neither psutil nor
    netifaces. Returns what it can read; an empty list on other systems.
    """
    try:
        return _netlink_addresses()
    except OSError:
        return _ioctl_addresses()


_NLMSG = struct.Struct("=IHHII")
_IFADDRMSG = struct.Struct("=BBBBI")
_RTATTR = struct.Struct("=HH")
_RTM_NEWADDR, _RTM_GETADDR, _NLMSG_DONE, _NLMSG_ERROR = 20, 22, 3, 2
_IFA_ADDRESS, _IFA_LOCAL = 1, 2


def _netlink_addresses() -> list[Interface]:
    found: list[Interface] = []
    with socket.socket(socket.AF_NETLINK, socket.SOCK_RAW, 0) as nl:
        nl.settimeout(2.0)
        request = _NLMSG.pack(_NLMSG.size + _IFADDRMSG.size, _RTM_GETADDR, 0x301, 1, 0)
        nl.send(request + _IFADDRMSG.pack(socket.AF_UNSPEC, 0, 0, 0, 0))
        while True:
            data = nl.recv(65536)
            offset = 0
            while offset + _NLMSG.size <= len(data):
                length, kind, _flags, _seq, _pid = _NLMSG.unpack_from(data, offset)
                if length < _NLMSG.size:
                    return found
                if kind == _NLMSG_DONE:
                    return found
                if kind == _NLMSG_ERROR:
                    raise OSError("rtnetlink refused the address dump")
                if kind == _RTM_NEWADDR:
                    entry = _parse_ifaddr(data[offset + _NLMSG.size : offset + length])
                    if entry is not None:
                        found.append(entry)
                offset += (length + 3) & ~3


def _parse_ifaddr(body: bytes) -> Interface | None:
    family, prefixlen, _flags, _scope, index = _IFADDRMSG.unpack_from(body)
    attrs: dict[int, bytes] = {}
    offset = _IFADDRMSG.size
    while offset + _RTATTR.size <= len(body):
        length, kind = _RTATTR.unpack_from(body, offset)
        if length < _RTATTR.size:
            break
        attrs[kind] = body[offset + _RTATTR.size : offset + length]
        offset += (length + 3) & ~3
    raw = attrs.get(_IFA_LOCAL) or attrs.get(_IFA_ADDRESS)
    if raw is None:
        return None
    ip: ipaddress.IPv4Address | ipaddress.IPv6Address
    if family == socket.AF_INET and len(raw) == 4:
        ip = ipaddress.IPv4Address(raw)
    elif family == socket.AF_INET6 and len(raw) == 16:
        ip = ipaddress.IPv6Address(raw)
    else:
        return None
    return (str(index), ipaddress.ip_network(f"{ip}/{prefixlen}", strict=False), ip)


def _ioctl_addresses() -> list[Interface]:
    found: list[Interface] = []
    try:
        names = [name for _, name in socket.if_nameindex()]
    except OSError:
        names = []
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        for name in names:
            req = struct.pack("256s", name.encode()[:15])
            try:
                addr = fcntl.ioctl(s.fileno(), _SIOCGIFADDR, req)[20:24]
                mask = fcntl.ioctl(s.fileno(), _SIOCGIFNETMASK, req)[20:24]
            except OSError:
                continue
            ip = ipaddress.IPv4Address(addr)
            net = ipaddress.IPv4Network(f"{ip}/{ipaddress.IPv4Address(mask)}", strict=False)
            found.append((name, net, ip))
    try:
        with open("/proc/net/if_inet6") as f:
            for line in f:
                parts = line.split()
                if len(parts) < 6:
                    continue
                ip6 = ipaddress.IPv6Address(int(parts[0], 16))
                net6 = ipaddress.IPv6Network(f"{ip6}/{int(parts[2], 16)}", strict=False)
                found.append((parts[5], net6, ip6))
    except OSError:
        pass
    return found


def local_networks(listen: Iterable[HostPort]) -> list[IPNetwork]:
    """What `local` means: the fixed private ranges plus the subnets we listen on."""
    nets: list[IPNetwork] = [ipaddress.ip_network(n) for n in LOCAL_NETWORKS]
    hosts = {ipaddress.ip_address(hp.host) for hp in listen}
    wildcard = any(h.is_unspecified for h in hosts)
    for _name, net, ip in interface_networks():
        if (wildcard or ip in hosts) and net not in nets:
            nets.append(net)
    return nets


class AccessList:
    """Decides whether an address may query."""

    def __init__(self, networks: Iterable[IPNetwork]) -> None:
        self.v4 = [n for n in networks if n.version == 4]
        self.v6 = [n for n in networks if n.version == 6]

    @classmethod
    def from_settings(
        cls, allow: Iterable[IPNetwork | str], listen: Iterable[HostPort]
    ) -> AccessList:
        nets: list[IPNetwork] = []
        for item in allow:
            if isinstance(item, str):
                nets.extend(local_networks(listen))
            else:
                nets.append(item)
        return cls(nets)

    def allowed(self, host: str) -> bool:
        """Whether `host` may query (the resolver caches the verdict per client)."""
        try:
            ip = ipaddress.ip_address(host.split("%", 1)[0])
        except ValueError:
            return False
        if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
            ip = ip.ipv4_mapped
        nets = self.v4 if ip.version == 4 else self.v6
        return any(ip in net for net in nets)
