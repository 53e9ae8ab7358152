"""Config: typed, self-validating; bad files are refused with file, line, key and reason."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from admin.config import ConfigError, load_config, load_config_text, parse_duration
from tests.servers import REPO, free_port, straja_cmd, straja_env


def _error(text: str) -> str:
    with pytest.raises(ConfigError) as info:
        load_config_text(text, "site.yaml")
    return str(info.value)


def test_example_config_is_valid() -> None:
    config = load_config(REPO / "config.example.yaml")
    assert config.dns.listen[0].port == 5353
    assert str(config.dns.listen[1]) == "[::1]:5353"
    assert config.cache.max_bytes == 64_000_000
    assert config.cache.serve_stale == 86400


def test_unknown_key_names_file_line_and_key() -> None:
    msg = _error("upstreams: [127.0.0.1:53]\ncache:\n  max_entry: 10\n")
    assert msg.startswith("site.yaml:3: cache.max_entry: unknown key")
    assert "max_entries" in msg


def test_wrong_type_is_refused() -> None:
    msg = _error("upstreams: [127.0.0.1:53]\ndns:\n  workers: two\n")
    assert msg == "site.yaml:3: dns.workers: expected a whole number, got 'two'"


def test_bad_addresses_are_refused() -> None:
    assert "dns.listen[0]" in _error("upstreams: [127.0.0.1:53]\ndns:\n  listen: [localhost:53]\n")
    assert "is not an IP address" in _error("upstreams: [example.com:53]\n")
    assert "port '99999'" in _error("upstreams: ['127.0.0.1:99999']\n")
    assert "[::1]:53" in _error("upstreams: ['::1:53:x']\n")
    msg = _error("upstreams: [127.0.0.1]\naccess:\n  allow: [10.0.0.0/33]\n")
    assert msg.startswith("site.yaml:3: access.allow[0]: '10.0.0.0/33' is not a network")


def test_durations_and_sizes() -> None:
    assert parse_duration("30s") == 30
    assert parse_duration("15m") == 900
    assert parse_duration("12h") == 43200
    assert parse_duration("7d") == 604800
    msg = _error("upstreams: [127.0.0.1]\ncache:\n  max_ttl: 30\n")
    assert "write it like 30s, 15m, 12h or 7d" in msg
    cfg = load_config_text("upstreams: [127.0.0.1]\ncache:\n  max_bytes: 512KiB\n")
    assert cfg.cache.max_bytes == 512 * 1024
    assert str(cfg.upstreams[0]) == "127.0.0.1:53"


def test_semantic_errors_name_the_section() -> None:
    assert "upstreams is empty" in _error("dns:\n  workers: 1\n")
    assert "dns: workers above 1" in _error(
        "upstreams: [127.0.0.1]\ndns:\n  workers: 2\n  listen: ['127.0.0.1:0']\n"
    )
    assert "not valid YAML" in _error("dns: [\n")


def test_config_check_command(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("upstreams: [127.0.0.1]\nlog:\n  level: loud\n")
    run = subprocess.run(
        straja_cmd("config", "check", "--config", str(bad)),
        capture_output=True, text=True, env=straja_env(),
    )
    assert run.returncode == 1
    assert "bad.yaml:3: log.level: 'loud' is not one of: debug, info, warning, error" in run.stderr
    ok = subprocess.run(
        straja_cmd("config", "check", "--config", str(REPO / "config.example.yaml")),
        capture_output=True, text=True, env=straja_env(),
    )
    assert ok.returncode == 0 and "OK" in ok.stdout


def test_serve_refuses_to_start_on_a_bad_config(tmp_path: Path) -> None:
    port = free_port()
    bad = tmp_path / "bad.yaml"
    bad.write_text(f"upstreams: [127.0.0.1]\ndns:\n  listen: ['127.0.0.1:{port}']\n  colour: red\n")
    run = subprocess.run(
        straja_cmd("serve", "--config", str(bad)),
        capture_output=True, text=True, env=straja_env(), timeout=30,
    )
    assert run.returncode == 78
    assert "dns.colour: unknown key" in run.stderr and "nothing was started" in run.stderr


def test_missing_config_file_is_a_clear_error(tmp_path: Path) -> None:
    msg = ""
    try:
        load_config(tmp_path / "absent.yaml")
    except ConfigError as exc:
        msg = str(exc)
    assert "absent.yaml: cannot read the config file" in msg
