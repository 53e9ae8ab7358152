"""The `lists:` config section: one ListSpec per list, validating itself."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Literal

Tier = Literal["mandatory", "operator", "family"]
Action = Literal["sinkhole", "nxdomain", "nodata", "refused"]
SourceFormat = Literal["compiled", "domains", "wildcard", "hosts", "adblock", "rpz"]
Kind = Literal["block", "allow"]
CATALOG = "catalog:"

TIER_RANK = {"family": 1, "operator": 2, "mandatory": 3}
_ID = re.compile(r"^[a-z0-9][a-z0-9._-]{0,63}$")


@dataclass(slots=True)
class ListSpec:
    """One configured list.

    `source` is a path or https URL of a compiled file (`format: compiled`, the default) or
    of a source list in another format, compiled on the device. `keys` pins the publisher
    keys (minisign public-key strings or .pub paths); several allow key rotation.
    """

    id: str
    source: str
    tier: Tier
    format: SourceFormat = "compiled"
    keys: list[str] = field(default_factory=list)
    refresh: float = field(default=43200.0, metadata={"unit": "duration"})
    action: Action | None = None
    signed: bool = True
    category: str | None = None
    # A download's overall deadline and size cap: a source that trickles or never ends
    # is cut off and refused, and the last-known-good version keeps serving.
    timeout: float = field(default=300.0, metadata={"unit": "duration"})
    max_size: int = field(default=256 * 1000 * 1000, metadata={"unit": "bytes"})
    kind: Kind = "block"  # "allow": the list's entries unblock the operator and family tiers
    allow_rewrites: bool = False  # `$dnsrewrite` rules may change answers (not enforced yet)

    def validate(self) -> None:
        if self.source.startswith(CATALOG):
            self._from_catalog()
        if not _ID.match(self.id):
            raise ValueError(
                f"id {self.id!r} must be lowercase letters, digits, '.', '_' or '-' (max 64)"
            )
        if self.kind == "allow" and self.tier == "mandatory":
            raise ValueError(f"list {self.id}: an allowlist (kind: allow) cannot be mandatory; "
                             "nothing may unblock the mandatory tier. Use tier operator or "
                             "family")
        if self.tier == "mandatory" and not self.signed:
            raise ValueError(f"list {self.id}: a mandatory list is never accepted unsigned")
        if self.signed and not self.keys:
            raise ValueError(
                f"list {self.id}: name the publisher's public keys in keys:, "
                "or set signed: false (operator and family lists only)"
            )
        if self.timeout <= 0:
            raise ValueError(f"list {self.id}: timeout must be longer than 0s")
        if self.max_size < 1:
            raise ValueError(f"list {self.id}: max_size must be at least 1 byte")
        if self.refresh < 60:
            raise ValueError(f"list {self.id}: refresh must be at least 1m")
        if not self.source:
            raise ValueError(f"list {self.id}: source is empty")
        if self.source.startswith("http://"):
            raise ValueError(f"list {self.id}: fetch lists over https, not http")
        if self.source.startswith("builtin:"):
            from pathlib import Path

            import blocklists

            name = self.source[len("builtin:"):]
            builtin = Path(blocklists.__file__).parent / "builtin"
            if not (builtin / f"{name}.txt").is_file():
                known = ", ".join(sorted(p.stem for p in builtin.glob("*.txt")))
                raise ValueError(f"list {self.id}: there is no built-in list {name!r}; "
                                 f"built-in lists: {known}")
            if self.format == "compiled":
                raise ValueError(f"list {self.id}: built-in lists are sources; add "
                                 "format: domains")

    def _from_catalog(self) -> None:
        """Fill `source` and `format` from the catalogue of well-known lists."""
        from blocklists.catalog import catalog_entry

        name = self.source[len(CATALOG):]
        entry = catalog_entry(name)  # a ValueError names the known lists
        if self.format not in ("compiled", entry.format):
            raise ValueError(f"list {self.id}: the catalogue list {name} is in the "
                             f"{entry.format} format, not {self.format}; leave format: out")
        self.source = entry.url
        self.format = entry.format  # type: ignore[assignment]
        if self.category is None:
            self.category = entry.category

    @property
    def is_url(self) -> bool:
        return self.source.startswith("https://")
