"""Workloads: what the load generator asks, written as a dnsperf query file.

A workload says which questions are asked and whether the servers are warmed with them
before measuring. Later ones slot in beside `CachedWorkload`: a blocked workload (names
on a list Straja loads), a mixed Zipf one (popular names repeated, a long tail), a
cold-unique one (`warm = False`, names nobody asked before, answered by a redirect zone
at the upstream).
"""

from __future__ import annotations

import random
from abc import ABC, abstractmethod
from pathlib import Path

from bench.zone import Zone


class Workload(ABC):
    #: short name used in the table and the SUMMARY line
    name: str = "workload"
    #: replay the query file until the upstream sees no new query before measuring
    warm: bool = True

    @abstractmethod
    def lines(self) -> list[str]:
        """dnsperf input lines, `name TYPE`, in the order they are sent."""

    def write(self, path: Path) -> Path:
        path.write_text("\n".join(self.lines()) + "\n")
        return path

    def describe(self) -> str:
        return self.name


class CachedWorkload(Workload):
    """`count` distinct names of the zone asked for A records, every answer a cache hit."""

    name = "cached"
    warm = True

    def __init__(self, zone: Zone, count: int, seed: int = 1) -> None:
        if not 1 <= count <= zone.size:
            raise ValueError(f"the cached workload needs 1 to {zone.size} names, not {count}")
        self.zone = zone
        self.count = count
        self.seed = seed

    def lines(self) -> list[str]:
        rng = random.Random(self.seed)
        picked = rng.sample(range(self.zone.size), self.count)
        return [f"{self.zone.name(i)} A" for i in picked]

    def describe(self) -> str:
        return f"cached: {self.count} distinct names (A), warmed, every measured query a cache hit"
