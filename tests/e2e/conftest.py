"""A real `logwarden serve` with generated lines, and headless Debian Chromium driven by Playwright.

The browser tests skip (with the reason) only when /usr/bin/chromium is missing; Playwright's own browser
downloads are never used.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import ServerProcess
from tests.e2e.data import generated_lines, ingest, now

CHROMIUM = Path("/usr/bin/chromium")
SCREENSHOTS = Path(__file__).parent / "screenshots"
VIEWPORT = {"width": 1280, "height": 800}


@pytest.fixture(scope="module")
def console_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    """One server for the module with ~300 lines over the last 50 minutes (stamped from now)."""
    proc = ServerProcess(Path(tmp_path_factory.mktemp("console")) / "data")
    try:
        proc.wait_ready()
        ingest(proc.url, generated_lines(now()))
        yield proc
    finally:
        proc.close()


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    if not CHROMIUM.exists():
        pytest.skip(f"{CHROMIUM} is missing: install Debian's chromium (apt-get install -y chromium)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=str(CHROMIUM), headless=True)
        try:
            yield browser
        finally:
            browser.close()


class ConsolePage:
    """A page of the console with the errors it logged (CSP violations and uncaught exceptions show there)."""

    def __init__(self, page: Any, base_url: str) -> None:
        self.page = page
        self.base_url = base_url
        self.errors: list[str] = []
        page.on("console", lambda m: self.errors.append(m.text) if m.type == "error" else None)
        page.on("pageerror", lambda e: self.errors.append(str(e)))

    def open(self, query: str = "") -> Any:
        self.page.goto(self.base_url + "/" + (f"?{query}" if query else ""))
        return self.page

    def shot(self, name: str) -> None:
        SCREENSHOTS.mkdir(exist_ok=True)
        self.page.screenshot(path=str(SCREENSHOTS / f"{name}.png"))


@pytest.fixture(params=["light"])
def console(request: pytest.FixtureRequest, browser: Any, console_server: ServerProcess) -> Iterator[ConsolePage]:
    context = browser.new_context(viewport=VIEWPORT, color_scheme=request.param)
    page = ConsolePage(context.new_page(), console_server.url)
    try:
        yield page
        # Failed API calls a test provokes on purpose (a 400) are logged by the browser as "Failed to load".
        assert [e for e in page.errors if "status of 400" not in e] == []
    finally:
        context.close()
