"""Minisign keys and signatures: our implementation against the real `minisign` tool."""

from __future__ import annotations

import base64
import mmap
import shutil
import stat
import subprocess
from pathlib import Path

import pytest

from blocklists import minisign
from blocklists.errors import ListError
from blocklists.minisign import (
    BadPasswordError,
    BadSignatureError,
    BadTrustedCommentError,
    MalformedKeyError,
    MalformedSignatureError,
    MissingSignatureError,
    PublicKey,
    SecretKey,
    Signature,
    SignatureError,
    UnknownKeyError,
    generate_keypair,
    parse_trusted_comment,
    read_signature,
    sign_bytes,
    sign_file,
    signature_path_for,
    verify_bytes,
    verify_file,
    write_public_key,
    write_secret_key,
    write_signature,
)
from tests.listtools import needs_64_bit_scrypt

MINISIGN = shutil.which("minisign") or "/usr/bin/minisign"
needs_minisign = pytest.mark.skipif(
    not Path(MINISIGN).exists(),
    reason="the minisign binary is not installed (apt-get install minisign); "
    "interoperability cannot be checked without it",
)

COMMENT = "list=hotline-csam serial=42 expires=2030-01-01T00:00:00Z"


def run_minisign(*args: str, password: str | None = None) -> subprocess.CompletedProcess[str]:
    """Run minisign; without a password its prompts see an empty stdin, never a terminal."""
    return subprocess.run(
        [MINISIGN, *args],
        input=None if password is None else f"{password}\n{password}\n",
        stdin=subprocess.DEVNULL if password is None else None,
        capture_output=True,
        text=True,
        timeout=120,
    )


def minisign_keypair(directory: Path, name: str = "ms") -> tuple[Path, Path]:
    """A passwordless key pair made by `minisign -G -W`."""
    pub, key = directory / f"{name}.pub", directory / f"{name}.key"
    result = run_minisign("-G", "-W", "-p", str(pub), "-s", str(key))
    assert result.returncode == 0, result.stderr
    return pub, key


def our_keypair(directory: Path, name: str = "ours") -> tuple[Path, Path, SecretKey, PublicKey]:
    secret, public = generate_keypair()
    pub, key = directory / f"{name}.pub", directory / f"{name}.key"
    write_secret_key(key, secret)
    write_public_key(pub, public)
    return pub, key, secret, public


@pytest.fixture
def data_file(tmp_path: Path) -> Path:
    path = tmp_path / "list.txt"
    path.write_bytes(b"".join(b"bad%d.example\n" % i for i in range(1000)))
    return path


# --- interoperability with the minisign tool ---------------------------------------------


@needs_minisign
def test_file_signed_by_minisign_verifies(tmp_path: Path, data_file: Path) -> None:
    pub, key = minisign_keypair(tmp_path)
    result = run_minisign("-S", "-W", "-s", str(key), "-t", COMMENT, "-m", str(data_file))
    assert result.returncode == 0, result.stderr

    verified = verify_file(data_file, None, [PublicKey.parse(str(pub))])

    assert verified.prehashed is True
    assert verified.trusted_comment == COMMENT
    assert verified.key_id_hex == pub.read_text().splitlines()[0].split()[-1]


@needs_minisign
def test_legacy_signature_by_minisign_verifies(tmp_path: Path, data_file: Path) -> None:
    pub, key = minisign_keypair(tmp_path)
    result = run_minisign("-S", "-l", "-W", "-s", str(key), "-t", COMMENT, "-m", str(data_file))
    assert result.returncode == 0, result.stderr
    assert Signature.parse(read_signature(data_file)).algorithm == b"Ed"

    verified = verify_file(data_file, None, [PublicKey.parse(str(pub))])

    assert verified.prehashed is False
    assert verified.trusted_comment == COMMENT


@needs_minisign
@pytest.mark.parametrize("prehashed", [True, False], ids=["prehashed-ED", "legacy-Ed"])
def test_our_signatures_verify_with_minisign(
    tmp_path: Path, data_file: Path, prehashed: bool
) -> None:
    pub, _, secret, _ = our_keypair(tmp_path)
    write_signature(
        signature_path_for(data_file),
        sign_file(data_file, secret, COMMENT, prehashed=prehashed),
    )

    result = run_minisign("-V", "-p", str(pub), "-m", str(data_file))

    assert result.returncode == 0, result.stderr
    assert f"Trusted comment: {COMMENT}" in result.stdout


