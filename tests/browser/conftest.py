"""Headless Chromium for the dashboard tests: Debian's `chromium` driven by Playwright's Python package.

Each test gets a fresh browser whose console errors and warnings and uncaught page errors are collected;
a test fails if any appeared that it did not expect. Screenshots go to test-artifacts/browser/.
"""

from __future__ import annotations

import re
import shutil
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio

from tests.browser.env import dashboard  # noqa: F401  (the seeded gateway every browser test opens)

try:
    from playwright.async_api import async_playwright
except ImportError:  # the dev extra installs it; without it these tests say why they skip
    async_playwright = None

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "browser"
DESKTOP = {"width": 1280, "height": 800}
PHONE = {"width": 390, "height": 844}


def _missing() -> str | None:
    if async_playwright is None:
        return "Playwright's Python package is not installed (pip install -e '.[dev]')"
    if not Path(CHROMIUM).exists():
        return "Debian's chromium is not installed (apt-get install -y chromium)"
    return None


@dataclass
class Browser:
    """One launched Chromium; pages opened through it report console problems into `problems`."""

    handle: Any
    problems: list[str] = field(default_factory=list)
    expected: list[re.Pattern[str]] = field(default_factory=list)

    def expect_problem(self, pattern: str) -> None:
        """A console message matching `pattern` is part of what the test checks, not a failure."""
        self.expected.append(re.compile(pattern))

    async def page(self, viewport: dict[str, int] = DESKTOP, **options: Any) -> Any:
        context = await self.handle.new_context(viewport=viewport, accept_downloads=True, **options)
        page = await context.new_page()
        page.on("console", self._console)
        page.on("pageerror", lambda error: self.problems.append(f"page error: {error}"))
        return page

    def _console(self, message: Any) -> None:
        if message.type in ("error", "warning", "assert"):
            self.problems.append(f"console {message.type}: {message.text}")

    def unexpected(self) -> list[str]:
        return [p for p in self.problems if not any(e.search(p) for e in self.expected)]


@pytest_asyncio.fixture
async def browser() -> AsyncIterator[Browser]:
    reason = _missing()
    if reason:
        pytest.skip(reason)
    assert async_playwright is not None
    async with async_playwright() as playwright:
        handle = await playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        wrapper = Browser(handle)
        try:
            yield wrapper
        finally:
            await handle.close()
        assert wrapper.unexpected() == [], "the page reported problems in the browser console"


async def screenshot(page: Any, name: str, *, full_page: bool = True) -> Path:
    """Save a PNG of the page (or of what the viewport shows) under test-artifacts/browser/."""
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    path = ARTIFACTS / f"{name}.png"
    await page.screenshot(path=str(path), full_page=full_page)
    return path
