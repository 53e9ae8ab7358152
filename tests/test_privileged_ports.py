"""Port 53 for DNS and ports 80/443 for the STOP page, in a private network namespace.

`unshare -rn` gives the test root over a network namespace of its own (only its loopback),
which is what binding ports below 1024 needs; nothing here touches the machine's network.
"""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import yaml

from tests.listtools import Publisher
from tests.namespaces import unshare_permitted
from tests.servers import REPO, UNBOUND, straja_env


@pytest.mark.skipif(not unshare_permitted("-rn"), reason="unshare -rn is not permitted here")
def test_dns_on_53_and_stop_page_on_80_and_443_in_a_namespace(tmp_path: Path) -> None:
    pub = Publisher(tmp_path)
    lst = pub.compile("school", ["games.example.test"], 1)
    (tmp_path / "unbound.conf").write_text(textwrap.dedent(f"""\
        server:
          interface: 127.0.0.2
          port: 5300
          do-daemonize: no
          chroot: ""
          username: ""
          directory: "{tmp_path}"
          pidfile: "{tmp_path}/unbound.pid"
          use-syslog: no
          do-ip6: no
          module-config: "iterator"
          access-control: 127.0.0.0/8 allow
          local-zone: "." static
          local-data: "www.example.test. 300 IN A 192.0.2.10"
        remote-control:
          control-enable: no
        """))
    config = {
        "dns": {"listen": ["127.0.0.1:53"]},
        "upstreams": ["127.0.0.2:5300"],
        "state_dir": str(tmp_path / "state"),
        "blocking": {"sinkhole": {"ipv4": "127.0.0.1"}},
        "stop_page": {"listen": ["127.0.0.1:80"], "https_reject": ["127.0.0.1:443"]},
        "lists": [{"id": "school", "source": str(lst), "tier": "operator", "keys": [pub.key]}],
    }
    cfg = tmp_path / "straja.yaml"
    cfg.write_text(yaml.safe_dump(config))
    probe = tmp_path / "probe.py"
    probe.write_text(textwrap.dedent("""\
        import socket, subprocess, time, urllib.request, urllib.error
        for _ in range(100):
            try:
                socket.create_connection(("127.0.0.1", 80), timeout=0.2).close()
                break
            except OSError:
                time.sleep(0.1)
        dig = subprocess.run(["dig", "@127.0.0.1", "games.example.test", "+short"],
                             capture_output=True, text=True).stdout.strip()
        www = subprocess.run(["dig", "@127.0.0.1", "www.example.test", "+short"],
                             capture_output=True, text=True).stdout.strip()
        try:
            urllib.request.urlopen(urllib.request.Request(
                "http://127.0.0.1/", headers={"Host": "games.example.test"}), timeout=5)
            status = 200
        except urllib.error.HTTPError as exc:
            status = exc.code
        c = socket.create_connection(("127.0.0.1", 443), timeout=5)
        closed = c.recv(10) == b""
        print(f"dig={dig} www={www} stop={status} https_closed={closed}")
        """))
    script = (
        "ip link set lo up; "
        f"{UNBOUND} -d -c {tmp_path}/unbound.conf & UB=$!; "
        f"{sys.executable} -m admin serve --config {cfg} > {tmp_path}/straja.log 2>&1 & ST=$!; "
        f"{sys.executable} {probe}; "
        "kill $ST $UB; wait"
    )
    run = subprocess.run(["unshare", "-rn", "sh", "-c", script], capture_output=True, text=True,
                         env=straja_env(), timeout=120, cwd=REPO)
    log = (tmp_path / "straja.log").read_text() if (tmp_path / "straja.log").exists() else ""
    assert "dig=127.0.0.1 www=192.0.2.10 stop=403 https_closed=True" in run.stdout, (
        run.stdout + run.stderr + log
    )


@pytest.mark.skipif(not unshare_permitted("-rn"), reason="unshare -rn is not permitted here")
def test_default_access_allows_the_listening_interfaces_subnet_only(tmp_path: Path) -> None:
    # In a private namespace: a documentation-range subnet on the namespace's own loopback
    # stands for a school LAN that is not RFC 1918; another address stands for the outside.
    config = {
        "dns": {"listen": ["198.51.100.1:53"]},
        "upstreams": ["127.0.0.2:5300"],
        "state_dir": str(tmp_path / "state"),
        "stop_page": {"enabled": False},
    }
    cfg = tmp_path / "straja.yaml"
    cfg.write_text(yaml.safe_dump(config))
    script = (
        "ip link set lo up; ip addr add 198.51.100.1/24 dev lo; "
        "ip addr add 198.51.100.77/24 dev lo; ip addr add 203.0.113.5/24 dev lo; "
        f"{sys.executable} -m admin serve --config {cfg} > {tmp_path}/straja.log 2>&1 & ST=$!; "
        "for i in $(seq 100); do dig @198.51.100.1 -b 198.51.100.77 version.bind CH TXT "
        "+tries=1 +time=1 | grep -q status && break; sleep 0.1; done; "
        "echo inside=$(dig @198.51.100.1 -b 198.51.100.77 use-application-dns.net +tries=1 "
        "+time=2 | grep -o 'status: [A-Z]*'); "
        "echo outside=$(dig @198.51.100.1 -b 203.0.113.5 use-application-dns.net +tries=1 "
        "+time=2 | grep -o 'status: [A-Z]*'); "
        "kill $ST; wait"
    )
    run = subprocess.run(["unshare", "-rn", "sh", "-c", script], capture_output=True, text=True,
                         env=straja_env(), timeout=120, cwd=REPO)
    assert "inside=status: NXDOMAIN" in run.stdout, run.stdout + run.stderr
    assert "outside=status: REFUSED" in run.stdout, run.stdout + run.stderr
