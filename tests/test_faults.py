"""Faults of the lists and the config: a full disk, trickling and oversized list sources,
one slow list among others, pinned keys that do not parse, secrets readable by others
(`straja config check` and `straja serve` warn)."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.httpsserver import start_trusting, wait_for_a
from tests.listtools import Publisher, straja_cli
from tests.namespaces import unshare_permitted
from tests.servers import REPO, Straja, straja_env


def test_a_full_disk_while_a_list_is_written_keeps_the_old_version_serving(tmp_path: Path
                                                                          ) -> None:
    if shutil.which("unshare") is None:
        pytest.fail("unshare (util-linux) is needed to mount a small tmpfs")
    if not unshare_permitted("-rm"):
        pytest.skip("unshare -rm is not permitted here (a chroot, or user namespaces off)")
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


DATABASE_PASSWORD = "hunter2-not-for-logs"


def _config_with_a_database_password(path: Path, mode: int) -> Path:
    path.write_text("upstreams: [127.0.0.2:53]\n"
                    f"state_dir: {path.parent / 'state'}\n"
                    "admin:\n"
                    "  database: postgresql+psycopg://straja:"
                    f"{DATABASE_PASSWORD}@127.0.0.1:1/straja\n")
    path.chmod(mode)
    return path


@pytest.mark.parametrize("mode,readable_by", [(0o644, "others"), (0o640, "its group"),
                                              (0o600, None)])
def test_config_check_warns_when_a_database_password_is_readable_by_others(
        tmp_path: Path, mode: int, readable_by: str | None) -> None:
    config = _config_with_a_database_password(tmp_path / "straja.yaml", mode)
    check = straja_cli("config", "check", "--config", str(config))
    assert check.returncode == 0, check.stdout + check.stderr  # a warning, not a refusal
    if readable_by is None:
        assert "holds secrets" not in check.stderr
        return
    assert f"holds secrets (admin.database (line 4)) but is readable by {readable_by}" \
        in check.stderr
    assert f"chmod 600 {config}" in check.stderr
    assert DATABASE_PASSWORD not in check.stdout + check.stderr


def test_serve_logs_the_same_warning_at_start(tmp_path: Path) -> None:
    server = Straja(tmp_path, {"upstreams": ["127.0.0.2:53"], "log": {"level": "warning"},
                               "admin": {"database": "postgresql+psycopg://straja:"
                                         f"{DATABASE_PASSWORD}@127.0.0.1:1/straja"}})
    server.write_config()
    server.config_path.chmod(0o644)
    try:
        server.start()
    finally:
        server.stop()
    log = server.read_log()
    assert "holds secrets (admin.database" in log
    assert "readable by others (mode 644); run chmod 600" in log
    assert DATABASE_PASSWORD not in log


def test_every_kind_of_secret_the_schema_holds_is_named_and_none_is_printed(
        tmp_path: Path) -> None:
    config = tmp_path / "straja.yaml"
    config.write_text(
        "upstreams:\n"
        "  - 127.0.0.2:53\n"
        "  - https://user:upstream-pw@127.0.0.3/dns-query\n"
        "lists:\n"
        "  - id: school\n"
        "    source: https://lists:list-pw@127.0.0.4/school.sl\n"
        "    tier: operator\n"
        "    signed: false\n"
        "    format: domains\n"
        "groups:\n"
        "  - name: kids\n"
        "    doh_token: kids-doh-token-0123456789\n"
        "alerts:\n"
        "  webhook: https://hooks.example.org/services/T0/B0/webhook-token\n"
        "  email:\n"
        "    host: 127.0.0.1\n"
        "    from: straja@school.example\n"
        "    to: [it@school.example]\n"
        "    username: straja\n"
        "    password: smtp-pw\n"
        "admin:\n"
        "  database: postgresql+psycopg://straja@127.0.0.1:1/straja?password=db-pw\n")
    config.chmod(0o604)
    check = straja_cli("config", "check", "--config", str(config))
    assert check.returncode == 0, check.stdout + check.stderr
    for key in ("upstreams[1]", "lists[0].source", "groups[0].doh_token", "alerts.webhook",
                "alerts.email.password", "admin.database"):
        assert key in check.stderr
    assert "readable by others" in check.stderr
    for secret in ("upstream-pw", "list-pw", "kids-doh-token", "webhook-token", "smtp-pw",
                   "db-pw"):
        assert secret not in check.stdout + check.stderr


def test_the_example_config_gives_no_warning(tmp_path: Path) -> None:
    example = tmp_path / "straja.yaml"
    shutil.copyfile(REPO / "config.example.yaml", example)
    example.chmod(0o644)
    check = straja_cli("config", "check", "--config", str(example))
    assert check.returncode == 0, check.stdout + check.stderr
    assert "warning" not in check.stderr


@pytest.fixture
def site(tmp_path: Path):  # type: ignore[no-untyped-def]
    from tests.httpsserver import ListServer

    root = tmp_path / "www"
    root.mkdir()
    server = ListServer(root)
    yield server
    server.close()


def _update(site, config: Path) -> subprocess.CompletedProcess[str]:
    from tests.servers import straja_cmd

    env = straja_env()
    env["SSL_CERT_FILE"] = str(site.cert)
    return subprocess.run(straja_cmd("lists", "update", "--config", str(config)),
                          capture_output=True, text=True, env=env, timeout=120)


def _list_config(tmp_path: Path, lists: list[dict]) -> Path:
    import yaml

    config = tmp_path / "lists.yaml"
    config.write_text(yaml.safe_dump({"upstreams": ["127.0.0.2:53"],
                                      "state_dir": str(tmp_path / "state"), "lists": lists}))
    return config


def test_a_trickling_source_is_cut_off_by_its_timeout(tmp_path: Path, site) -> None:
    pub = Publisher(site.root)
    pub.compile("school", ["games.example.test"], 1, filename="school.sl")
    site.trickle["/school.sl"] = 0.5
    config = _list_config(tmp_path, [{"id": "school", "source": f"{site.url}/school.sl",
                                      "tier": "operator", "keys": [pub.key],
                                      "timeout": "2s"}])
    run = _update(site, config)
    assert run.returncode != 0
    assert "longer than the list's timeout of 2s" in run.stdout + run.stderr
    status = straja_cli("lists", "status", "--config", str(config))
    assert "timeout of 2s" in status.stdout


def test_a_source_larger_than_max_size_is_refused(tmp_path: Path, site) -> None:
    (site.root / "huge.txt").write_bytes(b"junk.example.test\n" * 120_000)  # about 2 MB
    config = _list_config(tmp_path, [{"id": "junk", "source": f"{site.url}/huge.txt",
                                      "tier": "operator", "format": "domains",
                                      "signed": False, "max_size": "1MB"}])
    run = _update(site, config)
    assert run.returncode != 0
    assert "max_size of 1000000" in run.stdout + run.stderr


def test_one_slow_list_does_not_hold_up_the_others(straja_factory, unbound, site) -> None:

    pub = Publisher(site.root)
    pub.compile("slow", ["slow.example.test"], 1, filename="slow.sl")
    pub.compile("fast", ["games.example.test"], 1, filename="fast.sl")
    site.trickle["/slow.sl"] = 1.0  # minutes for the whole file
    s = straja_factory({
        "upstreams": [unbound.address],
        "lists": [{"id": "slow", "source": f"{site.url}/slow.sl", "tier": "operator",
                   "keys": [pub.key]},
                  {"id": "fast", "source": f"{site.url}/fast.sl", "tier": "operator",
                   "keys": [pub.key]}],
    }, start=False)
    start_trusting(s, site)
    answer = wait_for_a(s, "games.example.test", "0.0.0.0", 30)
    assert answer == "0.0.0.0", s.read_log()
    import dns.rcode

    assert s.query("slow.example.test", "A").rcode() == dns.rcode.NXDOMAIN  # not yet blocked
