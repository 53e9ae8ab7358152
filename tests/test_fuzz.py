"""The fuzzer's short run (bench/fuzz.py runs a million): mutated and random packets over
UDP and TCP, with a mutating upstream behind, leave Straja running, answering, with no
exception in its log and every packet counted."""

from __future__ import annotations

from pathlib import Path

from bench import fuzz


def test_twenty_thousand_mutated_packets_crash_nothing_and_are_all_counted(
        tmp_path: Path) -> None:
    result = fuzz.run(20_000, seed=7, workdir=tmp_path)
    assert result["alive"] and result["still_answers"]
    assert result["exceptions_in_log"] == 0, result["log_tail"]
    assert result["counted_queries"] == result["expected_queries"]
    assert result["upstream_mangled"] > 0  # the slow path's walker got garbage too
