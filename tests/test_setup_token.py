"""The first-run setup token in state_dir/setup-token."""

from __future__ import annotations

import stat
from pathlib import Path

from admin.config import load_config_text
from admin.setup_token import (
    consume_setup_token,
    ensure_setup_token,
    read_setup_token,
    setup_url,
    token_path,
)


def test_the_token_is_private_stable_and_used_once(tmp_path: Path) -> None:
    token = ensure_setup_token(tmp_path)
    assert token and len(token) >= 24
    assert stat.S_IMODE(token_path(tmp_path).stat().st_mode) == 0o600
    assert ensure_setup_token(tmp_path) == token
    assert not consume_setup_token(tmp_path, "wrong")
    assert consume_setup_token(tmp_path, token)
    assert not token_path(tmp_path).exists()
    assert not consume_setup_token(tmp_path, token)


def test_no_token_once_a_user_exists(tmp_path: Path) -> None:
    ensure_setup_token(tmp_path)
    assert ensure_setup_token(tmp_path, users=1) is None
    assert read_setup_token(tmp_path) is None


def test_the_url_names_the_first_admin_listener(tmp_path: Path) -> None:
    config = load_config_text(f"upstreams: ['127.0.0.2:53']\nstate_dir: {tmp_path}\n"
                              "admin: {listen: ['127.0.0.1:9999', '[::1]:9999']}\n")
    assert setup_url(config) is None
    token = ensure_setup_token(tmp_path)
    assert setup_url(config) == f"http://127.0.0.1:9999/setup?token={token}"
