"""`straja lists sign` and `straja lists verify`: minisign signatures of list files."""

from __future__ import annotations

import importlib
from pathlib import Path
from typing import Any

import click

from blocklists.errors import CorruptListError, ListError, UnsupportedListVersionError
from blocklists.minisign import (
    PublicKey,
    SecretKey,
    SignatureError,
    format_expiry,
    format_trusted_comment,
    parse_trusted_comment,
    read_signature,
    secret_key_is_encrypted,
    sign_file,
    signature_path_for,
    verify_file,
    write_signature,
)

# What the list manager reads from a list's trusted comment.
REQUIRED_COMMENT_FIELDS = ("list", "serial", "expires")


class PublicKeyParam(click.ParamType):
    """A minisign public key given as its base64 string (``RW...``) or a ``.pub`` path."""

    name = "key"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        if isinstance(value, PublicKey):
            return value
        try:
            return PublicKey.parse(str(value))
        except SignatureError as e:
            self.fail(str(e), param, ctx)


def _looks_compiled(path: Path, magic: object) -> bool:
    if not isinstance(magic, bytes):
        return False
    try:
        with path.open("rb") as f:
            return f.read(len(magic)) == magic
    except OSError:
        return False


def compiled_list_comment(path: Path) -> str:
    """The default trusted comment (``list=ID serial=N expires=...``) of a compiled list.

    Read from the compiled file's header. Raises click.UsageError, asking for
    --trusted-comment, if `path` is not a compiled list (or this build cannot read them).
    """
    hint = (
        "To sign a text list, pass --trusted-comment 'list=ID serial=N expires=...' "
        "(a text list does not carry its list id, serial and expiry)."
    )
    try:
        trie = importlib.import_module("blocklists.trie")
    except ImportError:
        raise click.UsageError(
            f"{path} cannot be read as a compiled list (this build has no reader). {hint}"
        ) from None
    try:
        compiled = trie.CompiledList.open(path)
    except UnsupportedListVersionError as e:
        raise click.ClickException(str(e)) from e
    except (CorruptListError, ValueError) as e:
        if _looks_compiled(path, getattr(trie, "MAGIC_FAMILY", None)):
            # A damaged compiled list: say so rather than offer to sign it as text.
            raise click.ClickException(str(e)) from e
        reason = str(e) if str(e).endswith(".") else f"{e}."
        raise click.UsageError(f"{reason} {hint}") from e
    try:
        header = compiled.header
        fields = {
            "list": str(header.list_id),
            "serial": str(header.serial),
            "expires": format_expiry(header.expires),
        }
    finally:
        close = getattr(compiled, "close", None)
        if callable(close):
            close()
    return format_trusted_comment(fields)


@click.command()
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option(
    "--secret-key",
    "secret_key_path",
    required=True,
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="The minisign secret key file (from `straja keys generate` or `minisign -G`).",
)
@click.option(
    "--trusted-comment",
    "-t",
    help="Signed comment, e.g. 'list=ID serial=N expires=2030-01-01T00:00:00Z'. "
    "Defaults to the header of a compiled list; required for text source lists.",
)
@click.option("--untrusted-comment", help="Unsigned first line of the signature file.")
@click.option(
    "--signature",
    "signature_path",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Where to write the signature (default: FILE.minisig).",
)
@click.option(
    "--legacy",
    is_flag=True,
    help="Make a legacy 'Ed' signature over the raw file instead of the prehashed 'ED' one.",
)
def sign(
    file: Path,
    secret_key_path: Path,
    trusted_comment: str | None,
    untrusted_comment: str | None,
    signature_path: Path | None,
    legacy: bool,
) -> None:
    """Sign FILE in minisign format, writing FILE.minisig."""
    try:
        if trusted_comment is None:
            trusted_comment = compiled_list_comment(file)
        missing = [
            k for k in REQUIRED_COMMENT_FIELDS if k not in parse_trusted_comment(trusted_comment)
        ]
        if missing:
            click.echo(
                f"Warning: the trusted comment lacks {', '.join(missing)}; Straja refuses "
                f"such a file as a blocklist (it cannot check expiry and rollback).",
                err=True,
            )
        password = None
        if secret_key_is_encrypted(secret_key_path):
            password = click.prompt(f"Password for {secret_key_path}", hide_input=True, err=True)
        secret = SecretKey.load(secret_key_path, password)
        text = sign_file(file, secret, trusted_comment, untrusted_comment, prehashed=not legacy)
        target = signature_path or signature_path_for(file)
        write_signature(target, text)
    except ListError as e:
        raise click.ClickException(str(e)) from e
    click.echo(f"Signed {file} with key {secret.key_id_hex}: {target}")
    click.echo(f"Trusted comment: {trusted_comment}")


@click.command()
@click.argument("file", type=click.Path(dir_okay=False, path_type=Path))
@click.option(
    "--key",
    "keys",
    multiple=True,
    required=True,
    type=PublicKeyParam(),
    help="A pinned public key: its base64 string (RW...) or a .pub file. Repeat for rotation.",
)
@click.option(
    "--signature",
    "signature_path",
    type=click.Path(dir_okay=False, path_type=Path),
    help="The signature file (default: FILE.minisig).",
)
def verify(file: Path, keys: tuple[PublicKey, ...], signature_path: Path | None) -> None:
    """Check that FILE is signed by one of the given keys; exit 1 with the reason if not."""
    try:
        signature_text = read_signature(
            file, str(signature_path) if signature_path is not None else None
        )
        verified = verify_file(file, signature_text, keys)
    except SignatureError as e:
        raise click.ClickException(str(e)) from e
    click.echo(f"Key id: {verified.key_id_hex}")
    click.echo(f"Trusted comment: {verified.trusted_comment}")
    click.echo("OK")
