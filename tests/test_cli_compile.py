"""`straja lists compile`: options, output, bad lines on stderr, stdin, exit codes."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

from admin.commands.lists import lists
from blocklists.trie import CompiledList, Match, name_to_labels
from tests.clirunner import Outcome, invoke

REPO = Path(__file__).resolve().parent.parent


def compile_cli(*args: str | Path, input: str | None = None) -> Outcome:
    return invoke(lists, ["compile", *args], input=input)


def base_options(output: Path, fmt: str = "domains") -> list[str | Path]:
    return ["--format", fmt, "--id", "test-list", "--serial", "3", "--tier", "operator",
            "--output", output]  # fmt: skip


def test_compile_writes_a_list_and_prints_what_it_did(tmp_path: Path) -> None:
    source = tmp_path / "ads.txt"
    source.write_text("ads.example\n# comment\nbad..example\ntracker.example\n")
    output = tmp_path / "ads.sl"
    result = compile_cli(
        source, *base_options(output), "--category", "ads", "--expires", "30d",
        "--canary", "canary.straja.test",
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert "Compiled 3 entries" in result.stdout
    assert "bytes per entry" in result.stdout
    assert "and 1 bad lines" in result.stdout
    assert f"{source}: line 3: " in result.stderr
    assert "empty label" in result.stderr
    with CompiledList.open(output) as lst:
        header = lst.header
        assert (header.list_id, header.serial, header.tier) == ("test-list", 3, "operator")
        assert header.category == "ads"
        assert header.expires is not None
        assert abs(header.expires - header.issued - 30 * 86400) <= 1
        assert abs(header.issued - time.time()) < 60
        assert header.canaries == ("canary.straja.test",)
        assert header.skipped == 1
        assert not header.hashed
        assert lst.lookup(name_to_labels("www.ads.example")) == Match(0, 2, False)


def test_compile_hashed_from_stdin(tmp_path: Path) -> None:
    output = tmp_path / "hidden.sl"
    result = compile_cli(
        "-", *base_options(output, "hosts"), "--hashed", input="0.0.0.0 secretname.example\n"
    )
    assert result.exit_code == 0, result.output
    assert "from stdin (hosts)" in result.stdout
    assert "hashed" in result.stdout
    assert b"secretname" not in output.read_bytes()
    with CompiledList.open(output) as lst:
        assert lst.header.hashed
        assert lst.lookup(name_to_labels("secretname.example")) is not None


def test_many_bad_lines_are_summarised(tmp_path: Path) -> None:
    source = tmp_path / "bad.txt"
    source.write_text("".join(f"bad{i}..example\n" for i in range(25)) + "good.example\n")
    result = compile_cli(source, *base_options(tmp_path / "out.sl"))
    assert result.exit_code == 0
    assert result.stderr.count(": line ") == 10
    assert "and 15 more bad lines" in result.stderr
    assert "and 25 bad lines" in result.stdout


def test_missing_source_fails_with_a_sentence(tmp_path: Path) -> None:
    result = compile_cli(tmp_path / "absent.txt", *base_options(tmp_path / "out.sl"))
    assert result.exit_code != 0
    assert "does not exist" in result.output
    assert not (tmp_path / "out.sl").exists()


def test_bad_options_fail_with_a_sentence(tmp_path: Path) -> None:
    source = tmp_path / "s.txt"
    source.write_text("x.example\n")
    out = tmp_path / "out.sl"
    cases = [
        (["--format", "csv"], "'csv' is not one of"),
        (["--tier", "gold"], "'gold' is not one of"),
        (["--serial", "-1"], "-1 is not in the range"),
        (["--expires", "soon"], "is not a duration"),
        (["--id", "Not Valid"], "list id 'Not Valid' is not valid"),
        (["--canary", "bad..name"], "canary 'bad..name' is not a valid name"),
    ]
    for extra, message in cases:
        result = compile_cli(source, *base_options(out), *extra)
        assert result.exit_code != 0, extra
        assert message in result.output, (extra, result.output)
        assert not out.exists()


def test_unwritable_output_fails_with_a_sentence(tmp_path: Path) -> None:
    source = tmp_path / "s.txt"
    source.write_text("x.example\n")
    result = compile_cli(source, *base_options(tmp_path / "no" / "such" / "dir.sl"))
    assert result.exit_code == 1
    assert "Cannot write the compiled list" in result.stderr
    assert "No such file or directory" in result.stderr


def test_the_straja_command_compiles_from_a_pipe(tmp_path: Path) -> None:
    output = tmp_path / "piped.sl"
    completed = subprocess.run(
        [sys.executable, "-m", "admin", "lists", "compile", "-", "--format", "adblock",
         "--id", "piped", "--serial", "1", "--tier", "family", "--output", str(output)],
        input="||piped.example^\n@@||ok.piped.example^\n", capture_output=True, text=True,
        cwd=REPO, timeout=120,
    )  # fmt: skip
    assert completed.returncode == 0, completed.stderr
    assert "Compiled 2 entries" in completed.stdout
    with CompiledList.open(output) as lst:
        assert lst.lookup(name_to_labels("x.piped.example")) is not None
        assert lst.lookup(name_to_labels("x.ok.piped.example")) is None


def test_the_summary_shows_the_first_unsupported_rules_and_report_writes_all(
    tmp_path: Path,
) -> None:
    source = tmp_path / "filter.txt"
    lines = ["! AdGuard-shaped", "||ads.example^", "@@||ok.ads.example^|", "||track", "##.ad",
             "||x.example^$third-party"]
    lines += [f"||c{i}.example^$client=laptop{i}" for i in range(15)]
    source.write_text("\n".join(lines) + "\n")
    report = tmp_path / "report.tsv"
    result = compile_cli(source, *base_options(tmp_path / "out.sl", "adblock"),
                         "--report", report)
    assert result.exit_code == 0, result.output
    assert ("1 entries, 1 exceptions, 1 pattern rules, 0 rules with modifiers; skipped 2 "
            "not-DNS rules, 15 unsupported rules and 0 bad lines") in result.stdout.replace(
                "\n  ", " ")
    assert result.stderr.count("unsupported rule ||c") == 10
    assert "line 7: unsupported rule ||c0.example^$client=laptop0" in result.stderr
    assert "and 5 more unsupported rules" in result.stderr
    rows = report.read_text().splitlines()
    assert len(rows) == 16 and rows[-1].startswith("unsupported\t21\t")


def test_an_allowlist_is_compiled_with_kind_allow(tmp_path: Path) -> None:
    source = tmp_path / "allow.txt"
    source.write_text("ok.example\n")
    result = compile_cli(source, *base_options(tmp_path / "allow.sl"), "--kind", "allow")
    assert result.exit_code == 0, result.output
    with CompiledList.open(tmp_path / "allow.sl") as lst:
        assert lst.header.kind == "allow" and lst.lookup(name_to_labels("ok.example")) is None
    result = compile_cli(source, "--format", "domains", "--id", "a", "--serial", "1",
                         "--tier", "mandatory", "--kind", "allow", "-o", tmp_path / "m.sl")
    assert result.exit_code == 1 and "cannot be in the mandatory tier" in result.stderr
