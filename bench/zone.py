"""The synthetic zone the upstream Unbound serves from local-data, and its names."""

from __future__ import annotations

from dataclasses import dataclass

ORIGIN = "bench.test."
# Long enough that no cached answer expires during a run (Straja caps TTLs at cache.max_ttl).
TTL = 86400


@dataclass(frozen=True, slots=True)
class Zone:
    """`size` names `n000000.bench.test.` ... each with one A record in 198.51.100.0/24.

    Names under `bench.test.` that are not listed get NXDOMAIN with an SOA from the
    upstream itself, so a later blocked or negative workload can use them as they are.
    """

    size: int

    def name(self, index: int) -> str:
        return f"n{index:06d}.{ORIGIN}"

    def address(self, index: int) -> str:
        return f"198.51.100.{index % 254 + 1}"

    def unbound_lines(self) -> list[str]:
        """The `server:` lines that make Unbound authoritative for the zone."""
        soa = f"{ORIGIN} {TTL} IN SOA ns.{ORIGIN} hostmaster.{ORIGIN} 1 3600 600 86400 300"
        lines = [f'  local-zone: "{ORIGIN}" static', f'  local-data: "{soa}"']
        lines += [
            f'  local-data: "{self.name(i)} {TTL} IN A {self.address(i)}"' for i in range(self.size)
        ]
        return lines
