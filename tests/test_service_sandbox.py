"""What the systemd unit grants is enough: as an unprivileged user holding only
CAP_NET_BIND_SERVICE, with every file system read-only but state_dir (ProtectSystem=strict
with StateDirectory=), Straja answers DNS on port 53, serves the STOP page on port 80 and
activates its lists. Runs in private network and mount namespaces; needs real root to
switch users (setpriv), and touches nothing outside them."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from tests.listtools import Publisher
from tests.namespaces import unshare_permitted
from tests.servers import REPO, UNBOUND, straja_env

NOBODY = 65534


def _namespaces_work() -> bool:
    if os.geteuid() != 0 or not shutil.which("setpriv"):
        return False
    return unshare_permitted("-mn")


@pytest.fixture
def shared_dir() -> Iterator[Path]:
    path = Path(tempfile.mkdtemp(prefix="straja-sandbox-"))  # reachable by the service user
    path.chmod(0o755)
    yield path
    shutil.rmtree(path)


@pytest.mark.skipif(not _namespaces_work(), reason="needs root and unshare -mn")
def test_port_53_and_80_with_only_cap_net_bind_service_writing_only_state_dir(
    shared_dir: Path,
) -> None:
    pub = Publisher(shared_dir)
    lst = pub.compile("school", ["games.example.test"], 1)
    state = shared_dir / "state"
    state.mkdir(mode=0o750)
    os.chown(state, NOBODY, NOBODY)
    (shared_dir / "unbound.conf").write_text(textwrap.dedent(f"""\
        server:
          interface: 127.0.0.2
          port: 5300
          do-daemonize: no
          chroot: ""
          username: ""
          directory: "{shared_dir}"
          pidfile: ""
          use-syslog: no
          do-ip6: no
          module-config: "iterator"
          access-control: 127.0.0.0/8 allow
          local-zone: "." static
          local-data: "www.example.test. 300 IN A 192.0.2.10"
        remote-control:
          control-enable: no
        """))
    cfg = shared_dir / "straja.yaml"
    cfg.write_text(yaml.safe_dump({
        "dns": {"listen": ["127.0.0.1:53"]},
        "upstreams": ["127.0.0.2:5300"],
        "state_dir": str(state),
        "blocking": {"sinkhole": {"ipv4": "127.0.0.1"}},
        "stop_page": {"listen": ["127.0.0.1:80"]},
        "lists": [{"id": "school", "source": str(lst), "tier": "operator", "keys": [pub.key]}],
    }))
    for path in shared_dir.iterdir():
        if path != state:
            path.chmod(0o644)
    service_user = (
        f"setpriv --reuid={NOBODY} --regid={NOBODY} --clear-groups "
        "--inh-caps=-all,+net_bind_service --ambient-caps=-all,+net_bind_service "
        "--bounding-set=-all,+net_bind_service --no-new-privs"
    )
    probe = textwrap.dedent("""\
        for i in $(seq 150); do
          dig @127.0.0.1 version.bind CH TXT +tries=1 +time=1 | grep -q status && break
          sleep 0.1
        done
        for i in $(seq 100); do
          python3 -c 'import socket; socket.create_connection(("127.0.0.1", 80), 1)' \
            2>/dev/null && break
          sleep 0.1
        done
        echo "dig=$(dig @127.0.0.1 games.example.test +short) \
        www=$(dig @127.0.0.1 www.example.test +short) \
        stop=$(python3 -c 'import urllib.request as u, urllib.error as e
        try: u.urlopen(u.Request("http://127.0.0.1/", headers={"Host": "games.example.test"}))
        except e.HTTPError as x: print(x.code)')"
        """)
    script = (
        "set -e; ip link set lo up; "
        f"{UNBOUND} -d -c {shared_dir}/unbound.conf & UB=$!; "
        # Everything read-only but state_dir, as ProtectSystem=strict leaves it, and a
        # private temporary directory, as PrivateTmp= gives.
        f"mount --bind {state} {state}; mount -o remount,bind,ro /; "
        "mount -o remount,bind,ro /dev/shm; mount -t tmpfs -o mode=1777 tmpfs /var/tmp; "
        "set +e; "
        f"TMPDIR=/var/tmp {service_user} {sys.executable} -m admin serve --config {cfg} & ST=$!; "
        f"{probe}kill $ST $UB; wait $ST; echo straja-exit=$?"
    )
    env = straja_env()
    env["PYTHONDONTWRITEBYTECODE"] = "1"
    run = subprocess.run(["unshare", "-mn", "sh", "-c", script], capture_output=True,
                         text=True, env=env, timeout=120, cwd=REPO)
    out = run.stdout + run.stderr
    assert "dig=127.0.0.1 www=192.0.2.10 stop=403" in " ".join(run.stdout.split()), out
    assert "straja-exit=0" in run.stdout, out
    written = list(state.rglob("*"))
    assert any(p.name == "active.sl" for p in written), written
    assert {p.stat().st_uid for p in written} == {NOBODY}
