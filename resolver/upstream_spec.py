"""How an upstream is written in config: `host:port`, a URL, or a mapping with options.

    upstreams:
      - 9.9.9.9:53                              # udp://, TCP when truncated
      - tcp://9.9.9.9:53
      - tls://9.9.9.9:853#dns.quad9.net         # DoT (RFC 7858), the fragment is the TLS name
      - https://dns.quad9.net/dns-query         # DoH (RFC 8484); a name needs bootstrap
      - {url: "tls://9.9.9.9:853", tls_name: dns.quad9.net, pin: "sha256/…", bootstrap: [9.9.9.9]}
"""

from __future__ import annotations

import base64
from dataclasses import dataclass, replace
from typing import Literal
from urllib.parse import urlsplit

from resolver.settings import HostPort, is_ip

Strategy = Literal["failover", "round_robin", "fastest"]
DEFAULT_PORTS = {"udp": 53, "tcp": 53, "tls": 853, "https": 443}
_MAPPING_KEYS = {"url", "tls_name", "pin", "bootstrap", "method"}


@dataclass(frozen=True, slots=True)
class UpstreamSpec(HostPort):
    """One upstream. `host` is the address connected to (for a DoH or DoT name, its first
    bootstrap address once known); `name` the TLS name or DoH host."""

    scheme: str = "udp"
    name: str | None = None
    path: str = ""
    pins: tuple[bytes, ...] = ()  # SHA-256 digests of the server's SubjectPublicKeyInfo
    bootstrap: tuple[str, ...] = ()
    method: str = "POST"  # DoH: POST or GET

    def __str__(self) -> str:
        if self.scheme == "udp":
            return HostPort.__str__(self)
        if self.scheme == "https":
            port = "" if self.port == 443 else f":{self.port}"
            return f"https://{self.name or self.host}{port}{self.path}"
        base = f"{self.scheme}://{HostPort.__str__(self)}"
        return f"{base}#{self.name}" if self.name else base

    @property
    def encrypted(self) -> bool:
        return self.scheme in ("tls", "https")

    @property
    def needs_bootstrap(self) -> bool:
        """A DoT or DoH upstream written with a host name and no address to reach it."""
        return not is_ip(self.host)

    def with_bootstrap(self, addresses: tuple[str, ...]) -> UpstreamSpec:
        """The same upstream reached at `addresses` (the global `upstream_bootstrap`)."""
        return replace(self, host=addresses[0], bootstrap=addresses)


def parse_pin(text: object) -> bytes:
    """`sha256/<base64 of the SPKI digest>`, as HPKP and RFC 7858 write pins."""
    if not isinstance(text, str) or not text.startswith("sha256/"):
        raise ValueError(f"pin {text!r} is not sha256/<base64>, e.g. the output of "
                         "`openssl x509 -pubkey | openssl pkey -pubin -outform der | "
                         "openssl dgst -sha256 -binary | base64`")
    try:
        digest = base64.b64decode(text[7:], validate=True)
    except ValueError:
        raise ValueError(f"pin {text!r}: the part after sha256/ is not base64") from None
    if len(digest) != 32:
        raise ValueError(f"pin {text!r} is {len(digest)} bytes, a SHA-256 digest is 32")
    return digest


def parse_upstream(value: object) -> UpstreamSpec:
    """An upstream from its config form; ValueError says what is wrong with it."""
    if isinstance(value, dict):
        return _parse_mapping(value)
    if not isinstance(value, str):
        raise ValueError(f"expected host:port, a URL or a mapping with url:, got {value!r}")
    if "://" not in value:
        plain = HostPort.parse(value, default_port=53)
        return UpstreamSpec(plain.host, plain.port)
    return _parse_url(value)


def _parse_url(text: str, tls_name: str | None = None) -> UpstreamSpec:
    try:
        url = urlsplit(text.strip())
        port = url.port
    except ValueError as exc:
        raise ValueError(f"{text!r} is not a usable URL: {exc}") from None
    scheme = url.scheme.lower()
    if scheme not in DEFAULT_PORTS:
        raise ValueError(f"{text!r}: the scheme {url.scheme!r} is not one of udp://, tcp://, "
                         "tls:// (DoT) or https:// (DoH)")
    host = url.hostname
    if not host:
        raise ValueError(f"{text!r} has no host")
    port = port if port is not None else DEFAULT_PORTS[scheme]
    name = tls_name or (url.fragment or None)
    if scheme in ("udp", "tcp"):
        if not is_ip(host):
            raise ValueError(f"{host!r} in {text!r} is not an IP address; plain DNS upstreams "
                             "are written by address")
        if url.path or url.fragment:
            raise ValueError(f"{text!r}: plain DNS upstreams take no path or fragment")
        return UpstreamSpec(host, port, scheme)
    if scheme == "tls":
        if url.path:
            raise ValueError(f"{text!r}: a DoT upstream takes no path; the TLS name goes "
                             "after #, e.g. tls://9.9.9.9:853#dns.quad9.net")
        if not is_ip(host):
            name = name or host
        return UpstreamSpec(host, port, "tls", name)
    if url.fragment:
        raise ValueError(f"{text!r}: a DoH URL takes no #fragment; use the mapping form "
                         "for options")
    path = url.path or "/dns-query"
    if url.query:
        path += "?" + url.query
    return UpstreamSpec(host, port, "https", name or host, path)


def _parse_mapping(value: dict[object, object]) -> UpstreamSpec:
    unknown = sorted(str(k) for k in value if k not in _MAPPING_KEYS)
    if unknown:
        raise ValueError(f"unknown key {unknown[0]!r} in an upstream; the keys are "
                         + ", ".join(sorted(_MAPPING_KEYS)))
    url = value.get("url")
    if not isinstance(url, str):
        raise ValueError("an upstream written as a mapping needs url:, e.g. "
                         "{url: \"tls://9.9.9.9:853\", tls_name: dns.quad9.net}")
    tls_name = value.get("tls_name")
    if tls_name is not None and not isinstance(tls_name, str):
        raise ValueError(f"tls_name {tls_name!r} is not a host name")
    spec = _parse_url(url, tls_name) if "://" in url else parse_upstream(url)
    pins_value = value.get("pin", [])
    pins = tuple(parse_pin(p) for p in (pins_value if isinstance(pins_value, list)
                                        else [pins_value]))
    bootstrap_value = value.get("bootstrap", [])
    if not isinstance(bootstrap_value, list):
        bootstrap_value = [bootstrap_value]
    bootstrap = []
    for address in bootstrap_value:
        if not isinstance(address, str) or not is_ip(address):
            raise ValueError(f"bootstrap address {address!r} is not an IP address")
        bootstrap.append(address)
    method = str(value.get("method", "POST")).upper()
    if method not in ("POST", "GET"):
        raise ValueError(f"method {value.get('method')!r} is not POST or GET")
    if (pins or tls_name or method != "POST") and not spec.encrypted:
        raise ValueError(f"{url!r}: pin, tls_name and method apply to tls:// and https:// "
                         "upstreams only")
    spec = replace(spec, pins=pins, method=method)
    if bootstrap:
        spec = spec.with_bootstrap(tuple(bootstrap))
    return spec
