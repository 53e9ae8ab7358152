"""Benchmark of compiled lists: compile time and peak memory, bytes per entry, open time,
lookup latency (median and p99, hit and miss) and the RSS of a process doing lookups.

    .venv/bin/python bench/lists_bench.py            # 1M names, public and hashed
    .venv/bin/python bench/lists_bench.py --5m       # also 5M names (several minutes)

Each measurement runs in its own child process, one at a time (the compile child's peak
memory comes from wait4's ru_maxrss), so the numbers do not include this harness and the
benchmark keeps one core busy, not both. The synthetic list is seeded and realistic in its
label mix: a weighted TLD mix (with co.uk-style two-label suffixes), registrable labels
made of syllables, words, digits and hyphens, and half of the names under a shared pool of
registrable domains with common subdomain labels (ads, cdn, metrics, random hex...).
"""

from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent

TLDS = {
    "com": 40, "net": 8, "org": 5, "info": 3, "ru": 3, "de": 3, "xyz": 3, "top": 3, "io": 2,
    "co": 2, "co.uk": 2, "com.br": 1, "cn": 2, "fr": 1, "nl": 1, "pl": 1, "online": 1,
    "site": 1, "club": 1, "biz": 1, "jp": 1, "in": 1, "com.au": 1, "it": 1, "es": 1, "eu": 1,
    "tk": 1, "me": 1, "tv": 1, "cc": 1, "us": 1, "ca": 1, "app": 1, "shop": 1, "live": 1,
}  # fmt: skip
SYLLABLES = (
    "ad", "al", "an", "ar", "as", "at", "ba", "be", "bi", "bo", "ca", "ce",
    "ci", "co", "da", "de", "di", "do", "el", "en", "er", "es", "fa", "fe",
    "fi", "fo", "ga", "ge", "go", "ha", "he", "hi", "ho", "in", "is", "it",
    "ka", "ke", "ki", "ko", "la", "le", "li", "lo", "ma", "me", "mi", "mo",
    "na", "ne", "ni", "no", "on", "or", "pa", "pe", "pi", "po", "ra", "re",
    "ri", "ro", "sa", "se", "si", "so", "ta", "te", "ti", "to", "un", "ur",
    "va", "ve", "vi", "vo", "wa", "we", "xa", "yo", "za", "ze", "zo",
)  # fmt: skip
WORDS = (
    "ads", "track", "click", "media", "cloud", "data", "stat", "metric", "pixel", "tag", "sync",
    "beacon", "cdn", "static", "web", "net", "shop", "deal", "promo", "bet", "casino", "game",
    "play", "win", "free", "best", "top", "smart", "fast", "secure", "mobile", "app", "news",
    "daily", "live", "stream", "video", "tube", "photo", "social", "chat", "date", "love",
    "crypto", "coin", "trade",
)  # fmt: skip
SUBDOMAINS = (
    "www", "ads", "ad", "adserver", "track", "tracking", "metrics", "stats", "analytics",
    "pixel", "cdn", "static", "img", "images", "api", "m", "mobile", "app", "click", "go",
    "link", "mail", "smtp", "s1", "s2", "s3", "eu", "us", "de", "srv", "node1", "node2", "t",
    "log", "logs", "events", "collect", "beacon", "sync", "tag", "tags", "js", "assets",
    "media", "video", "banner", "banners", "promo", "partner",
)  # fmt: skip


def registrable(rng: random.Random) -> str:
    """A registrable-looking label: syllables, words, digits and hyphens."""
    style = rng.random()
    if style < 0.45:
        label = "".join(rng.choices(SYLLABLES, k=rng.randint(2, 5)))
    elif style < 0.75:
        label = rng.choice(WORDS) + rng.choice(("", "-")) + rng.choice(WORDS)
    elif style < 0.9:
        label = "".join(rng.choices(SYLLABLES, k=rng.randint(2, 4))) + str(rng.randint(1, 999))
    else:
        label = f"{rng.getrandbits(rng.choice((32, 40, 48))):x}"
    return label


def suffix(rng: random.Random, tlds: list[str], weights: list[int]) -> str:
    return registrable(rng) + "." + rng.choices(tlds, weights)[0]


