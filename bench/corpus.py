"""The names of a side-by-side run: one synthetic blocklist and the allowed names around it.

Every server carries the same list, and the workloads ask names drawn from here:

- `listed`: the blocklist, from bench/lists_bench.py's seeded generator (a weighted TLD mix
  with co.uk-style suffixes, registrable labels of syllables, words, digits and hex, half of
  the names subdomains under a shared pool of registrable domains).
- `allowed`: names the list does not cover (neither the name nor any parent is listed),
  shaped the same way, so a blocklist lookup walks as it would for real traffic. The
  upstream answers each with an A record.
- `cold_domains`: unlisted registrable domains, none of them a trie node of the list; the
  upstream answers every name under them (Unbound `redirect` zones), so a never-seen name
  below one costs one full upstream round trip and a short trie walk (TLD, then a miss).
"""

from __future__ import annotations

import random
from dataclasses import dataclass

from bench.lists_bench import SUBDOMAINS, TLDS, generate, suffix


@dataclass(frozen=True, slots=True)
class Corpus:
    listed: list[str]  # names without the trailing dot
    allowed: list[str]
    cold_domains: list[str]


def _parents(name: str) -> list[str]:
    """`name` and each parent with at least two labels (a TLD alone is never listed)."""
    labels = name.split(".")
    return [".".join(labels[i:]) for i in range(len(labels) - 1)]


def build(list_names: int, allowed_names: int, cold_domains: int, seed: int = 1) -> Corpus:
    """A seeded corpus; the same arguments give the same names on every machine."""
    listed, pool = generate(list_names, seed) if list_names else ([], [])
    on_list = set(listed)
    in_pool = set(pool)
    rng = random.Random(seed + 7919)
    tlds, weights = list(TLDS), list(TLDS.values())

    def covered(name: str) -> bool:
        return any(parent in on_list for parent in _parents(name))

    allowed: list[str] = []
    taken: set[str] = set()
    while len(allowed) < allowed_names:
        roll = rng.random()
        if roll < 0.5:
            name = suffix(rng, tlds, weights)
        elif roll < 0.85 or not pool:
            name = f"{rng.choice(SUBDOMAINS)}.{suffix(rng, tlds, weights)}"
        else:
            # Under a registrable domain of the list's pool: a trie node, so the walk goes
            # one label deeper before it misses.
            name = f"{rng.choice(SUBDOMAINS)}.{rng.choice(pool)}"
        if name not in taken and not covered(name):
            taken.add(name)
            allowed.append(name)
    used = {parent for name in allowed for parent in _parents(name)}
    cold: list[str] = []
    while len(cold) < cold_domains:
        name = suffix(rng, tlds, weights)
        if name not in used and name not in in_pool and not covered(name):
            used.add(name)
            cold.append(name)
    return Corpus(listed, allowed, cold)
