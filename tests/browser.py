"""A real headless Chromium for the UI tests: Debian's /usr/bin/chromium driven by
Playwright's Python package (`executable_path`: Playwright downloads no browser)."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.servers import REPO

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
ARTIFACTS = Path(os.environ.get("STRAJA_TEST_ARTIFACTS", REPO / "test-artifacts"))


@pytest.fixture(scope="session", name="browser")
def browser_fixture() -> Iterator[Any]:
    if not Path(CHROMIUM).exists():
        pytest.fail("chromium is not installed; run scripts/test-deps or apt-get install it")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        instance = p.chromium.launch(executable_path=CHROMIUM,
                                     args=["--no-sandbox", "--disable-gpu"])
        yield instance
        instance.close()


@pytest.fixture(name="page")
def page_fixture(browser: Any) -> Iterator[Any]:
    """A fresh browser context (no cookies) with English as its language."""
    context = browser.new_context(locale="en-GB", viewport={"width": 1280, "height": 860})
    context.set_default_timeout(20_000)
    tab = context.new_page()
    errors: list[str] = []
    tab.on("console", lambda msg: errors.append(msg.text) if msg.type == "error" else None)
    tab.console_errors = errors
    yield tab
    context.close()


def screenshot(tab: Any, name: str) -> Path:
    """Save a screenshot of the page as a test artifact (test-artifacts/, gitignored)."""
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    path = ARTIFACTS / f"{name}.png"
    tab.screenshot(path=str(path), full_page=True)
    return path
