"""From an import trace (the module names Straja processes loaded) to the OpenWrt feed's
packages: the package Makefile's DEPENDS, and what the package bundles as pure Python.

Used by tests/test_pure_python.py (which checks that the Makefile declares everything the
trace needs) and by scripts/openwrt-deps (which rewrites the Makefile and bundled.mk).
"""

from __future__ import annotations

import hashlib
import re
import subprocess
import sys
from collections.abc import Iterable, Mapping
from pathlib import Path

from tests.servers import REPO

MAKEFILE = REPO / "deploy" / "openwrt" / "Makefile"
BUNDLED_MK = REPO / "deploy" / "openwrt" / "bundled.mk"

# The feed splits the standard library (lang/python/python3/files/python3-package-*.mk);
# whatever is not listed here is in python3-light.
STDLIB_SPLIT = {
    "asyncio": "python3-asyncio", "logging": "python3-logging", "urllib": "python3-urllib",
    "email": "python3-email", "ssl": "python3-openssl", "_ssl": "python3-openssl",
    "_hashlib": "python3-openssl", "sqlite3": "python3-sqlite3", "_sqlite3": "python3-sqlite3",
    "ctypes": "python3-ctypes", "_ctypes": "python3-ctypes", "decimal": "python3-decimal",
    "_decimal": "python3-decimal", "multiprocessing": "python3-multiprocessing",
    "_multiprocessing": "python3-multiprocessing", "xml": "python3-xml",
    "pyexpat": "python3-xml", "lzma": "python3-lzma", "_lzma": "python3-lzma",
    "dbm": "python3-dbm", "uuid": "python3-uuid", "_uuid": "python3-uuid",
    "unittest": "python3-unittest", "pydoc": "python3-pydoc", "pydoc_data": "python3-pydoc",
    "venv": "python3-venv", "readline": "python3-readline", "curses": "python3-ncurses",
    "_curses": "python3-ncurses", "cgi": "python3-cgi", "cgitb": "python3-cgi",
    "webbrowser": "python3-webbrowser", "lib2to3": "python3-lib2to3",
    "distutils": "python3-distutils", "zoneinfo": "zoneinfo-all",
}
CODECS = re.compile(r"^_codecs_(cn|hk|iso2022|jp|kr|tw)$|^_multibytecodec$")
# Third-party distributions the feed packages itself (their own DEPENDS follow).
FEED = {
    "pyyaml": "python3-yaml", "click": "python3-click", "cryptography": "python3-cryptography",
    "idna": "python3-idna", "sqlalchemy": "python3-sqlalchemy", "cffi": "python3-cffi",
    "pycparser": "python3-pycparser", "attrs": "python3-attrs",
    "typing-extensions": "python3-typing-extensions", "greenlet": "python3-greenlet",
    "jinja2": "python3-jinja2", "markupsafe": "python3-markupsafe",
}
# Ours: shipped by the package itself.
OWN = {"straja"}
# Loaded by the test's virtualenv itself (setuptools' .pth hook), not by Straja.
IGNORED = {"_distutils_hack"}


def normalise(dist: str) -> str:
    return re.sub(r"[-_.]+", "-", dist).lower()


def classify(
    modules: Iterable[str], dist_of: Mapping[str, list[str]]
) -> tuple[list[str], set[str]]:
    """(DEPENDS in Makefile order, distributions to bundle) for the traced module names.

    `dist_of` maps a top-level import name to its distributions (packages_distributions()).
    """
    depends = {"python3-light"}
    bundled: set[str] = set()
    stdlib = set(sys.stdlib_module_names)
    for module in modules:
        top = module.split(".")[0]
        if top in IGNORED:
            continue
        if top in dist_of:
            for dist in dist_of[top]:
                name = normalise(dist)
                if name in FEED:
                    depends.add(FEED[name])
                elif name not in OWN:
                    bundled.add(name)
        elif top in stdlib or top in sys.builtin_module_names:
            if top in STDLIB_SPLIT:
                depends.add(STDLIB_SPLIT[top])
            elif CODECS.match(top):
                depends.add("python3-codecs")
    ordered = ["python3-light", *sorted(d for d in depends if d.startswith("python3-")
                                        and d != "python3-light"),
               *sorted(d for d in depends if not d.startswith("python3-"))]
    return ordered, bundled


def declared_depends(makefile: Path = MAKEFILE) -> list[str]:
    block = _block(makefile.read_text())
    return re.findall(r"\+([\w.-]+)", block)


def _block(text: str) -> str:
    found = re.search(r"# BEGIN DEPENDS.*?\n(.*?)# END DEPENDS", text, re.S)
    if not found:
        raise ValueError("the Makefile has no '# BEGIN DEPENDS' ... '# END DEPENDS' block")
    return found.group(1)


def write_depends(depends: list[str], makefile: Path = MAKEFILE) -> None:
    text = makefile.read_text()
    lines = "  DEPENDS:= \\\n" + " \\\n".join(f"\t+{d}" for d in depends) + "\n"
    makefile.write_text(text.replace(_block(text), lines))


def write_bundled(versions: Mapping[str, str], pip: list[str], path: Path = BUNDLED_MK) -> None:
    """bundled.mk: a Download of each bundled distribution's pure-Python wheel, with its
    sha256, fetched once with pip (py3-none-any only: no C extension can slip in)."""
    import tempfile

    out = ["# Written by scripts/openwrt-deps: pure-Python wheels of what the feed lacks.",
           "# Each is installed beside Straja by Build/Compile in the Makefile.", ""]
    wheels = []
    with tempfile.TemporaryDirectory() as tmp:
        for dist in sorted(versions):
            subprocess.run([*pip, "download", "-q", "--no-deps", "--only-binary=:all:",
                            "--platform", "any", "--implementation", "py", "--abi", "none",
                            "--python-version", "3.13", "-d", tmp,
                            f"{dist}=={versions[dist]}"], check=True, capture_output=True)
            wheel = next(p for p in Path(tmp).glob("*.whl")
                         if normalise(p.name.split("-")[0]) == dist)
            digest = hashlib.sha256(wheel.read_bytes()).hexdigest()
            first = wheel.name[0].lower()
            project = wheel.name.split("-")[0]
            wheels.append(wheel.name)
            out += [f"define Download/straja-{dist}",
                    f"  URL:=https://files.pythonhosted.org/packages/py3/{first}/{project}/",
                    f"  FILE:={wheel.name}",
                    f"  HASH:={digest}",
                    "endef",
                    f"$(eval $(call Download,straja-{dist}))", ""]
    out.insert(3, "STRAJA_BUNDLED_WHEELS:= \\\n" + " \\\n".join(f"\t{w}" for w in wheels) + "\n")
    path.write_text("\n".join(out))