def generate(count: int, seed: int = 1) -> tuple[list[str], list[str]]:
    """`count` distinct list names, and the pool of registrable domains under which half of
    them are (a pool domain is in the trie as a parent; some are also listed)."""
    rng = random.Random(seed)
    tlds, weights = list(TLDS), list(TLDS.values())
    pool = [suffix(rng, tlds, weights) for _ in range(max(1, count // 4))]
    names: list[str] = []
    seen: set[str] = set()
    while len(names) < count:
        roll = rng.random()
        if roll < 0.5:
            name = suffix(rng, tlds, weights)
        else:
            depth = 1 if roll < 0.85 else 2 if roll < 0.97 else 3
            labels = [
                rng.choice(SUBDOMAINS) if rng.random() < 0.8 else f"{rng.getrandbits(36):x}"
                for _ in range(depth)
            ]
            name = ".".join(labels) + "." + rng.choice(pool)
        if name not in seen:
            seen.add(name)
            names.append(name)
    return names, pool


def queries(names: list[str], pool: list[str], count: int, seed: int = 2) -> dict[str, list[str]]:
    """Query names: hits (listed names and their subdomains), misses under an unlisted
    registrable domain (the walk stops at the second label) and deep misses under a parent
    that is in the trie (the walk goes one or two labels further)."""
    rng = random.Random(seed)
    tlds, weights = list(TLDS), list(TLDS.values())
    listed = set(names)
    hits = [rng.choice(names) for _ in range(count // 2)]
    hits += ["www." + rng.choice(names) for _ in range(count - len(hits))]
    misses: list[str] = []
    while len(misses) < count:
        name = "www." + suffix(rng, tlds, weights)
        if name not in listed and name[4:] not in listed:
            misses.append(name)
    deep: list[str] = []
    while len(deep) < count:
        parent = rng.choice(pool)
        if parent not in listed:
            deep.append(f"q{rng.getrandbits(24):x}.{parent}")
    return {"hit": hits, "miss": misses, "deep miss": deep}


COMPILE_CHILD = """
import sys, json
from blocklists.compiled import ListMetadata, compile_source
source, output, hashed = sys.argv[1], sys.argv[2], sys.argv[3] == "1"
meta = ListMetadata("bench", 1, "operator", hashed=hashed)
result = compile_source(source, "domains", output, meta)
with open("/proc/self/status") as status:
    hwm = [int(line.split()[1]) / 1024 for line in status if line.startswith("VmHWM")][0]
print(json.dumps({"seconds": result.seconds, "count": result.header.count,
                  "nodes": result.nodes, "size": result.size, "hwm_mb": hwm}))
"""

LOOKUP_CHILD = """
import gc, json, statistics, sys, time
def rss():
    fields = {}
    with open("/proc/self/status") as status:
        for line in status:
            key, _, value = line.partition(":")
            if key in ("VmRSS", "RssAnon", "RssFile"):
                fields[key] = int(value.split()[0]) / 1024
    return fields
path, query_file, total = sys.argv[1], sys.argv[2], int(sys.argv[3])
with open(query_file) as handle:
    classes = json.load(handle)
classes = {k: [[l.encode() for l in reversed(n.split("."))] for n in v] for k, v in classes.items()}
from blocklists.trie import CompiledList
gc.collect()
before = rss()
opens = []
for _ in range(21):
    started = time.perf_counter_ns()
    lst = CompiledList.open(path)
    opens.append(time.perf_counter_ns() - started)
    lst.close()
lst = CompiledList.open(path)
lookup = lst.lookup
clock = time.perf_counter_ns
out = {"open_ms": statistics.median(opens) / 1e6, "rss_before": before}
overhead = []
for _ in range(10000):
    started = clock()
    overhead.append(clock() - started)
out["timer_us"] = statistics.median(overhead) / 1000
for name, labels_list in classes.items():
    for labels in labels_list[:2000]:
        lookup(labels)
    times = []
    found = 0
    for labels in labels_list:
        started = clock()
        result = lookup(labels)
        times.append(clock() - started)
        found += result is not None
    times.sort()
    out[name] = {"median_us": times[len(times) // 2] / 1000,
                 "p99_us": times[int(len(times) * 0.99)] / 1000,
                 "matched": found / len(times)}
everything = [labels for labels_list in classes.values() for labels in labels_list]
done = 0
started = time.perf_counter()
while done < total:
    for labels in everything:
        lookup(labels)
    done += len(everything)
out["mean_us"] = (time.perf_counter() - started) / done * 1e6
out["lookups"] = done
out["rss_after"] = rss()
print(json.dumps(out))
"""


def run_child(code: str, *args: str) -> tuple[dict, float]:
    """Run a child Python, return its JSON output and its peak RSS in MB."""
    env = dict(os.environ, PYTHONPATH=str(REPO))
    process = subprocess.Popen(
        [sys.executable, "-c", code, *args], stdout=subprocess.PIPE, env=env, cwd=REPO
    )
    assert process.stdout is not None
    output = process.stdout.read()
    _, status, usage = os.wait4(process.pid, 0)
    process.returncode = os.waitstatus_to_exitcode(status)
    if process.returncode:
        raise SystemExit(f"child failed with exit code {process.returncode}")
    return json.loads(output), usage.ru_maxrss / 1024


def write_inputs(count: int, source: Path, query_file: Path) -> None:
    """Write the synthetic list and the query names (run in a child, see bench_size)."""
    names, pool = generate(count)
    with source.open("w") as handle:
        handle.writelines(f"{name}\n" for name in names)
    query_file.write_text(json.dumps(queries(names, pool, 20000)))


def bench_size(count: int, workdir: Path, lookups: int) -> list[dict]:
    # Generate in a child: Linux keeps ru_maxrss across fork and exec, so a big parent
    # would inflate the compile child's peak.
    started = time.perf_counter()
    source = workdir / f"names-{count}.txt"
    query_file = workdir / f"queries-{count}.json"
    subprocess.run(
        [sys.executable, __file__, "--generate", str(count), str(source), str(query_file)],
        check=True,
    )
    print(f"generated {count:,} names in {time.perf_counter() - started:.1f} s", file=sys.stderr)
    rows = []
    for hashed in (False, True):
        output = workdir / f"list-{count}-{'hashed' if hashed else 'public'}.sl"
        compiled, peak = run_child(COMPILE_CHILD, str(source), str(output), "1" if hashed else "0")
        print(f"compiled {output.name}: {compiled}", file=sys.stderr)
        measured, _ = run_child(LOOKUP_CHILD, str(output), str(query_file), str(lookups))
        print(f"measured {output.name}: {measured}", file=sys.stderr)
        verify = verification_ms(output)
        rows.append({"names": count, "hashed": hashed, "peak_mb": peak, **compiled, **measured,
                     **verify})
        output.unlink()
    source.unlink()
    query_file.unlink()
    return rows


def verification_ms(path: Path) -> dict[str, float]:
    """What activation costs before a file may serve: the minisign signature (prehashed,
    streamed BLAKE2b over the file) and the body's CRC-32, medians of 5."""
    from blocklists import minisign
    from blocklists.trie import CompiledList

    secret, public = minisign.generate_keypair()
    signature = minisign.sign_file(path, secret, "list=bench serial=1")
    sig_times, crc_times = [], []
    for _ in range(5):
        started = time.perf_counter()
        minisign.verify_file(path, signature, [public])
        sig_times.append((time.perf_counter() - started) * 1000)
        started = time.perf_counter()
        with CompiledList.open(path) as lst:
            lst.verify_integrity()
        crc_times.append((time.perf_counter() - started) * 1000)
    return {"verify_sig_ms": statistics.median(sig_times),
            "verify_crc_ms": statistics.median(crc_times)}


def table(rows: list[dict]) -> str:
    header = (
        "| names | file | entries | nodes | bytes/entry | compile s | compile peak MB "
        "| open ms | hit µs med/p99 | miss µs med/p99 | deep miss µs med/p99 "
        "| RSS MB (anon+file) | verify ms (signature + CRC) |"
    )
    lines = [header, header_rule(header)]
    for row in rows:
        rss = row["rss_after"]
        lines.append(
            f"| {row['names'] / 1e6:g}M | {'hashed' if row['hashed'] else 'public'} "
            f"| {row['count']:,} | {row['nodes']:,} | {row['size'] / row['count']:.1f} "
            f"| {row['seconds']:.1f} | {row['peak_mb']:.0f} | {row['open_ms']:.2f} "
            + "".join(
                f"| {row[kind]['median_us']:.2f} / {row[kind]['p99_us']:.2f} "
                for kind in ("hit", "miss", "deep miss")
            )
            + f"| {rss['VmRSS']:.0f} ({rss['RssAnon']:.0f}+{rss['RssFile']:.0f}) "
            + f"| {row['verify_sig_ms']:.0f} + {row['verify_crc_ms']:.0f} |"
        )
    return "\n".join(lines)


def header_rule(header: str) -> str:
    return "|" + "---|" * (header.count("|") - 1)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", type=int, nargs="*", default=[1_000_000])
    parser.add_argument("--5m", dest="five", action="store_true", help="also run 5M names")
    parser.add_argument("--lookups", type=int, default=100_000)
    parser.add_argument("--workdir", type=Path, default=None)
    parser.add_argument("--generate", nargs=3, help=argparse.SUPPRESS)
    options = parser.parse_args()
    if options.generate:
        count, source, query_file = options.generate
        write_inputs(int(count), Path(source), Path(query_file))
        return
    sizes = list(options.sizes) + ([5_000_000] if options.five else [])
    rows = []
    with tempfile.TemporaryDirectory(dir=options.workdir) as workdir:
        for size in sizes:
            rows.extend(bench_size(size, Path(workdir), options.lookups))
    load = ", ".join(f"{value:.1f}" for value in os.getloadavg())
    print(
        f"Python {sys.version.split()[0]}, {os.cpu_count()} CPUs, load average {load}, "
        f"{time.strftime('%Y-%m-%d')}"
    )
    print(table(rows))
    print(
        f"Per-lookup times include the timer's own ~{rows[0]['timer_us']:.2f} µs. RSS is the "
        f"lookup process after opening the file and {options.lookups:,} lookups; it started "
        f"at {rows[0]['rss_before']['VmRSS']:.0f} MB (Python, the reader and the query names)."
    )


if __name__ == "__main__":
    main()
