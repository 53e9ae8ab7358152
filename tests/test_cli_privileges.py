"""A root-run CLI command leaves nothing in state_dir that the service user cannot write:
it works as the owner of state_dir once it has read the config."""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from tests.listtools import Publisher, straja_cli

NOBODY = 65534  # stands for the straja user: the machine has no such user


@pytest.fixture
def shared_dir() -> Iterator[Path]:
    # pytest's tmp_path is 0700 root: the service user could not even reach it.
    path = Path(tempfile.mkdtemp(prefix="straja-priv-"))
    path.chmod(0o755)
    yield path
    shutil.rmtree(path)


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root")
def test_root_run_lists_update_writes_as_the_owner_of_state_dir(shared_dir: Path) -> None:
    pub = Publisher(shared_dir)
    lst = pub.compile("school", ["games.example.test"], 1)
    for path in shared_dir.iterdir():
        path.chmod(0o644)
    state = shared_dir / "state"
    state.mkdir(mode=0o750)
    os.chown(state, NOBODY, NOBODY)
    config = shared_dir / "config.yaml"
    config.write_text(yaml.safe_dump({
        "upstreams": ["127.0.0.2:5300"], "state_dir": str(state),
        "lists": [{"id": "school", "source": str(lst), "tier": "operator", "keys": [pub.key]}],
    }))
    config.chmod(0o600)  # readable by root only: read before the switch

    run = straja_cli("lists", "update", "--config", str(config))

    assert run.returncode == 0, run.stdout + run.stderr
    written = [p for p in state.rglob("*")]
    assert any(p.name == "active.sl" for p in written), written
    owners = {(p.stat().st_uid, p.stat().st_gid) for p in written}
    assert owners == {(NOBODY, NOBODY)}, [(p, p.stat().st_uid) for p in written]

