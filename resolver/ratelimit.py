"""Per-client rate limiting: a token bucket per address or prefix, with RRL-style slip.

Each bucket is a small list shared by every address of its prefix, held in the resolver's
per-address client cache, so a query from a limited client costs one index and a compare
when limiting is off, and a few integer operations when it is on. Buckets refill once a
monotonic second (the resolver's own `second`), so the hot path reads no clock for them.
Only UDP is limited: a TCP client has proved its address, which is what slip invites it to.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable
from dataclasses import dataclass, field

from resolver.access import AccessList
from resolver.settings import HostPort, IPNetwork, parse_network

Bucket = list[int]  # [tokens, second last refilled, limited answers so far]

MAX_BUCKETS = 65536


@dataclass(slots=True)
class RateLimitSettings:
    """`rate_limit:` queries per second per client address or prefix (0 turns it off).

    `burst` is how many queries a quiet client may send at once (0: the same as qps);
    `slip` sends every Nth limited answer as an empty truncated one, so that a real client
    whose address is being abused retries over TCP (BIND's name; 0 drops them all, 1 sends
    every one truncated). `exempt` networks are never limited; trusted forwarders neither.
    """

    qps: int = 0
    burst: int = 0
    ipv4_prefix: int = 32
    ipv6_prefix: int = 64
    slip: int = 2
    exempt: list[IPNetwork | str] = field(
        default_factory=list, metadata={"parse": parse_network}
    )

    def validate(self) -> None:
        if self.qps < 0:
            raise ValueError("qps cannot be negative (0 turns rate limiting off)")
        if self.burst < 0:
            raise ValueError("burst cannot be negative (0 means the same as qps)")
        if not 1 <= self.ipv4_prefix <= 32:
            raise ValueError("ipv4_prefix must be between 1 and 32")
        if not 1 <= self.ipv6_prefix <= 128:
            raise ValueError("ipv6_prefix must be between 1 and 128")
        if not 0 <= self.slip <= 10:
            raise ValueError("slip must be between 0 (never) and 10")


class RateLimiter:
    """Hands out the bucket of a client address (None when it is not limited)."""

    def __init__(self, settings: RateLimitSettings, listen: Iterable[HostPort] = ()) -> None:
        self.qps = settings.qps
        self.burst = settings.burst or settings.qps
        self.slip = settings.slip
        self.v4 = settings.ipv4_prefix
        self.v6 = settings.ipv6_prefix
        self.exempt = AccessList.from_settings(settings.exempt, listen)
        self.buckets: dict[str, Bucket] = {}

    @property
    def enabled(self) -> bool:
        return self.qps > 0

    def bucket(self, host: str, trusted: bool) -> Bucket | None:
        """The shared bucket of `host`'s prefix; None when limiting is off or it is exempt."""
        if not self.qps or trusted or self.exempt.allowed(host):
            return None
        try:
            address = ipaddress.ip_address(host)
        except ValueError:
            return None
        prefix = self.v4 if address.version == 4 else self.v6
        key = str(ipaddress.ip_network(f"{address}/{prefix}", strict=False))
        found = self.buckets.get(key)
        if found is None:
            if len(self.buckets) >= MAX_BUCKETS:
                self.buckets.clear()
            found = self.buckets[key] = [self.burst, 0, 0]
        return found

    def take(self, bucket: Bucket, now: int) -> bool:
        """Spend one token; False when the client is over its rate."""
        if bucket[1] != now:
            elapsed = now - bucket[1]
            bucket[0] = min(self.burst, bucket[0] + self.qps * elapsed)
            bucket[1] = now
        if bucket[0] > 0:
            bucket[0] -= 1
            return True
        return False

    def slips(self, bucket: Bucket) -> bool:
        """Whether this limited answer goes out truncated (every `slip`th one)."""
        bucket[2] += 1
        return self.slip > 0 and bucket[2] % self.slip == 0
