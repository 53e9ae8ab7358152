"""Faults of the lists and the config: a full disk, trickling and oversized list sources,
one slow list among others, pinned keys that do not parse, secrets readable by others."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.listtools import Publisher, straja_cli
from tests.servers import REPO, straja_env


def test_a_full_disk_while_a_list_is_written_keeps_the_old_version_serving(tmp_path: Path
                                                                          ) -> None:
    if shutil.which("unshare") is None:
        pytest.fail("unshare (util-linux) is needed to mount a small tmpfs")
    pub = Publisher(tmp_path)
    small = pub.compile("school", ["games.example.test"], 1)
    big = pub.compile("school", [f"n{i}.example.test" for i in range(30000)], 2)
    assert big.stat().st_size > 400_000
    state = tmp_path / "state"
    state.mkdir()
    script = (f"mount -t tmpfs -o size=2m tmpfs {state} && exec {sys.executable} "
              f"-m tests.diskfull_job {state} {small} {big} {pub.key}")
    run = subprocess.run(["unshare", "-rm", "sh", "-c", script], cwd=REPO, env=straja_env(),
                         capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stderr
    outcome = json.loads(run.stdout)
    assert "No space left on device" in outcome["refused"]
    assert outcome["serial"] == 1  # the old version is intact and active
    assert "active.sl.tmp" not in outcome["files"]  # the partial file is gone
    assert "No space left on device" in outcome["status"]["last_refusal"]["reason"]
    assert "Traceback" not in run.stderr
    assert outcome["serial_after"] == 2  # once there is space again, it activates


def _config(tmp_path: Path, keys: list[str]) -> Path:
    config = tmp_path / "straja.yaml"
    config.write_text(
        "upstreams: [127.0.0.2:53]\n"
        f"state_dir: {tmp_path / 'state'}\n"
        "lists:\n"
        "  - id: school\n"
        f"    source: {tmp_path / 'school.sl'}\n"
        "    tier: operator\n"
        f"    keys: {json.dumps(keys)}\n"
    )
    return config


@pytest.mark.parametrize("key,named", [("hello world", "hello world"),
                                       ("missing.pub", "missing.pub")])
def test_a_pinned_key_that_does_not_parse_is_refused_by_check_and_serve(
        tmp_path: Path, key: str, named: str) -> None:
    config = _config(tmp_path, [key])
    check = straja_cli("config", "check", "--config", str(config))
    assert check.returncode != 0
    assert "lists[0].keys[0]" in check.stdout + check.stderr
    assert named in check.stdout + check.stderr
    serve = straja_cli("serve", "--config", str(config), timeout=30)
    assert serve.returncode == 78
    assert "lists[0].keys[0]" in serve.stdout + serve.stderr


def test_a_good_pinned_key_file_passes_the_check(tmp_path: Path) -> None:
    pub = Publisher(tmp_path)
    config = _config(tmp_path, [str(pub.pub_path)])
    check = straja_cli("config", "check", "--config", str(config))
    assert check.returncode == 0, check.stdout + check.stderr


def test_a_config_with_secrets_readable_by_others_warns_and_the_example_does_not(
        tmp_path: Path) -> None:
    from admin.config import exposed_secrets_warning

    config = tmp_path / "straja.yaml"
    config.write_text("upstreams: [127.0.0.2:53]\nadmin:\n  database:\n    password: hunter2\n")
    config.chmod(0o644)
    warning = exposed_secrets_warning(config)
    assert warning is not None and "admin.database.password" in warning
    assert "chmod 600" in warning
    config.chmod(0o600)
    assert exposed_secrets_warning(config) is None
    assert exposed_secrets_warning(REPO / "config.example.yaml") is None

