"""`straja keys generate`, `straja lists sign` and `straja lists verify`."""

from __future__ import annotations

import datetime as dt
import shutil
import subprocess
import sys
import types
from pathlib import Path

import click
import pytest

from admin.commands.keys import keys
from admin.commands.lists import lists
from blocklists.errors import CorruptListError
from blocklists.minisign import PublicKey, Signature, read_signature
from tests.clirunner import Outcome
from tests.clirunner import invoke as run_cli
from tests.listtools import needs_64_bit_scrypt

MINISIGN = shutil.which("minisign") or "/usr/bin/minisign"
needs_minisign = pytest.mark.skipif(
    not Path(MINISIGN).exists(),
    reason="the minisign binary is not installed (apt-get install minisign); "
    "interoperability cannot be checked without it",
)

COMMENT = "list=family-adult serial=7 expires=2030-06-01T00:00:00Z"


def invoke(group: click.Group, *args: str | Path, input: str | None = None) -> Outcome:
    return run_cli(group, args, input=input)


@pytest.fixture
def keypair(tmp_path: Path) -> tuple[Path, Path, str]:
    """Key files made by `straja keys generate`, and the key string it printed."""
    secret, public = tmp_path / "publisher.key", tmp_path / "publisher.pub"
    result = invoke(keys, "generate", "--secret-key", secret, "--public-key", public)
    assert result.exit_code == 0, result.output
    return secret, public, result.stdout.strip()


@pytest.fixture
def source_list(tmp_path: Path) -> Path:
    path = tmp_path / "family.txt"
    path.write_text("adult.example\nmore-adult.example\n")
    return path


def test_generate_prints_only_the_key_to_pin_on_stdout(keypair: tuple[Path, Path, str]) -> None:
    secret, public, printed = keypair
    assert PublicKey.parse(printed) == PublicKey.load(public)
    assert printed.startswith("RW") and "\n" not in printed
    assert (secret.stat().st_mode & 0o777) == 0o600


def test_generate_refuses_to_overwrite_without_force(keypair: tuple[Path, Path, str]) -> None:
    secret, public, printed = keypair
    again = invoke(keys, "generate", "--secret-key", secret, "--public-key", public)
    assert again.exit_code == 1
    assert f"{secret} already exists; pass --force" in again.output
    assert PublicKey.load(public).to_base64() == printed

    forced = invoke(keys, "generate", "--secret-key", secret, "--public-key", public, "--force")
    assert forced.exit_code == 0, forced.output
    assert PublicKey.load(public).to_base64() == forced.stdout.strip() != printed


def test_sign_then_verify_prints_key_id_comment_and_ok(
    keypair: tuple[Path, Path, str], source_list: Path
) -> None:
    secret, public, _ = keypair
    signed = invoke(
        lists, "sign", source_list, "--secret-key", secret, "--trusted-comment", COMMENT
    )
    assert signed.exit_code == 0, signed.output
    assert Path(f"{source_list}.minisig").exists()

    verified = invoke(lists, "verify", source_list, "--key", public)

    assert verified.exit_code == 0, verified.output
    key_id = PublicKey.load(public).key_id_hex
    assert verified.stdout.splitlines() == [
        f"Key id: {key_id}",
        f"Trusted comment: {COMMENT}",
        "OK",
    ]


def test_sign_of_a_text_list_without_trusted_comment_explains_what_to_pass(
    keypair: tuple[Path, Path, str], source_list: Path
) -> None:
    secret, _, _ = keypair
    result = invoke(lists, "sign", source_list, "--secret-key", secret)
    assert result.exit_code == 2
    assert "compiled list" in result.output
    assert "To sign a text list, pass --trusted-comment 'list=ID serial=N expires=...'" in (
        result.output
    )
    assert not Path(f"{source_list}.minisig").exists()


def test_sign_warns_when_the_comment_lacks_serial_or_expiry(
    keypair: tuple[Path, Path, str], source_list: Path
) -> None:
    secret, _, _ = keypair
    result = invoke(
        lists, "sign", source_list, "--secret-key", secret, "--trusted-comment", "list=x"
    )
    assert result.exit_code == 0, result.output
    assert "lacks serial, expires" in result.stderr


