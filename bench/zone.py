"""What the upstream Unbound serves: the allowed names and the cold-unique domains."""

from __future__ import annotations

from dataclasses import dataclass

# Long enough that no cached answer expires during a run (Straja caps TTLs at cache.max_ttl).
TTL = 86400


@dataclass(frozen=True, slots=True)
class Zone:
    """Each allowed name with one A record in 198.51.100.0/24, and every name under a cold
    domain answered with one A record (a `redirect` zone), all from Unbound's local data.

    Any other name gets NXDOMAIN from the upstream itself (`local-zone: "." static`), so
    nothing resolves beyond loopback.
    """

    names: tuple[str, ...]  # without the trailing dot
    cold_domains: tuple[str, ...] = ()

    @property
    def size(self) -> int:
        return len(self.names)

    def name(self, index: int) -> str:
        return f"{self.names[index]}."

    def address(self, index: int) -> str:
        return f"198.51.100.{index % 254 + 1}"

    def cold_address(self, index: int) -> str:
        return f"203.0.113.{index % 254 + 1}"

    def unbound_lines(self) -> list[str]:
        """The `server:` lines that make Unbound answer the zone's names itself."""
        lines = [
            f'  local-data: "{self.name(i)} {TTL} IN A {self.address(i)}"' for i in range(self.size)
        ]
        for i, domain in enumerate(self.cold_domains):
            lines.append(f'  local-zone: "{domain}." redirect')
            lines.append(f'  local-data: "{domain}. {TTL} IN A {self.cold_address(i)}"')
        return lines
