"""Cold-path cost of pattern rules: CPU µs per cache miss with the AdGuard DNS filter's mix.

A miss is what the resolver does for a name it has not cached: parse, decide (every list,
patterns included), then take the upstream's answer (parse it, check it, build the entry).
The list is a generated AdGuard-shaped filter: 50,000 `||d^` rules and 200 `@@` exceptions,
alone and then with ~500 and ~2,000 pattern rules in the filter's own mix (per 510: 249
`||d` without `^`, 163 globs, 58 `.d^`, 20 regexes, 20 `|d^|`). Each query asks a different
unlisted name, so nothing is cached. Run: .venv/bin/python bench/pattern_bench.py [--quick]
"""

from __future__ import annotations

import random
import sys
import tempfile
import time
from pathlib import Path

import dnslib

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from admin import listmanager  # noqa: E402
from admin.config import load_config_text  # noqa: E402
from blocklists import minisign  # noqa: E402
from blocklists.compiled import ListMetadata, compile_source  # noqa: E402
from blocklists.store import ListStore  # noqa: E402
from resolver import wire  # noqa: E402
from resolver.core import Resolver  # noqa: E402
from resolver.lists import ListWatcher  # noqa: E402

MIX = {"prefix": 249, "glob": 163, "subdomains": 58, "regex": 20, "exact": 20}  # of 510
WORDS = ["ads", "track", "metric", "pixel", "banner", "stat", "telemetry", "beacon", "promo",
         "click", "count", "log", "sync", "tag", "analytics", "adserv", "popup", "affil"]


def _word(rng: random.Random) -> str:
    """A tracker-ish word: as diverse as a real filter's (its first letters index rules)."""
    letters = "".join(rng.choice("abcdefghijklmnopqrstuvwxyz") for _ in range(rng.randrange(3, 7)))
    return rng.choice([letters, rng.choice(WORDS) + letters, letters + rng.choice(WORDS)])


def pattern_rules(count: int, rng: random.Random) -> list[str]:
    """`count` pattern rules in the AdGuard DNS filter's mix (scaled from its 510)."""
    rules = []
    for kind, per in MIX.items():
        for _ in range(round(count * per / 510)):
            word = _word(rng)
            if kind == "prefix":
                rules.append(f"||{word}" + rng.choice(["", ".", "-cdn"]))
            elif kind == "glob":
                rules.append(rng.choice([f"||{word}*.example^", f"||*-{word}.*^",
                                         f"*{word}*.net^", f"||{word}.*.com^"]))
            elif kind == "subdomains":
                rules.append(f".{word}.com^")
            elif kind == "regex":
                rules.append(f"/^{word}[0-9]+\\.[a-z]+\\.(com|net)$/")
            else:
                rules.append(f"|{word}.org^|")
    return rules


def write_filter(path: Path, patterns: list[str], rng: random.Random) -> None:
    with open(path, "w") as out:
        out.write("! Title: generated AdGuard-shaped filter\n")
        tlds = ("com", "net", "org", "example")  # the TLDs the queries ask for too
        for i in range(50_000):
            out.write(f"||host{i}.tracker{i % 997}.{tlds[i % 4]}^\n")
        for i in range(200):
            out.write(f"@@||ok{i}.tracker{i % 997}.{tlds[i % 4]}^|\n")
        for rule in patterns:
            out.write(rule + "\n")


def resolver_for(directory: Path, source: Path) -> Resolver:
    sk, pk = minisign.generate_keypair()
    compiled = directory / "list.sl"
    compile_source(source, "adblock", compiled, ListMetadata("bench", 1, "operator"))
    (directory / "list.sl.minisig").write_text(
        minisign.sign_file(compiled, sk, "list=bench serial=1"))
    config = load_config_text(
        f"upstreams: [127.0.0.1]\nstate_dir: {directory}/state\n"
        f"lists:\n  - {{id: bench, source: {compiled}, tier: operator, "
        f"keys: [{pk.to_base64()}]}}\n"
    )
    listmanager.import_file(config.lists[0], ListStore(config.state_path), compiled)
    r = Resolver(config)
    ListWatcher(r, config.state_path).configure(config.state_path, config.lists, config.local)
    r.cache.max_entries = 0  # every query is a miss
    return r


def queries(count: int, rng: random.Random) -> list[tuple[bytes, bytes]]:
    """(query, upstream answer) pairs for distinct names no rule lists."""
    pairs = []
    for i in range(count):
        name = f"{rng.choice(['www', 'cdn', 'api', 'img'])}{i}.site{rng.randrange(9999)}." \
               f"{rng.choice(['com', 'net', 'org', 'example'])}"
        q = dnslib.DNSRecord.question(name, "A")
        reply = q.reply()
        reply.add_answer(dnslib.RR(name, rdata=dnslib.A("192.0.2.1"), ttl=300))
        pairs.append((bytes(q.pack()), bytes(reply.pack())))
    return pairs


def cold_us(r: Resolver, pairs: list[tuple[bytes, bytes]]) -> float:
    """CPU µs per miss over `pairs`: parse + policy, then the upstream answer into an entry."""
    start = time.process_time()
    for data, answer in pairs:
        query = r.answer_fast(data, "127.0.0.1", False)
        assert isinstance(query, wire.Query), "a generated name was blocked"
        r._store(query, query.question, wire.parse_answer(answer, query.qend))
    return (time.process_time() - start) / len(pairs) * 1e6


def main() -> None:
    quick = "--quick" in sys.argv
    count, rounds = (2_000, 5) if quick else (10_000, 7)
    rng = random.Random(1)
    pairs = queries(count, rng)
    cases = [("no pattern rules", 0), ("~500 pattern rules", 510), ("~2,000 pattern rules", 2040)]
    with tempfile.TemporaryDirectory() as tmp:
        resolvers = []
        for index, (_, patterns) in enumerate(cases):
            directory = Path(tmp) / str(index)
            directory.mkdir()
            source = directory / "filter.txt"
            write_filter(source, pattern_rules(patterns, random.Random(2)), random.Random(3))
            resolvers.append(resolver_for(directory, source))
        # Rounds interleave the three lists, so a noisy moment hits all of them alike; the
        # fastest round of each is its figure.
        best = [float("inf")] * len(cases)
        for _ in range(rounds):
            for index, r in enumerate(resolvers):
                best[index] = min(best[index], cold_us(r, pairs))
    print(f"{'cold path (miss), one list':28} {'CPU µs/query':>12} {'vs none':>8}")
    for (label, _), us in zip(cases, best, strict=True):
        print(f"{label:28} {us:12.2f} {us / best[0] - 1:+8.1%}")


if __name__ == "__main__":
    main()
