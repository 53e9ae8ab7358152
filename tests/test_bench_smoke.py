"""The side-by-side DNS benchmark runs end to end: a correctness check, never a timing one."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
SERVERS = {"straja": "straja", "dnsmasq": "dnsmasq", "unbound": "unbound", "echo": "uvloop echo"}
WORKLOADS = ("blocked", "cached", "mixed", "cold-unique")


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()[0]
    except OSError:
        return False
    return state != "Z"


def test_smoke_run_prints_tables_targets_and_one_summary_and_every_server_answers(
    tmp_path: Path,
) -> None:
    for tool in ("dnsperf", "unbound", "unbound-control", "dnsmasq"):
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
        timeout=180,
        cwd=REPO,
    )
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    out = run.stdout

    # A table per workload, a row per server, and the start-up table.
    assert re.search(r"^\| +server \| +start->answer ms \|", out, re.MULTILINE)
    for workload in WORKLOADS:
        section = out.split(f"Workload {workload}:\n", 1)[1].split("\n\n", 1)[0]
        assert re.search(r"^\| +server \| +q/s \|.*CPU us/q", section, re.MULTILINE), workload
        for row in SERVERS.values():
            assert re.search(rf"^\| +{row} \| +\d+ \|", section, re.MULTILINE), (workload, row)
    assert "Targets (ratios measured in this run" in out
    verdict = r"blocked: straja / dnsmasq, q/s +\d+\.\d+ +target >= 0\.85 +(PASS|SHORT)"
    assert re.search(verdict, out)
    assert re.search(r"straja / unbound, start to first answer +\d+\.\d+ +target <= 0\.10", out)

    summary = [line for line in out.splitlines() if line.startswith("SUMMARY ")]
    assert len(summary) == 1
    fields = dict(part.split("=", 1) for part in summary[0].split()[2:])
    assert fields["list"] == "2000" and fields["workers"] == "1"
    for workload in WORKLOADS:
        for key in SERVERS:
            assert int(fields[f"{workload}_{key}_qps"]) > 0, (workload, key)
        for other in ("dnsmasq", "unbound", "echo"):
            assert float(fields[f"{workload}_vs_{other}"]) > 0
    assert re.fullmatch(r"\d+/\d+", fields["targets_met"])

    report = json.loads(samples_file.read_text())
    samples = {(s["workload"], s["server"]): s for s in report["samples"]}
    assert set(samples) == {(w, k) for w in WORKLOADS for k in SERVERS}
    for (workload, key), s in samples.items():
        assert s["completed"] > 0 and s["lost"] < s["sent"], (workload, key)
        assert s["latency_p50"] is not None and s["latency_p99"] >= s["latency_p50"]
    # Every server blocks the listed names its own way, and forwards only what it must.
    for key in ("straja", "dnsmasq"):
        blocked = samples["blocked", key]
        assert blocked["rcodes"] == {"NOERROR": blocked["completed"]}
    unbound_blocked = samples["blocked", "unbound"]
    assert unbound_blocked["rcodes"] == {"NXDOMAIN": unbound_blocked["completed"]}
    for key in ("straja", "dnsmasq", "unbound"):
        for workload in ("blocked", "cached", "mixed"):
            assert samples[workload, key]["upstream_queries"] == 0, (workload, key)
        cold = samples["cold-unique", key]
        assert cold["rcodes"] == {"NOERROR": cold["completed"]}
        assert cold["upstream_queries"] >= cold["completed"], key
    for key, start in report["startups"].items():
        assert len(start["seconds"]) == 1 and start["seconds"][0] > 0, key

    pids = [pid for server in report["servers"].values() for pid in server["pids"]]
    assert len(pids) >= 4
    assert [pid for pid in pids if _alive(pid)] == [], "the harness left servers running"
