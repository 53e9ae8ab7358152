"""Minisign-format Ed25519 keys and signatures, implemented with `cryptography` alone.

Publishers sign lists with the standard `minisign` tool (or `straja lists sign`); Straja
verifies them here. The file formats follow minisign exactly, so keys and signatures move
freely between the two:

* public key: ``untrusted comment: ...`` then base64(``Ed`` || key id[8] || key[32]);
* secret key: ``untrusted comment: ...`` then base64(``Ed`` || kdf alg || ``B2`` || salt[32]
  || opslimit[8 LE] || memlimit[8 LE] || (key id[8] || secret key[64] || checksum[32]) XOR
  scrypt stream), the kdf being ``Sc`` (scrypt) or two zero bytes (unencrypted);
* signature: ``untrusted comment: ...``, base64(alg || key id[8] || signature[64]),
  ``trusted comment: ...``, base64(global signature over signature || trusted comment).

The signature algorithm is ``ED`` (Ed25519 over the BLAKE2b-512 of the data, minisign's
default since 0.8, hashed in a stream) or the legacy ``Ed`` (Ed25519 over the raw data).
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import hashlib
import mmap
import os
import secrets
import sys
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.kdf.scrypt import Scrypt

from blocklists.errors import ListError

__all__ = [
    "BadPasswordError",
    "BadSignatureError",
    "BadTrustedCommentError",
    "MalformedKeyError",
    "MalformedSignatureError",
    "MissingSignatureError",
    "PublicKey",
    "SecretKey",
    "Signature",
    "SignatureError",
    "UnknownKeyError",
    "Verified",
    "format_expiry",
    "format_trusted_comment",
    "generate_keypair",
    "parse_expiry",
    "parse_trusted_comment",
    "read_signature",
    "secret_key_is_encrypted",
    "sign_bytes",
    "sign_file",
    "signature_path_for",
    "verify_bytes",
    "verify_file",
    "write_public_key",
    "write_secret_key",
    "write_signature",
]

SIG_ALG_LEGACY = b"Ed"
SIG_ALG_PREHASHED = b"ED"
KDF_SCRYPT = b"Sc"
KDF_NONE = b"\0\0"
CHECKSUM_BLAKE2B = b"B2"

UNTRUSTED_PREFIX = "untrusted comment: "
TRUSTED_PREFIX = "trusted comment: "
SIGNATURE_SUFFIX = ".minisig"

# minisign's limit; it refuses longer trusted comments when signing.
TRUSTED_COMMENT_MAX_BYTES = 8192

# libsodium's crypto_pwhash_scryptsalsa208sha256_{OPS,MEM}LIMIT_SENSITIVE, which minisign uses.
SCRYPT_OPSLIMIT = 33554432
SCRYPT_MEMLIMIT = 1073741824
# Refuse key files that ask for absurd scrypt work rather than exhausting the machine.
SCRYPT_MEMLIMIT_MAX = 4 * SCRYPT_MEMLIMIT

_KEY_ID_LEN = 8
_PUBLIC_KEY_BLOB_LEN = 2 + _KEY_ID_LEN + 32
_KEYNUM_SK_LEN = _KEY_ID_LEN + 64 + 32
_SECRET_KEY_BLOB_LEN = 2 + 2 + 2 + 32 + 8 + 8 + _KEYNUM_SK_LEN
_SIGNATURE_BLOB_LEN = 2 + _KEY_ID_LEN + 64
_HASH_CHUNK = 1 << 20

# What can be signed or verified in memory: bytes, or a read-only mmap of the list file.
Data = bytes | bytearray | memoryview | mmap.mmap
# What Ed25519 is computed over.
Message = bytes | bytearray | memoryview


class SignatureError(ListError):
    """Base class: a list's signature, or a key needed to make or check it, is not acceptable."""


class MissingSignatureError(SignatureError):
    """The list has no signature file next to it."""


class MalformedSignatureError(SignatureError):
    """The signature file is not in minisign format."""


