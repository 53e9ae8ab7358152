"""Cold-path cost of pattern rules: CPU µs per cache miss with the AdGuard DNS filter's mix.

A miss is what the resolver does for a name it has not cached: parse, decide (every list,
patterns included), then take the upstream's answer (parse it, check it, build the entry).
The list is a generated AdGuard-shaped filter: 50,000 `||d^` rules and 200 `@@` exceptions,
alone and then with ~500 and ~2,000 pattern rules in the filter's own mix (per 510: 249
`||d` without `^`, 163 globs, 58 `.d^`, 20 regexes, 20 `|d^|`). Each query asks a different
unlisted name, so nothing is cached: first the bench's own names (`www12.site345.com`), then
names shaped like real traffic (bench/lists_bench.py's generator: syllables, words, digits,
hex, a weighted TLD mix), since what a pattern rule costs a name depends on its letters.
Run: .venv/bin/python bench/pattern_bench.py [--quick]

`--instructions` counts instead of timing, for a machine too noisy to time 1 µs: it runs
each case under Valgrind's callgrind (Debian's `valgrind`), with instrumentation switched
on (`callgrind_control -i on`) only around the queries, once with one pass over 800
names and once with three; the difference over two passes is the instructions of 1,600
misses, free of the setup. The filter has 5,000 `||d^` rules there instead of 50,000
(Valgrind compiles it 50x slower); a miss walks the trie as deep either way.
"""

from __future__ import annotations

import os
import random
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import dnslib

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from admin import listmanager  # noqa: E402
from admin.config import load_config_text  # noqa: E402
from bench.lists_bench import generate  # noqa: E402
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


def write_filter(path: Path, patterns: list[str], rng: random.Random,
                 entries: int = 50_000) -> None:
    with open(path, "w") as out:
        out.write("! Title: generated AdGuard-shaped filter\n")
        tlds = ("com", "net", "org", "example")  # the TLDs the queries ask for too
        for i in range(entries):
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


def bench_names(count: int, rng: random.Random) -> list[str]:
    return [f"{rng.choice(['www', 'cdn', 'api', 'img'])}{i}.site{rng.randrange(9999)}."
            f"{rng.choice(['com', 'net', 'org', 'example'])}" for i in range(count)]


def traffic_names(count: int) -> list[str]:
    return generate(count, seed=9)[0]


def queries(names: list[str]) -> list[tuple[bytes, bytes]]:
    """(query, upstream answer) pairs for `names`."""
    pairs = []
    for name in names:
        q = dnslib.DNSRecord.question(name, "A")
        reply = q.reply()
        reply.add_answer(dnslib.RR(name, rdata=dnslib.A("192.0.2.1"), ttl=300))
        pairs.append((bytes(q.pack()), bytes(reply.pack())))
    return pairs


def unblocked(resolvers: list[Resolver], pairs: list[tuple[bytes, bytes]]
              ) -> list[tuple[bytes, bytes]]:
    """The pairs no resolver blocks (a generated name may contain a pattern's token)."""
    return [pair for pair in pairs
            if all(isinstance(r.answer_fast(pair[0], "127.0.0.1", False), wire.Query)
                   for r in resolvers)]


def cold_us(r: Resolver, pairs: list[tuple[bytes, bytes]]) -> float:
    """CPU µs per miss over `pairs`: parse + policy, then the upstream answer into an entry."""
    start = time.process_time()
    for data, answer in pairs:
        query = r.answer_fast(data, "127.0.0.1", False)
        assert isinstance(query, wire.Query), "a generated name was blocked"
        r._store(query, query.question, wire.parse_answer(answer, query.qend))
    return (time.process_time() - start) / len(pairs) * 1e6


INSTRUCTION_CASES = [("no pattern rules", 0), ("~500 pattern rules", 510),
                     ("~2,000 pattern rules", 2040)]


