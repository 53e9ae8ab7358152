"""The shipped systemd units: they verify, and the service's exposure stays at or under 1.5
(Unbound's own unit scores 3.0, dnsmasq's commonly 9.0)."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.servers import REPO

UNITS = REPO / "deploy" / "systemd"
ANALYZE = shutil.which("systemd-analyze")
needs_analyze = pytest.mark.skipif(ANALYZE is None, reason="systemd-analyze is not installed")


@needs_analyze
def test_service_exposure_is_at_most_1_5() -> None:
    run = subprocess.run(
        [str(ANALYZE), "security", "--offline=true", "--threshold=15",
         str(UNITS / "straja.service")],
        capture_output=True, text=True, timeout=60,
    )
    assert run.returncode == 0, run.stdout + run.stderr
    found = re.search(r"Overall exposure level for straja\.service: (\d+\.\d)", run.stdout)
    assert found, run.stdout
    assert float(found.group(1)) <= 1.5, run.stdout


@needs_analyze
def test_every_unit_verifies(tmp_path: Path) -> None:
    # The units name /opt/straja/bin/straja, which verify wants executable; point them at
    # a stand-in (the installed units are verified in place by tests/test_install.py).
    stand_in = tmp_path / "straja"
    stand_in.write_text("#!/bin/sh\n")
    stand_in.chmod(0o755)
    units = []
    for unit in sorted(UNITS.iterdir()):
        copy = tmp_path / unit.name
        copy.write_text(unit.read_text().replace("/opt/straja/bin/straja", str(stand_in)))
        units.append(str(copy))
    assert any(u.endswith(".service") for u in units) and any(u.endswith(".socket") for u in units)
    run = subprocess.run([str(ANALYZE), "verify", *units], capture_output=True, text=True,
                         timeout=60)
    assert run.returncode == 0 and not run.stderr.strip(), run.stdout + run.stderr


def test_unit_grants_only_cap_net_bind_service_and_keeps_exit_78_from_restarting() -> None:
    text = (UNITS / "straja.service").read_text()
    settings = dict(
        line.split("=", 1) for line in text.splitlines() if "=" in line and line[0] != "#"
    )
    assert settings["AmbientCapabilities"] == "CAP_NET_BIND_SERVICE"
    assert settings["CapabilityBoundingSet"] == "CAP_NET_BIND_SERVICE"
    assert settings["RestartPreventExitStatus"] == "78"
    assert settings["Type"] == "notify" and settings["NotifyAccess"] == "main"
    assert settings["User"] == "straja" and "DynamicUser" not in settings