class MalformedKeyError(SignatureError):
    """A public or secret key (string or file) is not in minisign format."""


class BadPasswordError(MalformedKeyError):
    """The password of an encrypted secret key is wrong or missing."""


class UnknownKeyError(SignatureError):
    """The signature was made by a key that is not among the pinned keys."""


class BadSignatureError(SignatureError):
    """The data does not match the signature: it was altered or signed by someone else."""


class BadTrustedCommentError(SignatureError):
    """The global signature fails: the trusted comment (or the signature line) was altered."""


def format_key_id(key_id: bytes) -> str:
    """Render a key id the way minisign prints it (hex of the little-endian integer)."""
    return f"{int.from_bytes(key_id, 'little'):X}"


def _b64decode(text: str) -> bytes:
    return base64.b64decode(text.strip(), validate=True)


def _b64encode(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def _content_lines(text: str) -> list[str]:
    """Split a minisign file into lines without line endings, dropping trailing blank lines."""
    lines = [line.rstrip("\r") for line in text.split("\n")]
    while lines and not lines[-1].strip():
        lines.pop()
    return lines


@dataclass(frozen=True)
class PublicKey:
    """An Ed25519 public key with its 8-byte minisign key id."""

    key_id: bytes
    key_bytes: bytes
    untrusted_comment: str = field(default="", compare=False)
    _key: Ed25519PublicKey = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if len(self.key_id) != _KEY_ID_LEN or len(self.key_bytes) != 32:
            raise MalformedKeyError("A minisign public key has an 8-byte id and a 32-byte key.")
        try:
            key = Ed25519PublicKey.from_public_bytes(self.key_bytes)
        except ValueError as e:
            raise MalformedKeyError(f"The public key {self.key_id_hex} is invalid: {e}.") from e
        object.__setattr__(self, "_key", key)

    @property
    def key_id_hex(self) -> str:
        """The key id as minisign prints it, e.g. ``EC74CDF0E80251D6``."""
        return format_key_id(self.key_id)

    def to_base64(self) -> str:
        """The key as one base64 string (``RW...``), the form pinned in config ``keys:``."""
        return _b64encode(SIG_ALG_LEGACY + self.key_id + self.key_bytes)

    def to_file_text(self) -> str:
        """The content of a minisign ``.pub`` file for this key."""
        comment = self.untrusted_comment or f"minisign public key {self.key_id_hex}"
        return f"{UNTRUSTED_PREFIX}{comment}\n{self.to_base64()}\n"

    def verify_raw(self, signature: bytes, message: Message) -> bool:
        """Check a bare Ed25519 signature over `message`."""
        try:
            self._key.verify(signature, message)
        except InvalidSignature:
            return False
        return True

    @classmethod
    def from_base64(cls, text: str, source: str = "The public key string") -> PublicKey:
        """Decode the one-line base64 form (``RW...``); `source` names it in errors."""
        try:
            blob = _b64decode(text)
        except (binascii.Error, ValueError):
            raise MalformedKeyError(
                f"{source} is not valid base64; a minisign public key looks like 'RW...' "
                f"(56 characters)."
            ) from None
        if len(blob) != _PUBLIC_KEY_BLOB_LEN:
            raise MalformedKeyError(
                f"{source} decodes to {len(blob)} bytes; a minisign public key has "
                f"{_PUBLIC_KEY_BLOB_LEN}."
            )
        if blob[:2] != SIG_ALG_LEGACY:
            raise MalformedKeyError(
                f"{source} is not an Ed25519 minisign public key "
                f"(algorithm {blob[:2]!r}, expected b'Ed')."
            )
        return cls(key_id=blob[2:10], key_bytes=blob[10:])

    @classmethod
    def from_file_text(cls, text: str, source: str = "The public key file") -> PublicKey:
        """Parse the content of a minisign ``.pub`` file."""
        lines = _content_lines(text)
        if len(lines) != 2 or not lines[0].startswith(UNTRUSTED_PREFIX.rstrip()):
            raise MalformedKeyError(
                f"{source} is not a minisign public key file: expected an "
                f"'untrusted comment:' line followed by one base64 line."
            )
        key = cls.from_base64(lines[1], source)
        comment = lines[0][len(UNTRUSTED_PREFIX.rstrip()) :].strip()
        return cls(key_id=key.key_id, key_bytes=key.key_bytes, untrusted_comment=comment)

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> PublicKey:
        """Read a minisign ``.pub`` file."""
        try:
            text = Path(path).read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as e:
            raise MalformedKeyError(f"Cannot read public key file {os.fspath(path)}: {e}.") from e
        return cls.from_file_text(text, f"Public key file {os.fspath(path)}")

    @classmethod
    def parse(cls, text_or_path: str) -> PublicKey:
        """Accept a key as pinned in config (``RW...``), a ``.pub`` file's text, or its path."""
        candidate = text_or_path.strip()
        if "\n" in candidate:
            return cls.from_file_text(candidate)
        try:
            return cls.from_base64(candidate)
        except MalformedKeyError:
            pass
        if candidate and os.path.isfile(candidate):
            return cls.load(candidate)
        raise MalformedKeyError(
            f"{text_or_path!r} is neither a minisign public key (a base64 string starting "
            f"with 'RW') nor the path of an existing .pub file."
        )


@dataclass(frozen=True)
class SecretKey:
    """An Ed25519 signing key with its 8-byte minisign key id."""

    key_id: bytes
    _key: Ed25519PrivateKey = field(repr=False, compare=False)

    @property
    def key_id_hex(self) -> str:
        """The key id as minisign prints it."""
        return format_key_id(self.key_id)

    def public_key(self) -> PublicKey:
        """The matching public key."""
        raw = self._key.public_key().public_bytes(
            serialization.Encoding.Raw, serialization.PublicFormat.Raw
        )
        return PublicKey(key_id=self.key_id, key_bytes=raw)

    def sign_raw(self, message: Message) -> bytes:
        """A bare Ed25519 signature over `message`."""
        return self._key.sign(message)

    def _libsodium_secret(self) -> bytes:
        # libsodium's 64-byte secret key is seed || public key.
        seed = self._key.private_bytes(
            serialization.Encoding.Raw,
            serialization.PrivateFormat.Raw,
            serialization.NoEncryption(),
        )
        return seed + self.public_key().key_bytes

    def to_file_text(self, password: str | None = None) -> str:
        """The content of a minisign secret key file; scrypt-encrypted if `password` is set."""
        keynum = self.key_id + self._libsodium_secret()
        checksum = _secret_key_checksum(SIG_ALG_LEGACY, keynum)
        if password is None:
            header = SIG_ALG_LEGACY + KDF_NONE + CHECKSUM_BLAKE2B + bytes(32 + 8 + 8)
            body = keynum + checksum
            comment = "minisign secret key"
        else:
            salt = secrets.token_bytes(32)
            header = (
                SIG_ALG_LEGACY
                + KDF_SCRYPT
                + CHECKSUM_BLAKE2B
                + salt
                + SCRYPT_OPSLIMIT.to_bytes(8, "little")
                + SCRYPT_MEMLIMIT.to_bytes(8, "little")
            )
            stream = _scrypt_stream(password, salt, SCRYPT_OPSLIMIT, SCRYPT_MEMLIMIT)
            body = _xor(keynum + checksum, stream)
            comment = "minisign encrypted secret key"
        return f"{UNTRUSTED_PREFIX}{comment}\n{_b64encode(header + body)}\n"

    @classmethod
    def from_file_text(
        cls, text: str, password: str | None = None, source: str = "The secret key file"
    ) -> SecretKey:
        """Parse (and if needed decrypt) the content of a minisign secret key file."""
        blob = _secret_key_blob(text, source)
        sig_alg, kdf_alg, chk_alg = blob[0:2], blob[2:4], blob[4:6]
        if sig_alg != SIG_ALG_LEGACY or chk_alg != CHECKSUM_BLAKE2B:
            raise MalformedKeyError(
                f"{source} uses algorithms {sig_alg!r}/{chk_alg!r}; only Ed25519 keys with "
                f"BLAKE2b checksums (b'Ed'/b'B2') are supported."
            )
        body = blob[54:]
        if kdf_alg == KDF_SCRYPT:
            if password is None:
                raise BadPasswordError(
                    f"{source} is encrypted with a password; supply the password to use it."
                )
            opslimit = int.from_bytes(blob[38:46], "little")
            memlimit = int.from_bytes(blob[46:54], "little")
            if memlimit > SCRYPT_MEMLIMIT_MAX:
                raise MalformedKeyError(
                    f"{source} asks for {memlimit} bytes of scrypt memory, more than the "
                    f"{SCRYPT_MEMLIMIT_MAX} this tool allows; re-encrypt it with minisign -C."
                )
            body = _xor(body, _scrypt_stream(password, blob[6:38], opslimit, memlimit))
        elif kdf_alg != KDF_NONE:
            raise MalformedKeyError(
                f"{source} uses key derivation {kdf_alg!r}; only scrypt (b'Sc') and "
                f"unencrypted keys are supported."
            )
        key_id, libsodium_sk, checksum = body[:8], body[8:72], body[72:]
        expected = _secret_key_checksum(sig_alg, key_id + libsodium_sk)
        # minisign 0.11 writes an all-zero checksum for unencrypted (-W) keys.
        checksum_absent = kdf_alg == KDF_NONE and checksum == bytes(32)
        if checksum != expected and not checksum_absent:
            if kdf_alg == KDF_SCRYPT:
                raise BadPasswordError(
                    f"{source} cannot be decrypted: the password is wrong (or the file is damaged)."
                )
            raise MalformedKeyError(f"{source} is damaged: its checksum does not match.")
        private = Ed25519PrivateKey.from_private_bytes(libsodium_sk[:32])
        key = cls(key_id=key_id, _key=private)
        if key.public_key().key_bytes != libsodium_sk[32:]:
            raise MalformedKeyError(
                f"{source} is damaged: its secret and public halves do not match."
            )
        return key

    @classmethod
    def load(cls, path: str | os.PathLike[str], password: str | None = None) -> SecretKey:
        """Read a minisign secret key file, decrypting it with `password` if it is encrypted."""
        return cls.from_file_text(
            _read_key_file(path, "secret"), password, f"Secret key file {os.fspath(path)}"
        )


def _read_key_file(path: str | os.PathLike[str], kind: str) -> str:
    try:
        return Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as e:
        raise MalformedKeyError(f"Cannot read {kind} key file {os.fspath(path)}: {e}.") from e


def _secret_key_blob(text: str, source: str) -> bytes:
    lines = _content_lines(text)
    if len(lines) != 2 or not lines[0].startswith(UNTRUSTED_PREFIX.rstrip()):
        raise MalformedKeyError(
            f"{source} is not a minisign secret key file: expected an 'untrusted comment:' "
            f"line followed by one base64 line."
        )
    try:
        blob = _b64decode(lines[1])
    except (binascii.Error, ValueError):
        raise MalformedKeyError(f"{source} does not contain valid base64.") from None
    if len(blob) != _SECRET_KEY_BLOB_LEN:
        raise MalformedKeyError(
            f"{source} holds {len(blob)} bytes; a minisign secret key has {_SECRET_KEY_BLOB_LEN}."
        )
    return blob


def secret_key_is_encrypted(path: str | os.PathLike[str]) -> bool:
    """Whether a minisign secret key file needs a password."""
    source = f"Secret key file {os.fspath(path)}"
    return _secret_key_blob(_read_key_file(path, "secret"), source)[2:4] == KDF_SCRYPT


def _secret_key_checksum(sig_alg: bytes, keynum_and_secret: bytes) -> bytes:
    return hashlib.blake2b(sig_alg + keynum_and_secret, digest_size=32).digest()


def _xor(data: bytes, stream: bytes) -> bytes:
    return bytes(a ^ b for a, b in zip(data, stream, strict=True))


def _scrypt_parameters(opslimit: int, memlimit: int) -> tuple[int, int, int]:
    """Map libsodium's (opslimit, memlimit) to scrypt's (N, r, p).

    This mirrors `pickparams` of libsodium's crypto_pwhash_scryptsalsa208sha256, which
    minisign uses to encrypt secret keys.
    """
    opslimit = max(opslimit, 32768)
    r = 8
    if opslimit < memlimit // 32:
        p = 1
        max_n = opslimit // (r * 4)
    else:
        max_n = memlimit // (r * 128)
    n_log2 = 1
    while n_log2 < 63 and (1 << n_log2) <= max_n // 2:
        n_log2 += 1
    if opslimit >= memlimit // 32:
        max_rp = min((opslimit // 4) // (1 << n_log2), 0x3FFFFFFF)
        p = max_rp // r
    return 1 << n_log2, r, p


def _scrypt_stream(password: str, salt: bytes, opslimit: int, memlimit: int) -> bytes:
    n, r, p = _scrypt_parameters(opslimit, memlimit)
    try:
        kdf = Scrypt(salt=salt, length=_KEYNUM_SK_LEN, n=n, r=r, p=p)
        return kdf.derive(password.encode("utf-8"))
    except (ValueError, MemoryError) as e:
        raise MalformedKeyError(scrypt_failure(n, r, p, e)) from e


def scrypt_failure(n: int, r: int, p: int, error: BaseException,
                   address_bits: int = sys.maxsize.bit_length() + 1) -> str:
    """The sentence for scrypt's refusal. A 32-bit process cannot find the contiguous GiB
    that minisign's default (N=2^20, r=8: 128*r*N bytes) asks for, so say that plainly
    rather than pass on OpenSSL's memory error."""
    needed = 128 * r * n
    if address_bits <= 32 and needed >= 256 << 20:
        size = f"{needed / (1 << 30):g} GiB" if needed >= 1 << 30 else f"{needed >> 20} MiB"
        return (f"This key needs {size} of memory for scrypt (N={n}, r={r}), more than a "
                "32-bit process can allocate; open it on a 64-bit machine.")
    detail = str(error) or type(error).__name__
    return (f"Cannot derive the secret key's encryption key with scrypt "
            f"(N={n}, r={r}, p={p}): {detail}.")


def generate_keypair() -> tuple[SecretKey, PublicKey]:
    """A fresh Ed25519 key pair with a random 8-byte key id."""
    secret = SecretKey(key_id=secrets.token_bytes(_KEY_ID_LEN), _key=Ed25519PrivateKey.generate())
    return secret, secret.public_key()


def _write_atomically(path: str | os.PathLike[str], text: str, mode: int) -> None:
    """Replace `path` with `text` so that readers see the old or the new file, never half."""
    target = Path(path)
    fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".tmp")
    try:
        os.fchmod(fd, mode)
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, target)
    except BaseException:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        raise


def write_secret_key(
    path: str | os.PathLike[str], sk: SecretKey, password: str | None = None
) -> None:
    """Write a minisign secret key file, mode 0600; encrypted with scrypt if `password` is set."""
    _write_atomically(path, sk.to_file_text(password), 0o600)


def write_public_key(path: str | os.PathLike[str], pk: PublicKey) -> None:
    """Write a minisign ``.pub`` file."""
    _write_atomically(path, pk.to_file_text(), 0o644)


@dataclass(frozen=True)
class Signature:
    """A parsed minisign signature file."""

    algorithm: bytes
    key_id: bytes
    signature: bytes
    trusted_comment: str
    global_signature: bytes
    untrusted_comment: str = ""

    @property
    def prehashed(self) -> bool:
        """True for ``ED`` (BLAKE2b-512 prehashed) signatures, False for legacy ``Ed``."""
        return self.algorithm == SIG_ALG_PREHASHED

    @property
    def key_id_hex(self) -> str:
        """The signing key's id as minisign prints it."""
        return format_key_id(self.key_id)

    def to_text(self) -> str:
        """The content of the ``.minisig`` file."""
        return (
            f"{UNTRUSTED_PREFIX}{self.untrusted_comment}\n"
            f"{_b64encode(self.algorithm + self.key_id + self.signature)}\n"
            f"{TRUSTED_PREFIX}{self.trusted_comment}\n"
            f"{_b64encode(self.global_signature)}\n"
        )

    @classmethod
    def parse(cls, text: str, source: str = "The signature") -> Signature:
        """Parse the four lines of a ``.minisig`` file; `source` names it in errors."""
        lines = _content_lines(text)
        if len(lines) != 4:
            raise MalformedSignatureError(
                f"{source} has {len(lines)} lines; a minisign signature has 4 (untrusted "
                f"comment, signature, trusted comment, global signature)."
            )
        if not lines[0].startswith(UNTRUSTED_PREFIX.rstrip()):
            raise MalformedSignatureError(
                f"{source} does not start with an 'untrusted comment:' line."
            )
        if not lines[2].startswith(TRUSTED_PREFIX):
            raise MalformedSignatureError(
                f"{source} lacks its 'trusted comment: ' line (the third line)."
            )
        try:
            blob = _b64decode(lines[1])
            global_signature = _b64decode(lines[3])
        except (binascii.Error, ValueError):
            raise MalformedSignatureError(f"{source} contains invalid base64.") from None
        if len(blob) != _SIGNATURE_BLOB_LEN or len(global_signature) != 64:
            raise MalformedSignatureError(
                f"{source} has signatures of the wrong length; it is not a minisign signature."
            )
        algorithm = blob[:2]
        if algorithm not in (SIG_ALG_PREHASHED, SIG_ALG_LEGACY):
            raise MalformedSignatureError(
                f"{source} uses signature algorithm {algorithm!r}; only b'ED' (prehashed) "
                f"and b'Ed' (legacy) are supported."
            )
        return cls(
            algorithm=algorithm,
            key_id=blob[2:10],
            signature=blob[10:],
            trusted_comment=lines[2][len(TRUSTED_PREFIX) :],
            global_signature=global_signature,
            untrusted_comment=lines[0][len(UNTRUSTED_PREFIX.rstrip()) :].strip(),
        )


@dataclass(frozen=True)
class Verified:
    """The result of a successful verification."""

    key_id: bytes
    key: PublicKey
    trusted_comment: str
    prehashed: bool

    @property
    def key_id_hex(self) -> str:
        """The signing key's id as minisign prints it."""
        return format_key_id(self.key_id)


def _blake2b_file(path: str | os.PathLike[str]) -> bytes:
    digest = hashlib.blake2b(digest_size=64)
    with open(path, "rb") as f:
        while chunk := f.read(_HASH_CHUNK):
            digest.update(chunk)
    return digest.digest()


def _read_data(path: str | os.PathLike[str], prehashed: bool) -> bytes:
    """What the Ed25519 signature covers: the BLAKE2b-512 digest, or the whole file (legacy)."""
    try:
        if prehashed:
            return _blake2b_file(path)
        return Path(path).read_bytes()
    except OSError as e:
        raise SignatureError(f"Cannot read {os.fspath(path)}: {e}.") from e


def _check_trusted_comment(trusted_comment: str) -> bytes:
    encoded = trusted_comment.encode("utf-8")
    if "\n" in trusted_comment or "\r" in trusted_comment:
        raise SignatureError("A trusted comment must be a single line.")
    if len(encoded) > TRUSTED_COMMENT_MAX_BYTES:
        raise SignatureError(
            f"The trusted comment is {len(encoded)} bytes long; minisign allows at most "
            f"{TRUSTED_COMMENT_MAX_BYTES}."
        )
    return encoded


def _sign(
    message: Message,
    sk: SecretKey,
    trusted_comment: str,
    untrusted_comment: str | None,
    prehashed: bool,
) -> str:
    encoded_comment = _check_trusted_comment(trusted_comment)
    untrusted = untrusted_comment or f"signature from minisign secret key {sk.key_id_hex}"
    if "\n" in untrusted or "\r" in untrusted:
        raise SignatureError("An untrusted comment must be a single line.")
    signature = sk.sign_raw(message)
    return Signature(
        algorithm=SIG_ALG_PREHASHED if prehashed else SIG_ALG_LEGACY,
        key_id=sk.key_id,
        signature=signature,
        trusted_comment=trusted_comment,
        global_signature=sk.sign_raw(signature + encoded_comment),
        untrusted_comment=untrusted,
    ).to_text()


def sign_file(
    path: str | os.PathLike[str],
    sk: SecretKey,
    trusted_comment: str,
    untrusted_comment: str | None = None,
    prehashed: bool = True,
) -> str:
    """Sign a file; returns the text of its ``.minisig`` (see `write_signature`).

    Prehashed (``ED``) signing streams the file; legacy (``Ed``) reads it whole, as minisign
    does.
    """
    return _sign(_read_data(path, prehashed), sk, trusted_comment, untrusted_comment, prehashed)


def sign_bytes(
    data: Data,
    sk: SecretKey,
    trusted_comment: str,
    untrusted_comment: str | None = None,
    prehashed: bool = True,
) -> str:
    """Sign data held in memory; returns the signature text."""
    message = _message_from_bytes(data, prehashed)
    return _sign(message, sk, trusted_comment, untrusted_comment, prehashed)


def signature_path_for(path: str | os.PathLike[str]) -> Path:
    """Where minisign keeps the signature of `path`: ``<path>.minisig``."""
    return Path(os.fspath(path) + SIGNATURE_SUFFIX)


def write_signature(path: str | os.PathLike[str], signature_text: str) -> None:
    """Atomically write a signature file (normally ``signature_path_for(data_file)``)."""
    _write_atomically(path, signature_text, 0o644)


def read_signature(path: str | os.PathLike[str], signature_path: str | None = None) -> str:
    """The text of the signature of `path` (by default ``<path>.minisig``).

    Raises MissingSignatureError if it does not exist.
    """
    sig_path = Path(signature_path) if signature_path is not None else signature_path_for(path)
    try:
        return sig_path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise MissingSignatureError(
            f"{os.fspath(path)} has no signature: {sig_path} does not exist."
        ) from None
    except (OSError, UnicodeDecodeError) as e:
        raise MalformedSignatureError(f"Cannot read signature file {sig_path}: {e}.") from e


def _pinned_key(signature: Signature, keys: Sequence[PublicKey], name: str) -> PublicKey:
    for key in keys:
        if key.key_id == signature.key_id:
            return key
    pinned = ", ".join(key.key_id_hex for key in keys) or "none"
    raise UnknownKeyError(
        f"{name} is signed by key {signature.key_id_hex}, which is not among the pinned keys "
        f"({pinned}); pin the publisher's new key if it rotated."
    )


def _verify(
    read_message: Callable[[bool], Message],
    signature_text: str,
    keys: Sequence[PublicKey],
    name: str,
) -> Verified:
    signature = Signature.parse(signature_text, f"The signature of {name}")
    key = _pinned_key(signature, keys, name)
    # The global signature is cheap to check and needs no pass over the data, so it goes
    # first: a tampered trusted comment is reported as such without hashing a large file.
    comment_bytes = signature.trusted_comment.encode("utf-8")
    if not key.verify_raw(signature.global_signature, signature.signature + comment_bytes):
        raise BadTrustedCommentError(
            f"The trusted comment in the signature of {name} was altered (its global "
            f"signature by key {key.key_id_hex} does not match)."
        )
    if not key.verify_raw(signature.signature, read_message(signature.prehashed)):
        raise BadSignatureError(
            f"{name} does not match its signature by key {key.key_id_hex}: the file was "
            f"altered or the signature belongs to another file."
        )
    return Verified(
        key_id=signature.key_id,
        key=key,
        trusted_comment=signature.trusted_comment,
        prehashed=signature.prehashed,
    )


def _message_from_bytes(data: Data, prehashed: bool) -> Message:
    if prehashed:
        return hashlib.blake2b(data, digest_size=64).digest()
    # Copy a mapping rather than export a view of it, which would block its close().
    return data[:] if isinstance(data, mmap.mmap) else data


def verify_file(
    path: str | os.PathLike[str],
    signature_text: str | None,
    keys: Sequence[PublicKey],
) -> Verified:
    """Check that `path` is signed by one of the pinned `keys`.

    `signature_text` is the content of the ``.minisig``; None reads ``<path>.minisig``
    (MissingSignatureError if absent). Raises a SignatureError subclass that says why
    otherwise. Prehashed signatures are checked by streaming the file.
    """
    if signature_text is None:
        signature_text = read_signature(path)
    return _verify(
        lambda prehashed: _read_data(path, prehashed), signature_text, keys, os.fspath(path)
    )


def verify_bytes(
    data: Data,
    signature_text: str,
    keys: Sequence[PublicKey],
    name: str = "(data in memory)",
) -> Verified:
    """Like `verify_file`, for data held in memory; `name` (e.g. its URL) names it in errors.

    `data` may be the read-only mmap of a list file: verifying the very mapping that will
    serve queries leaves no window for the file to be swapped between check and use.
    """
    return _verify(
        lambda prehashed: _message_from_bytes(data, prehashed), signature_text, keys, name
    )


def parse_trusted_comment(tc: str) -> dict[str, str]:
    """Split ``list=ID serial=N expires=...`` into a dict.

    Words without ``=`` (such as minisign's default ``timestamp:... file:...``) are ignored;
    a key given twice is refused, since which value would count is ambiguous.
    """
    fields: dict[str, str] = {}
    for word in tc.split():
        key, sep, value = word.partition("=")
        if not sep or not key:
            continue
        if key in fields:
            raise MalformedSignatureError(
                f"The trusted comment {tc!r} gives {key!r} twice; it must appear once."
            )
        fields[key] = value
    return fields


def format_trusted_comment(fields: dict[str, str]) -> str:
    """The inverse of `parse_trusted_comment`: ``{"list": "x", ...}`` -> ``list=x ...``."""
    words = []
    for key, value in fields.items():
        if not key or "=" in key or any(c.isspace() for c in key + value):
            raise SignatureError(
                f"Trusted comment field {key!r}={value!r} must be non-empty, without "
                f"spaces, and its name without '='."
            )
        words.append(f"{key}={value}")
    return " ".join(words)


NEVER_EXPIRES = "never"


def format_expiry(expires: int | None) -> str:
    """The ``expires=`` value of a trusted comment: ISO 8601 UTC, or ``never`` for None.

    `expires` is Unix time in seconds, as in a compiled list's header.
    """
    if expires is None:
        return NEVER_EXPIRES
    return dt.datetime.fromtimestamp(expires, dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_expiry(value: str) -> int | None:
    """Unix time from an ``expires=`` value (ISO 8601 or Unix seconds); None for ``never``.

    A time without a zone is taken as UTC.
    """
    if value == NEVER_EXPIRES:
        return None
    if value.isdigit():
        return int(value)
    try:
        when = dt.datetime.fromisoformat(value)
    except ValueError:
        raise MalformedSignatureError(
            f"The trusted comment's expires={value!r} is neither an ISO 8601 time "
            f"(2030-01-01T00:00:00Z), Unix seconds, nor {NEVER_EXPIRES!r}."
        ) from None
    if when.tzinfo is None:
        when = when.replace(tzinfo=dt.UTC)
    return int(when.timestamp())
