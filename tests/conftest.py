from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.pg import db_url, own_pg, pg_server  # noqa: F401 - fixtures
from tests.servers import Straja, Unbound


def _need(tool: str) -> None:
    if shutil.which(tool) is None and not Path(f"/usr/sbin/{tool}").exists():
        pytest.fail(f"{tool} is not installed; run .ci/run or apt-get install it")


@pytest.fixture(scope="session")
def unbound(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Unbound]:
    """One Unbound for the whole session, serving the test zone on 127.0.0.2."""
    _need("unbound")
    server = Unbound(tmp_path_factory.mktemp("unbound")).start()
    yield server
    server.stop()


@pytest.fixture
def own_unbound(tmp_path: Path) -> Iterator[Unbound]:
    """An Unbound this test may stop, on 127.0.0.3."""
    _need("unbound")
    server = Unbound(tmp_path, host="127.0.0.3").start()
    yield server
    server.stop()


@pytest.fixture
def straja_factory(tmp_path: Path) -> Iterator[object]:
    started: list[Straja] = []

    def make(config: dict, start: bool = True, host: str = "127.0.0.1") -> Straja:
        workdir = tmp_path / f"straja{len(started)}"
        workdir.mkdir()
        server = Straja(workdir, config, host=host)
        started.append(server)
        return server.start() if start else server

    yield make
    for server in started:
        server.stop()


@pytest.fixture
def straja(straja_factory, unbound: Unbound) -> Straja:  # type: ignore[no-untyped-def]
    """Straja forwarding to the session's Unbound."""
    return straja_factory({"upstreams": [unbound.address]})  # type: ignore[no-any-return]


# The real Chromium of the UI tests (tests/browser.py), one per session for every module.
from tests.browser import browser_fixture, page_fixture  # noqa: E402, F401