@needs_minisign
def test_prehashed_only_mode_of_minisign_refuses_our_legacy_signature(
    tmp_path: Path, data_file: Path
) -> None:
    pub, _, secret, _ = our_keypair(tmp_path)
    write_signature(
        signature_path_for(data_file), sign_file(data_file, secret, COMMENT, prehashed=False)
    )
    assert run_minisign("-V", "-H", "-p", str(pub), "-m", str(data_file)).returncode != 0
    write_signature(signature_path_for(data_file), sign_file(data_file, secret, COMMENT))
    assert run_minisign("-V", "-H", "-p", str(pub), "-m", str(data_file)).returncode == 0


@needs_minisign
def test_key_generated_by_minisign_loads_and_signs_for_minisign(
    tmp_path: Path, data_file: Path
) -> None:
    pub, key = minisign_keypair(tmp_path)
    secret = SecretKey.load(key)
    public = PublicKey.load(pub)
    assert secret.public_key() == public
    assert public.to_base64() == pub.read_text().splitlines()[1]

    write_signature(signature_path_for(data_file), sign_file(data_file, secret, COMMENT))

    assert run_minisign("-V", "-p", str(pub), "-m", str(data_file)).returncode == 0


@needs_minisign
def test_key_files_we_write_are_usable_by_minisign(tmp_path: Path, data_file: Path) -> None:
    pub, key, _, public = our_keypair(tmp_path)
    assert f"minisign public key {public.key_id_hex}" in pub.read_text()

    # minisign signs with our secret key file; we and minisign verify with our .pub.
    result = run_minisign("-S", "-W", "-s", str(key), "-t", COMMENT, "-m", str(data_file))
    assert result.returncode == 0, result.stderr
    assert run_minisign("-V", "-p", str(pub), "-m", str(data_file)).returncode == 0
    assert verify_file(data_file, None, [public]).key_id == public.key_id

    # minisign derives the same public key from our secret key file.
    recreated = tmp_path / "recreated.pub"
    result = run_minisign("-R", "-s", str(key), "-p", str(recreated))
    assert result.returncode == 0, result.stderr
    assert PublicKey.load(recreated) == public