class _FakeHeader:
    list_id = "hotline-csam"
    serial = 1234
    expires = int(dt.datetime(2031, 2, 3, 4, 5, 6, tzinfo=dt.UTC).timestamp())


class _FakeCompiledList:
    """Stands in for blocklists.trie.CompiledList: files starting with MAGIC are compiled."""

    MAGIC = b"FAKE-COMPILED"
    closed = False

    def __init__(self) -> None:
        self.header = _FakeHeader()

    @classmethod
    def open(cls, path: Path) -> _FakeCompiledList:
        if Path(path).read_bytes()[: len(cls.MAGIC)] != cls.MAGIC:
            raise CorruptListError(f"{path} does not start with the list file magic")
        return cls()

    def close(self) -> None:
        type(self).closed = True


def test_sign_takes_the_default_trusted_comment_from_a_compiled_header(
    keypair: tuple[Path, Path, str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    fake = types.ModuleType("blocklists.trie")
    fake.CompiledList = _FakeCompiledList  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "blocklists.trie", fake)
    compiled = tmp_path / "hotline.sbl"
    compiled.write_bytes(_FakeCompiledList.MAGIC + b"\0body")
    secret, public, _ = keypair

    result = invoke(lists, "sign", compiled, "--secret-key", secret)

    assert result.exit_code == 0, result.output
    expected = "list=hotline-csam serial=1234 expires=2031-02-03T04:05:06Z"
    assert Signature.parse(read_signature(compiled)).trusted_comment == expected
    assert _FakeCompiledList.closed
    assert invoke(lists, "verify", compiled, "--key", public).exit_code == 0


def test_sign_says_why_a_file_is_not_a_compiled_list(
    keypair: tuple[Path, Path, str], source_list: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    fake = types.ModuleType("blocklists.trie")
    fake.CompiledList = _FakeCompiledList  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "blocklists.trie", fake)
    secret, _, _ = keypair

    result = invoke(lists, "sign", source_list, "--secret-key", secret)

    assert result.exit_code == 2
    assert f"{source_list} does not start with the list file magic. To sign a text list" in (
        result.output
    )


def test_sign_refuses_a_damaged_compiled_list_instead_of_treating_it_as_text(
    keypair: tuple[Path, Path, str], tmp_path: Path
) -> None:
    trie = pytest.importorskip("blocklists.trie", reason="the compiled list reader is not built")
    damaged = tmp_path / "damaged.sbl"
    damaged.write_bytes(trie.MAGIC + b"\xff" * 64)
    secret, _, _ = keypair

    result = invoke(lists, "sign", damaged, "--secret-key", secret)

    assert result.exit_code == 1
    assert "To sign a text list" not in result.output
    assert str(damaged) in result.output
    assert not Path(f"{damaged}.minisig").exists()


def test_verify_accepts_several_pinned_keys_for_rotation(
    keypair: tuple[Path, Path, str], source_list: Path, tmp_path: Path
) -> None:
    secret, _, new_key = keypair
    old = invoke(
        keys, "generate", "--secret-key", tmp_path / "o.key", "--public-key", tmp_path / "o.pub"
    )
    invoke(lists, "sign", source_list, "--secret-key", secret, "--trusted-comment", COMMENT)

    result = invoke(lists, "verify", source_list, "--key", old.stdout.strip(), "--key", new_key)

    assert result.exit_code == 0, result.output
    assert result.stdout.endswith("OK\n")


def test_verify_failures_exit_1_with_the_reason(
    keypair: tuple[Path, Path, str], source_list: Path, tmp_path: Path
) -> None:
    secret, public, _ = keypair
    missing = invoke(lists, "verify", source_list, "--key", public)
    assert missing.exit_code == 1
    assert "has no signature" in missing.output

    invoke(lists, "sign", source_list, "--secret-key", secret, "--trusted-comment", COMMENT)
    other = invoke(
        keys, "generate", "--secret-key", tmp_path / "x.key", "--public-key", tmp_path / "x.pub"
    )
    unknown = invoke(lists, "verify", source_list, "--key", other.stdout.strip())
    assert unknown.exit_code == 1
    assert "not among the pinned keys" in unknown.output

    with source_list.open("a") as f:
        f.write("sneaked.example\n")
    tampered = invoke(lists, "verify", source_list, "--key", public)
    assert tampered.exit_code == 1
    assert "does not match its signature" in tampered.output
    assert "OK" not in tampered.stdout


def test_verify_reads_a_signature_from_another_path(
    keypair: tuple[Path, Path, str], source_list: Path, tmp_path: Path
) -> None:
    secret, public, _ = keypair
    elsewhere = tmp_path / "sigs" / "family.sig"
    elsewhere.parent.mkdir()
    signed = invoke(
        lists,
        "sign",
        source_list,
        "--secret-key",
        secret,
        "--trusted-comment",
        COMMENT,
        "--signature",
        elsewhere,
    )
    assert signed.exit_code == 0, signed.output

    assert invoke(lists, "verify", source_list, "--key", public).exit_code == 1
    result = invoke(lists, "verify", source_list, "--key", public, "--signature", elsewhere)
    assert result.exit_code == 0, result.output


def test_verify_rejects_a_malformed_key_argument(source_list: Path) -> None:
    result = invoke(lists, "verify", source_list, "--key", "RWnot-a-key")
    assert result.exit_code == 2
    assert "is neither a minisign public key" in result.output


@needs_minisign
@pytest.mark.parametrize("legacy", [False, True], ids=["prehashed-ED", "legacy-Ed"])
def test_minisign_verifies_what_the_cli_signs(
    keypair: tuple[Path, Path, str], source_list: Path, legacy: bool
) -> None:
    secret, public, _ = keypair
    args: list[str | Path] = [
        "sign",
        source_list,
        "--secret-key",
        secret,
        "--trusted-comment",
        COMMENT,
    ]
    result = invoke(lists, *args, *(["--legacy"] if legacy else []))
    assert result.exit_code == 0, result.output
    assert Signature.parse(read_signature(source_list)).prehashed is not legacy

    check = subprocess.run(
        [MINISIGN, "-V", "-p", str(public), "-m", str(source_list)],
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert check.returncode == 0, check.stderr


@needs_minisign
def test_cli_verifies_what_minisign_signs(tmp_path: Path, source_list: Path) -> None:
    pub, key = tmp_path / "ms.pub", tmp_path / "ms.key"
    for args in (
        ["-G", "-W", "-p", str(pub), "-s", str(key)],
        ["-S", "-W", "-s", str(key), "-t", COMMENT, "-m", str(source_list)],
    ):
        done = subprocess.run([MINISIGN, *args], stdin=subprocess.DEVNULL, capture_output=True)
        assert done.returncode == 0, done.stderr

    result = invoke(lists, "verify", source_list, "--key", pub.read_text().splitlines()[1])

    assert result.exit_code == 0, result.output
    assert f"Trusted comment: {COMMENT}" in result.stdout


@needs_64_bit_scrypt
def test_encrypted_key_prompts_for_its_password_when_signing(
    tmp_path: Path, source_list: Path
) -> None:
    secret, public = tmp_path / "enc.key", tmp_path / "enc.pub"
    made = invoke(
        keys,
        "generate",
        "--secret-key",
        secret,
        "--public-key",
        public,
        "--encrypt",
        input="hunter2\nhunter2\n",
    )
    assert made.exit_code == 0, made.output

    wrong = invoke(
        lists,
        "sign",
        source_list,
        "--secret-key",
        secret,
        "--trusted-comment",
        COMMENT,
        input="nope\n",
    )
    assert wrong.exit_code == 1
    assert "cannot be decrypted: the password is wrong" in wrong.output

    signed = invoke(
        lists,
        "sign",
        source_list,
        "--secret-key",
        secret,
        "--trusted-comment",
        COMMENT,
        input="hunter2\n",
    )
    assert signed.exit_code == 0, signed.output
    assert invoke(lists, "verify", source_list, "--key", public).exit_code == 0
