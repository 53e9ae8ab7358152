"""What the store's repositories raise: sentences a person can act on."""

from __future__ import annotations


class StoreError(Exception):
    """The store cannot do what was asked."""


class Conflict(StoreError):
    """The row exists already (a user name, an override for the same name)."""


class NotFound(StoreError):
    """No such row."""
