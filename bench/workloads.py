"""Workloads: what the load generator asks, written as dnsperf query files.

A workload says which questions are asked, whether the servers are warmed with them before
measuring, and whether a measured pass may repeat names (dnsperf replays its file when it
reaches the end). All ask for A records.

- blocked: listed names, each asked many times.
- cached: allowed names, every answer in the cache after warming.
- mixed: half listed, half allowed, each half with Zipf-like popularity.
- cold-unique: every query a name nobody asked before, so a server decides it afresh and
  asks the upstream; each pass gets a file of fresh names, read once.
"""

from __future__ import annotations

import itertools
import random
from abc import ABC, abstractmethod
from collections.abc import Sequence
from pathlib import Path


class Workload(ABC):
    #: short name used in the tables and the SUMMARY line
    name: str = "workload"
    #: replay the distinct names until the upstream sees no new query before measuring
    warm: bool = True
    #: every pass asks names never asked before: a new file per pass, read at most once
    unique: bool = False

    def __init__(self) -> None:
        self._file: Path | None = None

    @abstractmethod
    def lines(self) -> list[str]:
        """dnsperf input lines, `name TYPE`, in the order they are sent."""

    def describe(self) -> str:
        return self.name

    def query_file(self, workdir: Path, tag: str, queries: int) -> Path:
        """The file one dnsperf pass reads. `tag` names the pass and `queries` bounds what it
        may send; only workloads of unique names need either."""
        if self._file is None:
            self._file = _write(workdir / f"{self.name}.queries", self.lines())
        return self._file

    def warm_file(self, workdir: Path) -> Path:
        """Each distinct name once, in first-asked order: enough to fill every cache."""
        return _write(workdir / f"{self.name}.warm", list(dict.fromkeys(self.lines())))


def _write(path: Path, lines: Sequence[str]) -> Path:
    path.write_text("".join(f"{line}\n" for line in lines))
    return path


class BlockedWorkload(Workload):
    """`count` distinct listed names, asked over and over."""

    name = "blocked"

    def __init__(self, listed: Sequence[str], count: int, seed: int = 3) -> None:
        super().__init__()
        if not 1 <= count <= len(listed):
            raise ValueError(f"the blocked workload needs 1 to {len(listed)} names, not {count}")
        self.names = random.Random(seed).sample(list(listed), count)

    def lines(self) -> list[str]:
        return [f"{name}. A" for name in self.names]

    def describe(self) -> str:
        return f"blocked: {len(self.names)} distinct listed names (A), each asked many times"


class CachedWorkload(Workload):
    """`count` distinct allowed names, every measured answer a cache hit."""

    name = "cached"

    def __init__(self, allowed: Sequence[str], count: int, seed: int = 1) -> None:
        super().__init__()
        if not 1 <= count <= len(allowed):
            raise ValueError(f"the cached workload needs 1 to {len(allowed)} names, not {count}")
        self.names = random.Random(seed).sample(list(allowed), count)

    def lines(self) -> list[str]:
        return [f"{name}. A" for name in self.names]

    def describe(self) -> str:
        return f"cached: {len(self.names)} distinct allowed names (A), warmed"


def zipf_cumulative(count: int, exponent: float) -> list[float]:
    """Cumulative weights of ranks 1..count with popularity 1 / rank**exponent."""
    return list(itertools.accumulate(1.0 / rank**exponent for rank in range(1, count + 1)))


class MixedWorkload(Workload):
    """`queries` lines, each a fair coin between a listed and an allowed name; within each
    half a name of popularity rank r is asked with weight 1/r**s over `distinct` / 2 names."""

    name = "mixed"

    def __init__(
        self,
        listed: Sequence[str],
        allowed: Sequence[str],
        distinct: int,
        queries: int,
        exponent: float = 1.0,
        seed: int = 5,
    ) -> None:
        super().__init__()
        half = distinct // 2
        if half < 1 or half > min(len(listed), len(allowed)):
            raise ValueError(
                f"the mixed workload needs 2 to {2 * min(len(listed), len(allowed))} distinct"
                f" names, not {distinct}"
            )
        rng = random.Random(seed)
        self.blocked = rng.sample(list(listed), half)
        self.allowed = rng.sample(list(allowed), half)
        self.queries = queries
        self.exponent = exponent
        self.seed = seed

    def lines(self) -> list[str]:
        rng = random.Random(self.seed + 1)
        half = len(self.blocked)
        ranks = range(half)
        weights = zipf_cumulative(half, self.exponent)
        blocked = rng.choices(ranks, cum_weights=weights, k=self.queries)
        allowed = rng.choices(ranks, cum_weights=weights, k=self.queries)
        return [
            f"{self.blocked[b]}. A" if rng.random() < 0.5 else f"{self.allowed[a]}. A"
            for b, a in zip(blocked, allowed, strict=True)
        ]

    def describe(self) -> str:
        lines = self.lines()
        return (
            f"mixed: {len(lines)} queries, 50/50 listed/allowed, Zipf s={self.exponent:g}"
            f" over {len(self.blocked)} + {len(self.allowed)} names"
            f" ({len(set(lines))} distinct asked), warmed"
        )


class ColdUniqueWorkload(Workload):
    """Names under the upstream's cold domains, never asked twice in a run."""

    name = "cold-unique"
    warm = False
    unique = True

    def __init__(self, domains: Sequence[str], per_pass: int) -> None:
        super().__init__()
        if not domains:
            raise ValueError("the cold-unique workload needs at least one cold domain")
        self.domains = list(domains)
        self.per_pass = per_pass
        self.written = 0

    def lines(self) -> list[str]:
        return self._names("x", min(self.per_pass, 1000))

    def _names(self, tag: str, count: int) -> list[str]:
        domains = self.domains
        n = len(domains)
        return [f"{tag}{i:06x}.{domains[i % n]}. A" for i in range(count)]

    def query_file(self, workdir: Path, tag: str, queries: int) -> Path:
        count = min(queries, self.per_pass)
        self.written += count
        return _write(workdir / f"{self.name}-{tag}.queries", self._names(tag, count))

    def warm_file(self, workdir: Path) -> Path:
        raise TypeError("a cold-unique workload is never warmed")

    def describe(self) -> str:
        return (
            f"cold-unique: every query a new name under one of {len(self.domains)} domains"
            f" the upstream answers; at most {self.per_pass} names per pass, read once"
        )
