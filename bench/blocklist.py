"""One synthetic blocklist written in each server's own form.

- Straja: a `domains` source compiled with `straja lists compile --tier operator` (a public
  file, names kept), signed with a key from `straja keys generate` via `straja lists sign`;
  each Straja instance pins the key in its config and activates the file with
  `straja lists import` before it starts. Blocked A queries get the sinkhole 0.0.0.0.
- dnsmasq: a conf-file of `address=/NAME/0.0.0.0` lines (the name and its subdomains
  answer 0.0.0.0).
- Unbound: `local-zone: "NAME." always_nxdomain` lines, included in its `server:` clause.
  Measured on the 2-core VM with 1M names, Unbound 1.17.1 loads these in ~3.2 s and 440 MB,
  against ~18 s and 1.2 GB for the same names as an RPZ zone (`NAME CNAME .` and
  `*.NAME CNAME .`), so local zones it is.

Every form covers the listed name and everything below it, as Straja's list does.
"""

from __future__ import annotations

import os
import subprocess
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from tests.servers import straja_cmd, straja_env

LIST_ID = "bench"
SINKHOLE = "0.0.0.0"


@dataclass(frozen=True, slots=True)
class Blocklist:
    count: int
    domains: Path  # one name a line: the source Straja compiles
    dnsmasq_conf: Path
    unbound_conf: Path
    straja_file: Path  # compiled and signed, with .minisig beside it
    straja_key: str  # the publisher's public key, base64, as a list's `keys:` takes it
    list_id: str
    compile_seconds: float  # `straja lists compile`, wall clock (a separate, offline step)


def straja_cli(source: Path, *args: str, timeout: float = 600) -> str:
    """Run `straja ARGS` from the tree `source`; its stdout, or an error with its output."""
    env = straja_env()
    env["PYTHONPATH"] = str(source) + os.pathsep + env["PYTHONPATH"]
    run = subprocess.run(
        straja_cmd(*args), capture_output=True, text=True, env=env, cwd=source, timeout=timeout
    )
    if run.returncode != 0:
        raise RuntimeError(
            f"straja {' '.join(args)} failed with exit code {run.returncode}:\n"
            f"{run.stdout[-2000:]}{run.stderr[-2000:]}"
        )
    return run.stdout


def write_blocklist(names: Sequence[str], workdir: Path, straja_tree: Path) -> Blocklist:
    """Write the list for every server, and compile and sign Straja's."""
    workdir.mkdir(parents=True, exist_ok=True)
    domains = workdir / "blocklist.txt"
    domains.write_text("".join(f"{name}\n" for name in names))
    dnsmasq_conf = workdir / "dnsmasq-blocklist.conf"
    dnsmasq_conf.write_text("".join(f"address=/{name}/{SINKHOLE}\n" for name in names))
    unbound_conf = workdir / "unbound-blocklist.conf"
    unbound_conf.write_text("".join(f'  local-zone: "{name}." always_nxdomain\n' for name in names))
    compiled = workdir / f"{LIST_ID}.sl"
    started = time.perf_counter()
    straja_cli(
        straja_tree, "lists", "compile", str(domains), "--format", "domains",
        "--id", LIST_ID, "--serial", "1", "--tier", "operator", "-o", str(compiled),
    )  # fmt: skip
    compile_seconds = time.perf_counter() - started
    secret, public = workdir / "publisher.key", workdir / "publisher.pub"
    for old in (secret, public):
        old.unlink(missing_ok=True)
    key = straja_cli(
        straja_tree, "keys", "generate", "--secret-key", str(secret), "--public-key", str(public)
    ).strip()
    straja_cli(straja_tree, "lists", "sign", str(compiled), "--secret-key", str(secret))
    return Blocklist(
        count=len(names),
        domains=domains,
        dnsmasq_conf=dnsmasq_conf,
        unbound_conf=unbound_conf,
        straja_file=compiled,
        straja_key=key,
        list_id=LIST_ID,
        compile_seconds=compile_seconds,
    )
