"""The DNS serving benchmark runs end to end: a correctness check, never a timing one."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()[0]
    except OSError:
        return False
    return state != "Z"


def test_smoke_run_prints_the_table_and_summary_and_straja_answers(tmp_path: Path) -> None:
    for tool in ("dnsperf", "unbound", "unbound-control"):
        if shutil.which(tool) is None and not Path(f"/usr/sbin/{tool}").exists():
            pytest.fail(f"{tool} is not installed; run scripts/test-deps")
    workdir = tmp_path / "work"
    samples_file = tmp_path / "samples.json"
    run = subprocess.run(
        [
            sys.executable,
            str(REPO / "bench" / "dns_bench.py"),
            "--smoke",
            "--workdir",
            str(workdir),
            "--json",
            str(samples_file),
        ],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=REPO,
    )
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]

    out = run.stdout
    assert re.search(r"^\| +server \| +q/s \|.*CPU us/q", out, re.MULTILINE)
    for row in ("straja", "uvloop echo", "unbound"):
        assert re.search(rf"^\| +{row} \| +\d+ \|", out, re.MULTILINE), row
    summary = [line for line in out.splitlines() if line.startswith("SUMMARY cached ")]
    assert len(summary) == 1
    fields = dict(part.split("=", 1) for part in summary[0].split()[2:])
    assert int(fields["straja_qps"]) > 0 and int(fields["echo_qps"]) > 0
    assert float(fields["ratio"]) > 0 and float(fields["unbound_ratio"]) > 0

    report = json.loads(samples_file.read_text())
    samples = report["samples"]
    by_server = {s["server"]: s for s in samples}
    assert set(by_server) == {"straja", "echo", "unbound"}
    straja = by_server["straja"]
    assert straja["completed"] > 0 and straja["lost"] < straja["sent"]
    assert straja["rcodes"] == {"NOERROR": straja["completed"]}
    # Warmed: every measured query was answered from Straja's cache.
    assert straja["upstream_queries"] == 0
    assert straja["latency_p50"] is not None and straja["latency_p99"] >= straja["latency_p50"]

    pids = [pid for server in report["servers"].values() for pid in server["pids"]]
    assert len(pids) >= 3
    assert [pid for pid in pids if _alive(pid)] == [], "the harness left servers running"
