"""The small-router profile's memory: the RSS of the whole Straja process with a 100k-name
and a 1M-name list, after it has answered a batch of blocked queries, served the STOP page
and, with the UI on, had an operator open every page of the admin UI.

The config is the shipped /etc/config/straja (deploy/openwrt/files/straja.config: `workers:
1`, query log off, the UI on, `flush_interval 10m`, `cache_size 16MB`) translated by
admin/uci.py, with loopback ports, a scratch state_dir and the synthetic list in place of
the router's own; `--ui off` is the same profile with `option ui '0'` (the 128 MB advice).

    .venv/bin/python -m bench.router_rss [--sizes 100000,1000000] [--queries 20000]
                                         [--ui on,off]

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
from typing import Any

import yaml

from admin import uci
from bench.blocklist import write_blocklist
from bench.lists_bench import generate
from bench.procs import memory_bytes, probe_query, wait_first_answer
from tests.admintools import AdminClient
from tests.servers import REPO, free_port, straja_cmd, straja_env

MIB = 1024 * 1024
SHIPPED = REPO / "deploy" / "openwrt" / "files" / "straja.config"
# What an operator opens in the UI: every page, so each template and query has run once.
UI_PAGES = ("/", "/lists", "/check", "/overrides", "/groups", "/reports", "/audit",
            "/querylog", "/transparency", "/health", "/metrics")


def router_config(ui: bool, workdir: Path, blocklist: Any) -> tuple[dict[str, Any], int, int,
                                                                      int]:
    """The shipped UCI file, translated, with loopback ports and the bench's own list."""
    text = SHIPPED.read_text().replace("option ui '1'", f"option ui '{int(ui)}'")
    facts = uci.RouterFacts(lan_ipv4=["127.0.0.1/8"], wan_resolvers=["127.0.0.2"])
    config = uci.translate(uci.parse_uci(text, str(SHIPPED)), facts, str(SHIPPED))
    port, page_port, admin_port = free_port(), free_port(), free_port()
    config["dns"]["listen"] = [f"127.0.0.1:{port}"]
    config["upstreams"] = ["127.0.0.2:9"]  # never asked: every query below is answered locally
    config["state_dir"] = str(workdir / "state")
    config["stop_page"]["listen"] = [f"127.0.0.1:{page_port}"]
    config["stop_page"].pop("https_reject", None)
    config["log"] = {"level": "warning"}
    config["lists"] = [{"id": blocklist.list_id, "source": str(blocklist.straja_file),
                        "tier": "operator", "keys": [blocklist.straja_key]}]
    if ui:
        config["admin"]["listen"] = [f"127.0.0.1:{admin_port}"]
    else:
        assert not config.get("admin", {}).get("enabled", False), config.get("admin")
    return config, port, page_port, admin_port


def open_every_page(base: str, state_dir: Path) -> None:
    client = AdminClient(base)
    deadline = time.monotonic() + 60
    while True:
        try:
            if client.get("/login").status == 200:
                break
        except OSError:
            pass
        if time.monotonic() > deadline:
            raise SystemExit("the admin UI did not answer within 60 s")
        time.sleep(0.2)
    reply = client.setup(str(state_dir), "admin", "a long router password 1")
    if reply.status not in (302, 303):
        raise SystemExit(f"first-run setup answered {reply.status}: {reply.text[:300]}")
    for path in UI_PAGES:
        client.get(path)


def measure(count: int, queries: int, ui: bool, workdir: Path) -> dict[str, Any]:
    names, _ = generate(count, seed=1)
    blocklist = write_blocklist(names, workdir, REPO)
    config, port, page_port, admin_port = router_config(ui, workdir, blocklist)
    config_path = workdir / "straja.yaml"
    config_path.write_text(yaml.safe_dump(config))
    proc = subprocess.Popen(straja_cmd("serve", "--config", str(config_path)), env=straja_env(),
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
        if ui:
            open_every_page(f"http://127.0.0.1:{admin_port}", Path(config["state_dir"]))
        time.sleep(0.5)
        after = memory_bytes([proc.pid])
    finally:
        proc.terminate()
        proc.wait(20)
    return {
        "names": count, "ui": ui, "file_mib": blocklist.straja_file.stat().st_size / MIB,
        "start_rss": started_rss["rss"] / MIB,
        "rss": after["rss"] / MIB, "anon": after["anon"] / MIB, "file": after["file"] / MIB,
        "peak": after["peak"] / MIB,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sizes", default="100000,1000000")
    parser.add_argument("--queries", type=int, default=20000)
    parser.add_argument("--ui", default="on,off", help="on, off or on,off")
    args = parser.parse_args()
    rows = []
    for count in (int(s) for s in args.sizes.split(",")):
        for ui in (part.strip() == "on" for part in args.ui.split(",")):
            with tempfile.TemporaryDirectory(prefix="straja-rss-") as tmp:
                rows.append(measure(count, args.queries, ui, Path(tmp)))
    print(f"| names | UI | list file MiB | RSS at first answer MiB | RSS after {args.queries} "
          "blocked queries + STOP page (+ every UI page) MiB (anon + file) | peak MiB |")
    print("|---|---|---|---|---|---|")
    for r in rows:
        print(f"| {r['names']:,} | {'on' if r['ui'] else 'off'} | {r['file_mib']:.1f} | "
              f"{r['start_rss']:.1f} | {r['rss']:.1f} ({r['anon']:.1f} + {r['file']:.1f}) | "
              f"{r['peak']:.1f} |")


if __name__ == "__main__":
    main()
