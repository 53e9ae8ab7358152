"""Passwords (scrypt) and opaque secrets (session and API tokens; only their hash is kept)."""

from __future__ import annotations

import base64
import functools
import hashlib
import hmac
import secrets

# 16 MiB of memory and about 50 ms per check on a small router: slow enough to hurt a
# guesser who stole the database, fast enough for a login.
_N, _R, _P, _DKLEN = 2**14, 8, 1, 32


def hash_password(password: str) -> str:
    """`scrypt$N$r$p$salt$hash`, salt and hash in unpadded base64."""
    salt = secrets.token_bytes(16)
    digest = hashlib.scrypt(password.encode("utf-8"), salt=salt, n=_N, r=_R, p=_P, dklen=_DKLEN)
    return "$".join(("scrypt", str(_N), str(_R), str(_P), _b64(salt), _b64(digest)))


def verify_password(password: str, stored: str) -> bool:
    """True when `password` matches; constant time in the digest comparison."""
    try:
        scheme, n, r, p, salt, digest = stored.split("$")
        if scheme != "scrypt":
            return False
        expected = _unb64(digest)
        got = hashlib.scrypt(password.encode("utf-8"), salt=_unb64(salt), n=int(n), r=int(r),
                             p=int(p), dklen=len(expected))
    except (ValueError, TypeError):
        return False
    return hmac.compare_digest(got, expected)


@functools.cache
def dummy_hash() -> str:
    """A hash of a random password, checked when the user does not exist, so that a login
    for an unknown name takes as long as one for a known name."""
    return hash_password(secrets.token_urlsafe(16))


def new_secret(prefix: str = "") -> str:
    """A fresh opaque token (256 bits), e.g. `stj_...` for API tokens."""
    return prefix + secrets.token_urlsafe(32)


def secret_hash(secret: str) -> str:
    """What the database keeps of a token: its SHA-256, hex. A stolen database gives no
    usable session or API token."""
    return hashlib.sha256(secret.encode("utf-8")).hexdigest()


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii").rstrip("=")


def _unb64(text: str) -> bytes:
    return base64.b64decode(text + "=" * (-len(text) % 4))
