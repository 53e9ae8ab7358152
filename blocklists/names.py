"""Domain name normalisation for list sources: one spelling per name.

A name is lowercased, its trailing dot removed and internationalised names are converted to
A-labels by UTS-46 (`Bücher.example` -> `xn--bcher-kva.example`). Plain ASCII names, which
are nearly all of any real list, take a fast path that never calls the `idna` package.
"""

from __future__ import annotations

import re

import idna

from blocklists.errors import InvalidNameError

MAX_NAME_LENGTH = 253
MAX_LABEL_LENGTH = 63

# Letters, digits, hyphen and underscore: real blocklists carry underscores (`_dmarc`,
# tracker hosts) and labels with a leading or trailing hyphen, and resolvers resolve them,
# so the fast path accepts what a resolver would be asked for rather than strict LDH.
_ASCII_NAME = re.compile(r"[a-z0-9_-]{1,63}(?:\.[a-z0-9_-]{1,63})*")


def normalise_name(text: str) -> str:
    """Return the canonical spelling of the domain name `text` (A-labels, lowercase, no
    trailing dot), or raise `InvalidNameError` with a sentence saying what is wrong."""
    if text.isascii():
        name = text.lower()
        if name.endswith("."):
            name = name[:-1]
        if len(name) <= MAX_NAME_LENGTH and _ASCII_NAME.fullmatch(name):
            return name
        raise InvalidNameError(_ascii_problem(name))
    stripped = text[:-1] if text.endswith(".") else text
    try:
        name = idna.encode(stripped, uts46=True).decode("ascii")
    except (idna.IDNAError, UnicodeError) as exc:
        raise InvalidNameError(f"'{text}' is not a valid internationalised name: {exc}.") from None
    if len(name) > MAX_NAME_LENGTH:
        raise InvalidNameError(
            f"'{text}' is {len(name)} bytes long as A-labels; a name has at most {MAX_NAME_LENGTH}."
        )
    if not _ASCII_NAME.fullmatch(name):
        raise InvalidNameError(_ascii_problem(name))
    return name


def _ascii_problem(name: str) -> str:
    """Say why an ASCII name failed the fast-path pattern (only called on failure)."""
    if not name:
        return "The name is empty."
    if len(name) > MAX_NAME_LENGTH:
        return f"'{name}' is {len(name)} bytes long; a name has at most {MAX_NAME_LENGTH}."
    for label in name.split("."):
        if not label:
            return f"'{name}' has an empty label (two dots in a row, or a leading dot)."
        if len(label) > MAX_LABEL_LENGTH:
            return (
                f"'{name}' has a label of {len(label)} bytes; a label has at most "
                f"{MAX_LABEL_LENGTH}."
            )
        for char in label:
            if not (char.isalnum() or char in "-_"):
                return f"'{name}' contains {char!r}, which is not allowed in a domain name."
    return f"'{name}' is not a valid domain name."