@pytest.fixture(scope="module")
def minisign_encrypted_keypair(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    if not Path(MINISIGN).exists():
        pytest.skip("the minisign binary is not installed")
    directory = tmp_path_factory.mktemp("encrypted")
    pub, key = directory / "enc.pub", directory / "enc.key"
    result = run_minisign("-G", "-p", str(pub), "-s", str(key), password="correct horse")
    assert result.returncode == 0, result.stderr
    return pub, key


@needs_64_bit_scrypt
@needs_minisign
def test_password_encrypted_key_from_minisign_loads_with_its_password(
    minisign_encrypted_keypair: tuple[Path, Path],
) -> None:
    pub, key = minisign_encrypted_keypair
    assert minisign.secret_key_is_encrypted(key)

    secret = SecretKey.load(key, password="correct horse")

    assert secret.public_key() == PublicKey.load(pub)


@needs_64_bit_scrypt
@needs_minisign
def test_wrong_or_missing_password_is_refused(
    minisign_encrypted_keypair: tuple[Path, Path],
) -> None:
    _, key = minisign_encrypted_keypair
    with pytest.raises(BadPasswordError, match="is encrypted with a password"):
        SecretKey.load(key)
    with pytest.raises(
        BadPasswordError, match=r"enc\.key cannot be decrypted: the password is wrong"
    ):
        SecretKey.load(key, password="wrong")


@needs_64_bit_scrypt
@needs_minisign
def test_key_we_encrypt_is_usable_by_minisign_with_the_password(
    tmp_path: Path, data_file: Path
) -> None:
    secret, public = generate_keypair()
    key, pub = tmp_path / "enc.key", tmp_path / "enc.pub"
    write_secret_key(key, secret, password="s3cret")
    write_public_key(pub, public)

    result = run_minisign("-S", "-s", str(key), "-m", str(data_file), password="s3cret")

    assert result.returncode == 0, result.stderr
    assert verify_file(data_file, None, [public]).key_id == public.key_id


# --- refusals ---------------------------------------------------------------------------


@pytest.mark.parametrize("prehashed", [True, False], ids=["prehashed-ED", "legacy-Ed"])
def test_tampered_data_is_refused(data_file: Path, prehashed: bool) -> None:
    secret, public = generate_keypair()
    signature = sign_file(data_file, secret, COMMENT, prehashed=prehashed)
    with data_file.open("ab") as f:
        f.write(b"innocent.example\n")

    with pytest.raises(BadSignatureError, match=f"{data_file} does not match its signature"):
        verify_file(data_file, signature, [public])


def test_tampered_trusted_comment_is_refused(data_file: Path) -> None:
    secret, public = generate_keypair()
    signature = sign_file(data_file, secret, COMMENT)
    rolled_back = signature.replace("serial=42", "serial=43")
    assert rolled_back != signature

    with pytest.raises(BadTrustedCommentError, match="trusted comment .* was altered"):
        verify_file(data_file, rolled_back, [public])


def test_signature_by_unpinned_key_names_the_key(data_file: Path) -> None:
    signer, _ = generate_keypair()
    _, pinned = generate_keypair()
    signature = sign_file(data_file, signer, COMMENT)

    with pytest.raises(UnknownKeyError) as caught:
        verify_file(data_file, signature, [pinned])

    assert signer.key_id_hex in str(caught.value)
    assert pinned.key_id_hex in str(caught.value)


def test_missing_signature_file_is_reported(data_file: Path) -> None:
    _, public = generate_keypair()
    with pytest.raises(MissingSignatureError, match=r"list\.txt\.minisig does not exist"):
        verify_file(data_file, None, [public])


def test_malformed_signature_is_reported(data_file: Path) -> None:
    _, public = generate_keypair()
    with pytest.raises(MalformedSignatureError, match="has 1 lines"):
        verify_file(data_file, "not a signature\n", [public])
    secret, _ = generate_keypair()
    lines = sign_file(data_file, secret, COMMENT).splitlines()
    lines[1] = lines[1][:-8]
    with pytest.raises(MalformedSignatureError):
        verify_file(data_file, "\n".join(lines), [public])


def test_every_refusal_is_a_signature_and_list_error() -> None:
    assert issubclass(SignatureError, ListError)
    for error in (
        MissingSignatureError,
        UnknownKeyError,
        BadSignatureError,
        BadTrustedCommentError,
        MalformedSignatureError,
        MalformedKeyError,
        BadPasswordError,
    ):
        assert issubclass(error, SignatureError)


# --- keys -------------------------------------------------------------------------------


def test_key_rotation_accepts_a_file_signed_by_the_second_pinned_key(data_file: Path) -> None:
    _, old = generate_keypair()
    new_secret, new = generate_keypair()
    signature = sign_file(data_file, new_secret, COMMENT)

    verified = verify_file(data_file, signature, [old, new])

    assert verified.key == new
    assert verified.key_id == new.key_id


def test_public_key_parses_from_config_string_file_text_and_path(tmp_path: Path) -> None:
    _, public = generate_keypair()
    pub = tmp_path / "publisher.pub"
    write_public_key(pub, public)

    assert PublicKey.parse(public.to_base64()) == public
    assert PublicKey.parse(f"  {public.to_base64()}\n") == public
    assert PublicKey.parse(pub.read_text()) == public
    assert PublicKey.parse(str(pub)) == public


def test_public_key_garbage_is_refused_with_the_value_named(tmp_path: Path) -> None:
    with pytest.raises(MalformedKeyError, match="'RWnope' is neither a minisign public key"):
        PublicKey.parse("RWnope")
    bad = tmp_path / "bad.pub"
    bad.write_text("untrusted comment: x\nAAAA\n")
    with pytest.raises(MalformedKeyError, match=r"bad\.pub decodes to 3 bytes"):
        PublicKey.parse(str(bad))


def test_secret_key_file_is_private_and_round_trips(tmp_path: Path) -> None:
    secret, public = generate_keypair()
    key = tmp_path / "secret.key"
    write_secret_key(key, secret)

    assert stat.S_IMODE(key.stat().st_mode) == 0o600
    assert not minisign.secret_key_is_encrypted(key)
    loaded = SecretKey.load(key)
    assert loaded.key_id == secret.key_id
    assert loaded.public_key() == public
    assert "seed" not in repr(loaded) and public.key_bytes.hex() not in repr(loaded)


def test_damaged_secret_key_is_refused(tmp_path: Path) -> None:
    secret, _ = generate_keypair()
    text = secret.to_file_text()
    comment, body = text.splitlines()
    blob = bytearray(base64.b64decode(body))
    blob[70] ^= 0xFF  # inside the 64-byte secret key
    damaged = tmp_path / "damaged.key"
    damaged.write_text(f"{comment}\n{base64.b64encode(bytes(blob)).decode()}\n")

    with pytest.raises(MalformedKeyError, match=r"damaged\.key is damaged"):
        SecretKey.load(damaged)


def test_a_32_bit_process_is_told_the_key_needs_a_64_bit_machine() -> None:
    # minisign's default work factor, as OpenSSL refuses it in a 32-bit address space.
    message = minisign.scrypt_failure(1 << 20, 8, 1, MemoryError(), address_bits=32)
    assert message.startswith("This key needs 1 GiB of memory for scrypt")
    assert message.endswith("open it on a 64-bit machine.")
    small = minisign.scrypt_failure(1 << 14, 8, 1, ValueError("bad"), address_bits=32)
    assert small.endswith("(N=16384, r=8, p=1): bad.")


def test_scrypt_parameters_match_libsodium() -> None:
    # minisign's "sensitive" limits are scrypt N=2^20, r=8, p=1; "interactive" N=2^14.
    assert minisign._scrypt_parameters(33554432, 1073741824) == (1 << 20, 8, 1)
    assert minisign._scrypt_parameters(524288, 16777216) == (1 << 14, 8, 1)


# --- comments, bytes API, speed ---------------------------------------------------------


def test_trusted_comment_fields() -> None:
    assert parse_trusted_comment(COMMENT) == {
        "list": "hotline-csam",
        "serial": "42",
        "expires": "2030-01-01T00:00:00Z",
    }
    assert parse_trusted_comment("timestamp:1700000000\tfile:x\thashed") == {}
    with pytest.raises(MalformedSignatureError, match="'serial' twice"):
        parse_trusted_comment("list=a serial=1 serial=9")


def test_expiry_round_trips_through_the_trusted_comment() -> None:
    assert minisign.format_expiry(1924992000) == "2031-01-01T00:00:00Z"
    assert minisign.parse_expiry("2031-01-01T00:00:00Z") == 1924992000
    assert minisign.parse_expiry("2031-01-01T01:00:00+01:00") == 1924992000
    assert minisign.parse_expiry("1924992000") == 1924992000
    assert minisign.format_expiry(None) == "never"
    assert minisign.parse_expiry("never") is None
    with pytest.raises(MalformedSignatureError, match="expires='soon' is neither"):
        minisign.parse_expiry("soon")


def test_multiline_trusted_comment_is_refused(data_file: Path) -> None:
    secret, _ = generate_keypair()
    with pytest.raises(SignatureError, match="single line"):
        sign_file(data_file, secret, "list=a\nserial=1")


def test_bytes_and_file_signatures_are_interchangeable(data_file: Path) -> None:
    secret, public = generate_keypair()
    data = data_file.read_bytes()
    for prehashed in (True, False):
        assert verify_file(
            data_file, sign_bytes(data, secret, COMMENT, prehashed=prehashed), [public]
        )
        assert verify_bytes(
            data, sign_file(data_file, secret, COMMENT, prehashed=prehashed), [public]
        )
    with pytest.raises(
        BadSignatureError, match=r"https://lists\.example/family\.txt does not match"
    ):
        verify_bytes(
            data + b"x",
            sign_bytes(data, secret, COMMENT),
            [public],
            "https://lists.example/family.txt",
        )


def test_the_mapping_that_will_serve_can_be_verified(data_file: Path) -> None:
    secret, public = generate_keypair()
    with data_file.open("rb") as f, mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ) as mapped:
        for prehashed in (True, False):
            signature = sign_file(data_file, secret, COMMENT, prehashed=prehashed)
            assert verify_bytes(mapped, signature, [public]).prehashed is prehashed
        # Verification holds no view of the mapping, so it can still be closed.
        mapped.close()


def test_a_million_entry_list_verifies(tmp_path: Path) -> None:
    # How long it takes is measured by bench/lists_bench.py (verify ms), not asserted here:
    # under emulation (scripts/test-chroot --arch armhf) any time limit fails.
    path = tmp_path / "big.txt"
    path.write_bytes(b"".join(b"host%07d.example.org\n" % i for i in range(1_000_000)))
    assert path.stat().st_size > 16_000_000
    secret, public = generate_keypair()
    signature = sign_file(path, secret, COMMENT)

    assert verify_file(path, signature, [public]).key_id == public.key_id
