"""The catalogue of well-known public lists (`source: catalog:NAME`, `straja lists catalog`).

A data file, `builtin/catalog.json`: choosing a list is a word, not a URL and a guess at its
format. The catalogue fills `source` and `format` only; tier and `signed: false` stay the
operator's to write, and nothing in it is enabled by default.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import cache
from pathlib import Path

CATALOG_PATH = Path(__file__).parent / "builtin" / "catalog.json"
SOURCE_FORMATS = ("domains", "wildcard", "hosts", "adblock", "rpz")


@dataclass(frozen=True)
class CatalogEntry:
    """One well-known list."""

    name: str
    title: str
    url: str
    format: str
    category: str
    licence: str
    homepage: str


@cache
def catalog() -> tuple[CatalogEntry, ...]:
    """Every catalogue entry, in the file's order."""
    data = json.loads(CATALOG_PATH.read_text(encoding="utf-8"))
    return tuple(CatalogEntry(**item) for item in data["lists"])


def catalog_entry(name: str) -> CatalogEntry:
    """The entry called `name`; a ValueError naming the known ones when there is none."""
    for entry in catalog():
        if entry.name == name:
            return entry
    known = ", ".join(entry.name for entry in catalog())
    raise ValueError(f"there is no list {name!r} in the catalogue; known lists: {known} "
                     "(see `straja lists catalog`)")
