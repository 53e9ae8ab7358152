"""The small-router profile's memory: the RSS of the whole Straja process (`workers: 1`,
DNS, list refresher and STOP page in one process, query log off) with a 100k-name and a
1M-name list, after it has answered a batch of blocked queries and served the STOP page.

    .venv/bin/python -m bench.router_rss [--sizes 100000,1000000] [--queries 20000]

Prints the table docs/performance.md quotes. RssFile is mostly the compiled list's mapped
pages (page cache, reclaimable under memory pressure); RssAnon is Python's own heap.
"""

from __future__ import annotations

import argparse
import socket
import subprocess
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path

import yaml

from bench.blocklist import write_blocklist
from bench.lists_bench import generate
from bench.procs import memory_bytes, probe_query, wait_first_answer
from tests.servers import REPO, free_port, straja_cmd, straja_env

MIB = 1024 * 1024


def measure(count: int, queries: int, workdir: Path) -> dict[str, float]:
    names, _ = generate(count, seed=1)
    started = time.perf_counter()
    blocklist = write_blocklist(names, workdir, REPO)
    compile_s = time.perf_counter() - started
    port, page_port = free_port(), free_port()
    config = workdir / "straja.yaml"
    config.write_text(yaml.safe_dump({
        "dns": {"listen": [f"127.0.0.1:{port}"], "workers": 1},
        "upstreams": ["127.0.0.2:9"],  # never asked: every query below is answered locally
        "state_dir": str(workdir / "state"),
        "stop_page": {"listen": [f"127.0.0.1:{page_port}"]},
        "log": {"level": "warning"},
        "lists": [{"id": blocklist.list_id, "source": str(blocklist.straja_file),
                   "tier": "operator", "keys": [blocklist.straja_key]}],
    }))
    proc = subprocess.Popen(straja_cmd("serve", "--config", str(config)), env=straja_env(),
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_first_answer("127.0.0.1", port, probe_query(names[0]), proc,
                          accept=lambda reply: reply[7] == 1)  # blocked: one answer record
        started_rss = memory_bytes([proc.pid])
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
            sock.connect(("127.0.0.1", port))
            sock.settimeout(2)
            step = max(1, len(names) // queries)
            for i, name in enumerate(names[::step][:queries]):
                sock.send(probe_query(name, i & 0xFFFF))
                sock.recv(4096)
        for _ in range(100):
            try:
                urllib.request.urlopen(urllib.request.Request(
                    f"http://127.0.0.1:{page_port}/", headers={"Host": names[1]}), timeout=5)
                break
            except urllib.error.HTTPError:
                break
            except OSError:
                time.sleep(0.1)
        time.sleep(0.5)
        after = memory_bytes([proc.pid])
    finally:
        proc.terminate()
        proc.wait(20)
    return {
        "names": count, "file_mib": blocklist.straja_file.stat().st_size / MIB,
        "compile_s": compile_s, "start_rss": started_rss["rss"] / MIB,
        "rss": after["rss"] / MIB, "anon": after["anon"] / MIB, "file": after["file"] / MIB,
        "peak": after["peak"] / MIB,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sizes", default="100000,1000000")
    parser.add_argument("--queries", type=int, default=20000)
    args = parser.parse_args()
    rows = []
    for count in (int(s) for s in args.sizes.split(",")):
        with tempfile.TemporaryDirectory(prefix="straja-rss-") as tmp:
            rows.append(measure(count, args.queries, Path(tmp)))
    print(f"| names | list file MiB | RSS at first answer MiB | RSS after {args.queries} blocked "
          "queries + STOP page MiB (anon + file) | peak MiB |")
    print("|---|---|---|---|---|")
    for r in rows:
        print(f"| {r['names']:,} | {r['file_mib']:.1f} | {r['start_rss']:.1f} | "
              f"{r['rss']:.1f} ({r['anon']:.1f} + {r['file']:.1f}) | {r['peak']:.1f} |")


if __name__ == "__main__":
    main()
