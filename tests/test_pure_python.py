"""DNS, the STOP page, the admin UI (with its database's migrations) and the CLI in a
virtualenv built only from pure-Python wheels of aiohttp, multidict, yarl, propcache and
frozenlist (`pip install --no-binary`, their C extensions switched off), as the OpenWrt
package ships them. The import trace of this run is what the package's DEPENDS and
bundled.mk must cover (scripts/openwrt-deps writes them): every process, the migrations'
and the list compiler's child interpreters included."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import urllib.error
import urllib.request
from pathlib import Path

import dns.message
import dns.query
import pytest
import yaml

from tests import openwrt_deps
from tests.listtools import Publisher
from tests.servers import REPO, Unbound, free_port, wait_answering

PURE = ("aiohttp", "multidict", "yarl", "propcache", "frozenlist")
NO_EXTENSIONS = {f"{name.upper()}_NO_EXTENSIONS": "1" for name in PURE}
C_EXTENSIONS = {"aiohttp._http_parser", "multidict._multidict", "yarl._quoting_c",
                "propcache._helpers_c", "frozenlist._frozenlist"}


@pytest.fixture(scope="module")
def pure_venv(tmp_path_factory: pytest.TempPathFactory) -> Path:
    venv = tmp_path_factory.mktemp("pure") / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    env = {**os.environ, **NO_EXTENSIONS}
    run = subprocess.run(
        [str(venv / "bin" / "pip"), "install", "-q", "--no-binary", ",".join(PURE), str(REPO)],
        capture_output=True, text=True, env=env, timeout=600, cwd=venv.parent)
    assert run.returncode == 0, run.stdout + run.stderr
    return venv


def venv_python(venv: Path, code: str) -> str:
    return subprocess.run([str(venv / "bin" / "python"), "-c", code], capture_output=True,
                          text=True, check=True, cwd=venv.parent).stdout


def test_dns_stop_page_and_cli_run_on_pure_python(
    pure_venv: Path, tmp_path: Path, unbound: Unbound
) -> None:
    compiled = json.loads(venv_python(pure_venv, (
        "import importlib.metadata as m, json; print(json.dumps([str(f) for d in "
        f"{PURE!r} for f in m.files(d) if str(f).endswith('.so')]))")))
    assert compiled == [], "a C extension was built; is a binary wheel in pip's cache?"

    pub = Publisher(tmp_path)
    lst = pub.compile("school", ["games.example.test"], 1, canaries=("games.example.test",))
    port, page_port, admin_port = free_port(), free_port(), free_port()
    config = tmp_path / "straja.yaml"
    config.write_text(yaml.safe_dump({
        "dns": {"listen": [f"127.0.0.1:{port}"], "workers": 1},
        "upstreams": [unbound.address],
        "state_dir": str(tmp_path / "state"),
        "blocking": {"sinkhole": {"ipv4": "127.0.0.1"}},
        "stop_page": {"listen": [f"127.0.0.1:{page_port}"]},
        "admin": {"listen": [f"127.0.0.1:{admin_port}"], "metrics_auth": "none"},
        "lists": [{"id": "school", "source": str(lst), "tier": "operator", "keys": [pub.key]}],
    }))
    trace = tmp_path / "trace"
    env = {**os.environ, **NO_EXTENSIONS, "STRAJA_IMPORT_TRACE": str(trace)}
    straja = str(pure_venv / "bin" / "straja")

    def cli(*args: str) -> str:
        run = subprocess.run([straja, *args, "--config", str(config)], capture_output=True,
                             text=True, env=env, timeout=120, cwd=tmp_path)
        assert run.returncode == 0, run.stdout + run.stderr
        return run.stdout

    cli("config", "check")
    cli("lists", "update")
    log = open(tmp_path / "straja.log", "wb")  # noqa: SIM115 - closed below
    proc = subprocess.Popen([straja, "serve", "--config", str(config)], env=env, cwd=tmp_path,
                            stdout=log, stderr=subprocess.STDOUT)
    try:
        wait_answering("127.0.0.1", port, timeout=30, proc=proc)
        allowed = dns.query.udp(dns.message.make_query("www.example.test", "A"), "127.0.0.1",
                                port=port, timeout=5)
        assert [str(r) for r in allowed.answer] == ["www.example.test. 300 IN A 192.0.2.10"]
        blocked = dns.query.tcp(dns.message.make_query("games.example.test", "A"),
                                "127.0.0.1", port=port, timeout=5)
        assert "127.0.0.1" in str(blocked.answer[0])
        status = stop_page_status(page_port, proc)
        assert status == 403
        assert "PASS" in cli("selftest")  # the canary, through dnslib
        # The UI's templates (Jinja2) and the metrics (prometheus_client), once the
        # database is migrated (Alembic, in its own interpreter).
        assert "<form" in http_text(f"http://127.0.0.1:{admin_port}/login", proc)
        assert "straja_dns_queries_total" in http_text(
            f"http://127.0.0.1:{admin_port}/metrics", proc)
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(20)
        log.close()
    assert proc.returncode == 0, (tmp_path / "straja.log").read_text()
    assert "school" in cli("stats") + cli("lists", "status")

    modules = {m for path in trace.glob("*.txt") for m in path.read_text().split()}
    assert "aiohttp" in modules  # the STOP page ran on the pure-Python aiohttp
    assert {"alembic", "mako", "jinja2", "prometheus_client"} <= modules
    assert not modules & C_EXTENSIONS, modules & C_EXTENSIONS
    dist_of = json.loads(venv_python(pure_venv, (
        "import importlib.metadata as m, json; print(json.dumps(m.packages_distributions()))")))
    depends, bundled = openwrt_deps.classify(modules, dist_of)
    if os.environ.get("STRAJA_WRITE_OPENWRT_DEPS"):
        versions = json.loads(venv_python(pure_venv, (
            "import importlib.metadata as m, json; print(json.dumps({d: m.version(d) for d "
            f"in {sorted(bundled)!r}}}))")))
        openwrt_deps.write_depends(depends)
        openwrt_deps.write_bundled(versions, [str(pure_venv / "bin" / "pip")])
    missing = set(depends) - set(openwrt_deps.declared_depends())
    assert not missing, f"DEPENDS lacks {sorted(missing)}: run scripts/openwrt-deps"
    shipped = openwrt_deps.BUNDLED_MK.read_text()
    unshipped = {d for d in bundled if f"Download/straja-{d}\n" not in shipped}
    assert not unshipped, f"bundled.mk lacks {sorted(unshipped)}: run scripts/openwrt-deps"


def http_text(url: str, proc: subprocess.Popen[bytes]) -> str:
    import time

    deadline = time.monotonic() + 60
    while True:
        try:
            with urllib.request.urlopen(url, timeout=5) as reply:
                return str(reply.read().decode())
        except OSError:
            assert time.monotonic() < deadline and proc.poll() is None, url
            time.sleep(0.2)


def stop_page_status(port: int, proc: subprocess.Popen[bytes]) -> int:
    import time

    deadline = time.monotonic() + 30
    while True:
        try:
            urllib.request.urlopen(urllib.request.Request(
                f"http://127.0.0.1:{port}/", headers={"Host": "games.example.test"}), timeout=5)
            return 200
        except urllib.error.HTTPError as exc:
            return exc.code
        except OSError:
            assert time.monotonic() < deadline and proc.poll() is None
            time.sleep(0.1)
