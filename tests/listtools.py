"""Making real list files for the tests: compiled, signed with real keys, or as sources."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from blocklists import minisign
from blocklists.compiled import ListMetadata, compile_source
from tests.servers import straja_cmd, straja_env

# minisign encrypts secret keys with scrypt N=2^20, r=8: a contiguous GiB that a 32-bit
# process cannot allocate (blocklists.minisign.scrypt_failure says so to the user).
needs_64_bit_scrypt = pytest.mark.skipif(
    sys.maxsize < 2**32,
    reason="a password-encrypted minisign key needs 1 GiB for scrypt, more than a 32-bit "
    "process can allocate",
)


class Publisher:
    """A list publisher with its own minisign key pair."""

    def __init__(self, workdir: Path, name: str = "publisher") -> None:
        self.workdir = workdir
        self.secret, self.public = minisign.generate_keypair()
        self.key = self.public.to_base64()
        self.pub_path = workdir / f"{name}.pub"
        minisign.write_public_key(self.pub_path, self.public)

    def compile(self, list_id: str, names: list[str], serial: int, tier: str = "operator",
                fmt: str = "domains", hashed: bool = False, expires: int | None = None,
                issued: int | None = None, canaries: tuple[str, ...] = (),
                filename: str | None = None, sign: bool = True) -> Path:
        source = self.workdir / f"{list_id}-{serial}.txt"
        source.write_text("\n".join(names) + "\n")
        out = self.workdir / (filename or f"{list_id}-{serial}.sl")
        meta = ListMetadata(list_id, serial, tier, expires=expires, issued=issued,
                            canaries=canaries, hashed=hashed)
        compile_source(source, fmt, out, meta)
        if sign:
            self.sign(out, f"list={list_id} serial={serial}")
        return out

    def sign(self, path: Path, comment: str) -> Path:
        text = minisign.sign_file(path, self.secret, comment)
        sig = minisign.signature_path_for(path)
        sig.write_text(text)
        return sig


def straja_cli(*args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run(straja_cmd(*args), capture_output=True, text=True,
                          env=straja_env(), timeout=timeout)
