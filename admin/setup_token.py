"""The first-run setup token: while no user exists, `state_dir/setup-token` (mode 0600)
holds a one-time token that lets whoever can read it create the first admin. There is no
default password. The file is deleted once used. Logs may name the file, never the token.
"""

from __future__ import annotations

import hmac
import os
import secrets
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from admin.config import Config

FILE_NAME = "setup-token"


def token_path(state_dir: str | Path) -> Path:
    return Path(state_dir) / FILE_NAME


def ensure_setup_token(state_dir: str | Path, *, users: int = 0) -> str | None:
    """The setup token, created (0600) when missing; None once any user exists (`users`
    is the store's count), in which case a leftover file is removed."""
    path = token_path(state_dir)
    if users > 0:
        path.unlink(missing_ok=True)
        return None
    existing = read_setup_token(state_dir)
    if existing:
        return existing
    path.parent.mkdir(parents=True, exist_ok=True)
    token = secrets.token_urlsafe(24)
    tmp = path.with_name(f".{FILE_NAME}.{os.getpid()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        os.fchmod(fd, 0o600)  # whatever the umask
        os.write(fd, (token + "\n").encode("ascii"))
    finally:
        os.close(fd)
    try:
        os.link(tmp, path)  # never replaces a token another process wrote meanwhile
    except FileExistsError:
        pass
    finally:
        tmp.unlink(missing_ok=True)
    return read_setup_token(state_dir)


def read_setup_token(state_dir: str | Path) -> str | None:
    try:
        token = token_path(state_dir).read_text(encoding="ascii").strip()
    except (OSError, UnicodeDecodeError):
        return None
    return token or None


def consume_setup_token(state_dir: str | Path, token: str) -> bool:
    """True, and the file deleted, when `token` is the setup token (constant-time check)."""
    expected = read_setup_token(state_dir)
    if not expected or not hmac.compare_digest(expected.encode(), token.strip().encode()):
        return False
    try:
        token_path(state_dir).unlink()
    except FileNotFoundError:
        return False  # another request used it first
    return True


def setup_url(config: Config) -> str | None:
    """`http(s)://<first admin.listen>/setup?token=...`, or None when there is no token."""
    token = read_setup_token(config.state_path)
    if token is None or not config.admin.listen:
        return None
    scheme = "https" if config.admin.tls_cert else "http"
    return f"{scheme}://{config.admin.listen[0]}/setup?token={token}"
