"""`straja keys ...`: publisher key management."""

from __future__ import annotations

from pathlib import Path

import click

from blocklists.minisign import generate_keypair, write_public_key, write_secret_key


@click.group()
def keys() -> None:
    """Manage minisign-format publisher keys."""


@keys.command()
@click.option(
    "--secret-key",
    "secret_key_path",
    required=True,
    type=click.Path(dir_okay=False, path_type=Path),
    help="Where to write the secret key (mode 0600). Keep it off the appliance.",
)
@click.option(
    "--public-key",
    "public_key_path",
    required=True,
    type=click.Path(dir_okay=False, path_type=Path),
    help="Where to write the public key (.pub).",
)
@click.option("--force", is_flag=True, help="Overwrite existing key files.")
@click.option(
    "--encrypt",
    is_flag=True,
    help="Protect the secret key with a password (scrypt, as `minisign -G` does).",
)
def generate(secret_key_path: Path, public_key_path: Path, force: bool, encrypt: bool) -> None:
    """Generate a minisign key pair for signing lists.

    The public key string is printed on stdout, alone, so that it can be pasted into a
    list's `keys:` in the config (or captured by a script); everything else goes to stderr.
    """
    if secret_key_path.resolve() == public_key_path.resolve():
        raise click.UsageError("--secret-key and --public-key must be different files.")
    if not force:
        for existing in (secret_key_path, public_key_path):
            if existing.exists():
                raise click.ClickException(
                    f"{existing} already exists; pass --force to overwrite it (a lost secret "
                    f"key cannot be recovered, and lists signed with it need the old public key)."
                )
    password = None
    if encrypt:
        password = click.prompt(
            "Password for the secret key", hide_input=True, confirmation_prompt=True, err=True
        )
    secret, public = generate_keypair()
    write_secret_key(secret_key_path, secret, password)
    write_public_key(public_key_path, public)
    click.echo(f"Secret key written to {secret_key_path} - keep it secret.", err=True)
    click.echo(f"Public key {public.key_id_hex} written to {public_key_path}.", err=True)
    click.echo("Pin this public key in the list's `keys:` in the config:", err=True)
    click.echo(public.to_base64())
