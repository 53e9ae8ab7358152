"""Typed config sections of the data plane, each validating itself.

The control plane's loader (admin.config) builds these from YAML: it refuses unknown keys
and wrong types, turns `30s`-style durations into seconds (fields marked `unit: duration`)
and `64MB`-style sizes into bytes (`unit: bytes`), then calls `validate()`, whose
`ValueError` names what is wrong in a sentence.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass, field
from typing import Literal

IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network
IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address


def duration(default: float) -> float:
    """A dataclass field written as `30s`, `15m`, `12h` or `7d` in config."""
    return field(default=default, metadata={"unit": "duration"})


def size(default: int) -> int:
    """A dataclass field written as a byte count or `512KB`, `64MB`, `1GB` in config."""
    return field(default=default, metadata={"unit": "bytes"})


@dataclass(frozen=True, slots=True)
class HostPort:
    """An address and port, written `127.0.0.1:53` or `[::1]:5353` in config."""

    host: str
    port: int

    @classmethod
    def parse(cls, text: str, default_port: int | None = None) -> HostPort:
        """Parse `host:port`, `[v6]:port` (or a bare address when a default port is given)."""
        text = text.strip()
        if text.startswith("["):
            host, sep, rest = text[1:].partition("]")
            if not sep:
                raise ValueError(f"{text!r} has an opening '[' without a closing ']'")
            if rest.startswith(":"):
                port_text = rest[1:]
            elif not rest and default_port is not None:
                port_text = str(default_port)
            else:
                raise ValueError(f"{text!r} is not [IPv6]:port, e.g. [::1]:5353")
        elif text.count(":") == 1:
            host, port_text = text.split(":")
        elif default_port is not None and (text.count(":") == 0 or is_ip(text)):
            host, port_text = text, str(default_port)
        else:
            raise ValueError(
                f"{text!r} is not host:port; write IPv4 as 127.0.0.1:53 and IPv6 as [::1]:53"
            )
        try:
            ipaddress.ip_address(host)
        except ValueError:
            raise ValueError(f"{host!r} in {text!r} is not an IP address") from None
        if not port_text.isdigit() or not 0 <= int(port_text) <= 65535:
            raise ValueError(f"port {port_text!r} in {text!r} is not a number from 0 to 65535")
        return cls(host, int(port_text))

    def __str__(self) -> str:
        return f"[{self.host}]:{self.port}" if ":" in self.host else f"{self.host}:{self.port}"

    @property
    def family_v6(self) -> bool:
        return ":" in self.host


def is_ip(text: str) -> bool:
    """Whether `text` is an IPv4 or IPv6 address."""
    try:
        ipaddress.ip_address(text)
    except ValueError:
        return False
    return True


@dataclass(slots=True)
class DnsSettings:
    """`dns:` where and how Straja listens."""

    listen: list[HostPort] = field(
        default_factory=lambda: [HostPort("127.0.0.1", 5353), HostPort("::1", 5353)],
        metadata={"parse": HostPort.parse},
    )
    workers: int = 1
    max_udp_size: int = 1232
    tcp_idle_timeout: float = duration(10.0)
    max_tcp_clients: int = 512
    upstream_timeout: float = duration(1.5)
    max_upstream_in_flight: int = 2000
    # Encrypted DNS for clients (DoT, RFC 7858; DoH, RFC 8484), with one certificate.
    tls_listen: list[HostPort] = field(default_factory=list, metadata={"parse": HostPort.parse})
    https_listen: list[HostPort] = field(default_factory=list,
                                         metadata={"parse": HostPort.parse})
    tls_cert: str | None = None
    tls_key: str | None = None
    ddr: bool = False  # answer RFC 9462 discovery (resolver.arpa) for the services above
    # How long an upstream query may go on in the background: past the client's own
    # timeout, so that a slow upstream's late answer is cached for the client's retry.
    upstream_max_wait: float = duration(10.0)
    # TCP connections one client address may hold (trusted forwarders are exempt), and how
    # long a message may take to arrive once its first byte has (slow-loris).
    max_tcp_per_client: int = 16
    tcp_read_timeout: float = duration(5.0)

    def validate(self) -> None:
        if (self.tls_listen or self.https_listen) and not (self.tls_cert and self.tls_key):
            raise ValueError("tls_listen and https_listen need tls_cert and tls_key (PEM files)")
        if self.ddr and not (self.tls_listen or self.https_listen):
            raise ValueError("ddr: true needs tls_listen or https_listen to advertise")
        for key in ("tls_listen", "https_listen"):
            addresses = getattr(self, key)
            if len(set(addresses)) != len(addresses):
                raise ValueError(f"{key} names the same address twice")
        if not self.listen:
            raise ValueError("listen must name at least one host:port")
        if len(set(self.listen)) != len(self.listen):
            raise ValueError("listen names the same address twice")
        if not 1 <= self.workers <= 256:
            raise ValueError("workers must be between 1 and 256")
        if self.workers > 1 and any(a.port == 0 for a in self.listen):
            raise ValueError("workers above 1 share their sockets, so listen needs fixed ports")
        if not 512 <= self.max_udp_size <= 65535:
            raise ValueError("max_udp_size must be between 512 and 65535")
        if self.upstream_timeout <= 0:
            raise ValueError("upstream_timeout must be longer than 0s")
        if self.max_upstream_in_flight < 1:
            raise ValueError("max_upstream_in_flight must be at least 1")
        if self.max_tcp_clients < 1:
            raise ValueError("max_tcp_clients must be at least 1")
        if self.max_tcp_per_client < 1:
            raise ValueError("max_tcp_per_client must be at least 1")
        if self.upstream_max_wait < self.upstream_timeout:
            raise ValueError("upstream_max_wait must be at least upstream_timeout")
        if self.tcp_read_timeout <= 0:
            raise ValueError("tcp_read_timeout must be longer than 0s")


@dataclass(slots=True)
class CacheSettings:
    """`cache:` the answer cache's bounds and TTL policy."""

    max_entries: int = 100_000
    max_bytes: int = size(64 * 1024 * 1024)
    min_ttl: float = duration(0)
    max_ttl: float = duration(86400)
    negative_max_ttl: float = duration(3600)
    serve_stale: float = duration(86400)
    stale_answer_ttl: float = duration(30)
    # How long a client waits for a fresh answer before it gets the stale one (RFC 8767
    # recommends 1.8s); 0s waits for the upstreams to answer or fail.
    stale_answer_client_timeout: float = duration(1.8)

    def validate(self) -> None:
        if self.max_entries < 0:
            raise ValueError("max_entries cannot be negative")
        if self.max_bytes < 0:
            raise ValueError("max_bytes cannot be negative")
        if self.min_ttl > self.max_ttl:
            raise ValueError("min_ttl is longer than max_ttl")
        if self.stale_answer_ttl < 1:
            raise ValueError("stale_answer_ttl must be at least 1s")


