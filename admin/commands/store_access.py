"""What the store's CLI commands share: opening the database, the actor, reading secrets."""

from __future__ import annotations

import getpass
import os
import pwd
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING

import click

from admin.config import Config

if TYPE_CHECKING:
    from admin.store import Store


def cli_actor() -> str:
    """`cli:<unix user>`, the actor CLI changes are audited under."""
    try:
        name = pwd.getpwuid(os.getuid()).pw_name
    except KeyError:
        name = getpass.getuser()
    return f"cli:{name}"


@contextmanager
def opened_store(config: Config) -> Iterator[Store]:
    """The config's store, migrated; a database that cannot be used exits 1 with a sentence
    (the URL shown without its password) and a refused change exits 1 with its reason."""
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import SQLAlchemyError

    from admin.changes import ChangeRefused
    from admin.store import database_url, open_store
    from admin.store.dbthread import describe_error

    url = database_url(config)
    try:
        store = open_store(config)
    except SQLAlchemyError as exc:
        shown = make_url(url).render_as_string(hide_password=True)
        click.echo(f"straja: the database {shown} cannot be used: {describe_error(exc)}",
                   err=True)
        sys.exit(1)
    try:
        yield store
    except ChangeRefused as exc:
        click.echo(f"straja: {exc.field}: {exc.message}", err=True)
        sys.exit(1)
    except SQLAlchemyError as exc:
        click.echo(f"straja: the database failed: {describe_error(exc)}", err=True)
        sys.exit(1)
    finally:
        store.close()


def read_new_password(from_stdin: bool) -> str:
    """A new password from a prompt (typed twice, never echoed) or one line of stdin."""
    if from_stdin:
        password = sys.stdin.readline().rstrip("\r\n")
        if not password:
            click.echo("straja: --password-stdin read no password", err=True)
            sys.exit(1)
        return password
    return str(click.prompt("Password", hide_input=True, confirmation_prompt=True,
                            err=True))


password_stdin_option = click.option(
    "--password-stdin", is_flag=True,
    help="Read the password from the first line of standard input instead of a prompt.")
