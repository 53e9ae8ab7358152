"""deploy/install.sh for real, not against a scratch prefix (a virtualenv cannot be moved):
in a private mount namespace with tmpfs over /opt and /var/lib and a throwaway copy of /etc
over /etc, so the machine's own /etc, /opt and /var/lib are never touched. Offline, from a
wheelhouse built first, as a school without internet access would install from a USB stick.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import textwrap
from pathlib import Path

import pytest

from tests.namespaces import unshare_permitted
from tests.servers import REPO

SYSTEM_PYTHON = "/usr/bin/python3"


def _can_run() -> bool:
    if os.geteuid() != 0 or not Path(SYSTEM_PYTHON).exists():
        return False
    return unshare_permitted("-m")


pytestmark = pytest.mark.skipif(not _can_run(), reason="needs root, unshare -m and python3")


@pytest.fixture(scope="module")
def wheelhouse(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Straja, its dependencies and the build backend as wheels, and a 0.1.1 to upgrade to."""
    house = tmp_path_factory.mktemp("wheelhouse")
    pip = [SYSTEM_PYTHON, "-m", "pip"]
    if subprocess.run([*pip, "--version"], capture_output=True).returncode != 0:
        pip = [str(REPO / ".venv" / "bin" / "pip")]
    subprocess.run([*pip, "wheel", "-q", "-w", str(house), str(REPO), "setuptools>=77", "wheel"],
                   check=True, capture_output=True, timeout=600)
    newer = tmp_path_factory.mktemp("newer")
    shutil.copytree(REPO, newer / "src", ignore=shutil.ignore_patterns(
        ".venv", ".git", "build", "*.egg-info", "__pycache__", "state", ".*_cache"))
    project = newer / "src" / "pyproject.toml"
    project.write_text(project.read_text().replace('version = "0.1.0"', 'version = "0.1.1"'))
    subprocess.run([*pip, "wheel", "-q", "--no-deps", "--no-index", "--find-links", str(house),
                    "-w", str(newer), str(newer / "src")], check=True, capture_output=True,
                   timeout=300)
    return house


def in_namespace(tmp_path: Path, steps: str) -> str:
    """Run shell `steps` with private /opt, /var/lib and /etc; returns stdout+stderr."""
    etc = tmp_path / "etc"
    script = textwrap.dedent(f"""\
        set -e
        mount --make-rprivate /
        mount -t tmpfs tmpfs /opt
        mount -t tmpfs tmpfs /var/lib
        mkdir -p {etc}
        mount -t tmpfs tmpfs {etc}
        cp -a /etc/. {etc}/
        mount --bind {etc} /etc
        """) + steps
    env = {k: v for k, v in os.environ.items() if not k.startswith("PIP_")}
    env["PYTHON"] = SYSTEM_PYTHON
    run = subprocess.run(["unshare", "-m", "sh", "-c", script], capture_output=True, text=True,
                         env=env, timeout=600, cwd=REPO)
    out = run.stdout + run.stderr
    assert run.returncode == 0, out
    return out


def test_install_upgrade_uninstall_and_the_installed_units_verify(
    tmp_path: Path, wheelhouse: Path
) -> None:
    newer = next(wheelhouse.parent.glob("newer*/straja-0.1.1-*.whl"))
    install = f"{REPO}/deploy/install.sh"
    out = in_namespace(tmp_path, textwrap.dedent(f"""\
        {install} --wheelhouse {wheelhouse}
        echo "user=$(getent passwd straja | cut -d: -f1,7)"
        echo "version=$(/opt/straja/bin/straja --version)"
        echo "config=$(stat -c '%U:%G %a' /etc/straja/config.yaml)"
        echo "confdir=$(stat -c '%U:%G %a' /etc/straja)"
        echo "state=$(stat -c '%U:%G %a' /var/lib/straja)"
        echo "state_dir=$(grep '^state_dir:' /etc/straja/config.yaml)"
        echo "lists=$(/opt/straja/bin/straja config check --config /etc/straja/config.yaml \
          | grep 'list(s)')"
        systemd-analyze verify /etc/systemd/system/straja.service \
          /etc/systemd/system/straja.socket && echo verify=ok
        # Again: nothing changes, the operator's edit stays.
        echo "# edited by the operator" >> /etc/straja/config.yaml
        {install} --wheelhouse {wheelhouse}
        echo "kept=$(tail -1 /etc/straja/config.yaml)"
        echo "config2=$(stat -c '%U:%G %a' /etc/straja/config.yaml)"
        # An upgrade in place, then the uninstall that keeps config and state.
        {install} --wheelhouse {wheelhouse} --wheel {newer}
        echo "upgraded=$(/opt/straja/bin/straja --version)"
        {install} --uninstall
        echo "after_uninstall=$(ls /opt | wc -l) $(ls /etc/systemd/system/straja.* 2>/dev/null \
          | wc -l) $(test -f /etc/straja/config.yaml && echo config-kept)"
        {install} --uninstall --purge
        echo "after_purge=$(test -e /etc/straja || test -e /var/lib/straja || echo gone) \
          $(getent passwd straja || echo no-user)"
        """))
    values = dict(re.findall(r"^(\w+)=(.*)$", out, re.M))
    assert values.get("user") == "straja:/usr/sbin/nologin", out
    assert values["version"].endswith("0.1.0"), out
    assert values["config"] == "root:straja 640"
    assert values["confdir"] == "root:straja 750"
    assert values["state"] == "straja:straja 750"
    assert values["state_dir"] == "state_dir: /var/lib/straja"
    assert values["lists"].strip().startswith("0 list(s)"), "the demo list must be off"
    assert values.get("verify") == "ok", out
    assert values["kept"] == "# edited by the operator"
    assert values["config2"] == "root:straja 640"
    assert values["upgraded"].endswith("0.1.1"), out
    assert values["after_uninstall"].split() == ["0", "0", "config-kept"], out
    assert values["after_purge"].split() == ["gone", "no-user"], out