# RFC 1918, shared address space (RFC 6598), loopback, ULA and link-local.
LOCAL_NETWORKS = (
    "127.0.0.0/8",
    "10.0.0.0/8",
    "172.16.0.0/12",
    "192.168.0.0/16",
    "100.64.0.0/10",
    "169.254.0.0/16",
    "::1/128",
    "fc00::/7",
    "fe80::/10",
)


def parse_network(text: str) -> IPNetwork | str:
    """A CIDR (a bare address is a /32 or /128), or the word `local`."""
    text = str(text).strip()
    if text == "local":
        return text
    try:
        return ipaddress.ip_network(text, strict=False)
    except ValueError:
        raise ValueError(
            f"{text!r} is not a network; write a CIDR such as 192.168.1.0/24, "
            "an address, or the word 'local'"
        ) from None


@dataclass(slots=True)
class AccessSettings:
    """`access:` which clients may query.

    `local` stands for loopback, RFC 1918, 100.64.0.0/10, ULA, link-local and the subnets
    of the interfaces Straja listens on. Never an open resolver by default.
    """

    allow: list[IPNetwork | str] = field(
        default_factory=lambda: ["local"], metadata={"parse": parse_network}
    )
    trusted_forwarders: list[IPNetwork | str] = field(
        default_factory=list, metadata={"parse": parse_network}
    )

    def validate(self) -> None:
        if not self.allow:
            raise ValueError("allow is empty, so no client could query; name networks or 'local'")


@dataclass(slots=True)
class SinkholeSettings:
    """`blocking.sinkhole:` the addresses blocked A and AAAA queries get (the STOP page's)."""

    ipv4: str = "0.0.0.0"
    ipv6: str | None = "::"

    def validate(self) -> None:
        try:
            ipaddress.IPv4Address(self.ipv4)
        except ValueError:
            raise ValueError(f"ipv4 {self.ipv4!r} is not an IPv4 address") from None
        if self.ipv6 is not None:
            try:
                ipaddress.IPv6Address(self.ipv6)
            except ValueError:
                raise ValueError(f"ipv6 {self.ipv6!r} is not an IPv6 address") from None


@dataclass(slots=True)
class BlockingSettings:
    """`blocking:` the answer a blocked name gets, unless its list or group says otherwise."""

    action: Literal["sinkhole", "nxdomain", "nodata", "refused"] = "sinkhole"
    ttl: float = duration(60)
    sinkhole: SinkholeSettings = field(default_factory=SinkholeSettings)
    # NXDOMAIN for use-application-dns.net (Firefox) and mask(-h2).icloud.com (Private
    # Relay), which tells those clients to use this resolver instead of bypassing it.
    encrypted_dns_canaries: bool = True

    def validate(self) -> None:
        if not 0 <= self.ttl <= 86400:
            raise ValueError("ttl must be between 0s and 1d")


def parse_override(text: str) -> str:
    """A local allow/deny name, normalised as list entries are (`*.` keeps its meaning)."""
    from blocklists.errors import InvalidNameError
    from blocklists.names import normalise_name

    text = str(text).strip()
    prefix = "*." if text.startswith("*.") else ""
    try:
        return prefix + normalise_name(text[len(prefix) :])
    except InvalidNameError as exc:
        raise ValueError(str(exc)) from None


@dataclass(slots=True)
class LocalSettings:
    """`local:` the operator's own overrides.

    `allow` beats operator and family lists, never mandatory ones; `deny` blocks like an
    operator list. A name covers itself and its subdomains; `*.name` only the subdomains.
    """

    allow: list[str] = field(default_factory=list, metadata={"parse": parse_override})
    deny: list[str] = field(default_factory=list, metadata={"parse": parse_override})


@dataclass(slots=True)
class UpstreamTlsSettings:
    """`upstream_tls:` how DoT and DoH upstreams' certificates are verified."""

    ca_file: str | None = None  # PEM bundle instead of the system store (checked on load)