def one_case(patterns: int, names: str, passes: int) -> None:
    """What `--instructions` runs under callgrind: one case's queries, `passes` times."""
    with tempfile.TemporaryDirectory() as tmp:
        directory = Path(tmp)
        write_filter(directory / "filter.txt", pattern_rules(patterns, random.Random(2)),
                     random.Random(3), entries=5_000)
        r = resolver_for(directory, directory / "filter.txt")
        asked = bench_names(1_000, random.Random(1)) if names == "bench" else traffic_names(1_000)
        pairs = unblocked([r], queries(asked))[:800]
        cold_us(r, pairs)  # warm: first-use caches, lazy imports
        subprocess.run(["callgrind_control", "-i", "on", str(os.getpid())],
                       capture_output=True, check=True)
        for _ in range(passes):
            cold_us(r, pairs)


def instructions() -> None:
    def count(patterns: int, names: str, passes: int) -> int:
        run = subprocess.run(
            ["valgrind", "--tool=callgrind", "--instr-atstart=no",
             "--callgrind-out-file=/dev/null", sys.executable, __file__, "--one-case",
             str(patterns), names, str(passes)],
            capture_output=True, text=True, check=True)
        found = re.search(r"Collected : (\d+)", run.stderr)
        assert found, run.stderr[-2000:]
        return int(found.group(1))

    per_miss = {(patterns, names): (count(patterns, names, 3) - count(patterns, names, 1)) / 1600
                for _, patterns in INSTRUCTION_CASES for names in ("bench", "traffic")}
    print(f"{'cold path (miss), one list':28} {'bench names':>12} {'vs none':>8}"
          f" {'traffic-like':>13} {'vs none':>8}")
    for label, patterns in INSTRUCTION_CASES:
        row = "".join(f" {per_miss[patterns, n]:12.0f} "
                      f"{per_miss[patterns, n] / per_miss[0, n] - 1:+8.1%}"
                      for n in ("bench", "traffic"))
        print(f"{label:28}{row}")
    print("(instructions per miss, callgrind)")


def main() -> None:
    if "--one-case" in sys.argv:
        at = sys.argv.index("--one-case")
        one_case(int(sys.argv[at + 1]), sys.argv[at + 2], int(sys.argv[at + 3]))
        return
    if "--instructions" in sys.argv:
        instructions()
        return
    quick = "--quick" in sys.argv
    count, rounds = (2_000, 5) if quick else (10_000, 7)
    cases = [("no pattern rules", 0), ("~500 pattern rules", 510), ("~2,000 pattern rules", 2040)]
    with tempfile.TemporaryDirectory() as tmp:
        resolvers = []
        for index, (_, patterns) in enumerate(cases):
            directory = Path(tmp) / str(index)
            directory.mkdir()
            source = directory / "filter.txt"
            write_filter(source, pattern_rules(patterns, random.Random(2)), random.Random(3))
            resolvers.append(resolver_for(directory, source))
        name_sets = [unblocked(resolvers, queries(bench_names(count, random.Random(1)))),
                     unblocked(resolvers, queries(traffic_names(count)))]
        # Rounds interleave the three lists, so a noisy moment hits all of them alike; the
        # fastest round of each is its figure.
        best = [[float("inf")] * len(cases) for _ in name_sets]
        for _ in range(rounds):
            for index, r in enumerate(resolvers):
                for names, pairs in enumerate(name_sets):
                    best[names][index] = min(best[names][index], cold_us(r, pairs))
    print(f"{'cold path (miss), one list':28} {'bench names':>12} {'vs none':>8}"
          f" {'traffic-like':>13} {'vs none':>8}")
    for index, (label, _) in enumerate(cases):
        row = "".join(f" {b[index]:12.2f} {b[index] / b[0] - 1:+8.1%}" for b in best)
        print(f"{label:28}{row}")
    print(f"(CPU µs per query; names asked: {len(name_sets[0])} and {len(name_sets[1])})")


if __name__ == "__main__":
    main()
