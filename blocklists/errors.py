"""Domain exceptions of the blocklists package.

Every error a list can raise derives from `ListError`, so a caller that only needs to know
"this list cannot be used" catches one class. Messages are sentences naming the file (and
line, when there is one) and what to do about it.
"""

from __future__ import annotations


class ListError(Exception):
    """Base class: a list source or compiled list file cannot be used."""


class InvalidNameError(ListError):
    """A domain name is not valid (empty label, label over 63 bytes, name over 253, ...)."""


class SourceFormatError(ListError):
    """A list source cannot be read at all (unknown format, unreadable file)."""


class ListCompileError(ListError):
    """Compiling a list failed (bad metadata, canary not blocked, write error)."""


class CorruptListError(ListError):
    """A compiled list file is truncated, corrupt or not a Straja list file."""


class UnsupportedListVersionError(CorruptListError):
    """A compiled list file was written in a format version this Straja cannot read."""


class HashedListError(ListError):
    """The operation needs domain names, but the list is hashed and carries none."""


class ListClosedError(ListError):
    """The compiled list was used after it was closed."""
