"""The keyboard on every page: `/` focuses the search (Discover) and does nothing elsewhere, `Enter` runs or
applies, `Esc` closes the time picker (Discover, Dashboards) and dialogs (Silences)."""

from __future__ import annotations

from urllib.parse import parse_qs, urlparse

import pytest

from tests.e2e.conftest import ConsolePage

pytestmark = pytest.mark.slow


def _param(url: str, name: str) -> str | None:
    return parse_qs(urlparse(url).query).get(name, [None])[0]


def test_slash_focuses_the_search_and_enter_runs_it(console: ConsolePage) -> None:
    page = console.open("start=now-1h")
    page.wait_for_function("() => document.querySelector('.result-status')?.textContent.includes(' ms')")
    page.locator("body").click(position={"x": 5, "y": 300})
    page.keyboard.press("/")
    assert page.evaluate("() => document.activeElement.matches('[data-search]')")
    page.keyboard.type("level:error")
    page.keyboard.press("Escape")  # closes the completion list, keeps the text
    page.keyboard.press("Enter")
    page.wait_for_function("() => new URLSearchParams(location.search).get('q') === 'level:error'")


@pytest.mark.parametrize("path", ["/", "/dashboards"])
def test_escape_closes_the_time_picker_and_enter_applies_it(console: ConsolePage, path: str) -> None:
    page = console.page
    page.goto(console.base_url + path + "?start=now-1h")
    page.locator(".tp-button").click()
    panel = page.locator(".tp-panel")
    assert panel.is_visible()
    page.keyboard.press("Escape")
    assert panel.is_hidden()
    page.locator(".tp-button").click()
    page.locator(".tp-from").fill("now-3h")
    page.keyboard.press("Enter")
    page.wait_for_function("() => new URLSearchParams(location.search).get('start') === 'now-3h'")
    assert panel.is_hidden() and _param(page.url, "start") == "now-3h"


@pytest.mark.parametrize("path", ["/alerts", "/rules", "/silences"])
def test_slash_without_a_search_does_nothing(console: ConsolePage, path: str) -> None:
    page = console.page
    page.goto(console.base_url + path)
    page.wait_for_load_state("networkidle")
    page.keyboard.press("/")
    assert page.evaluate("() => document.activeElement === document.body")


def test_escape_closes_a_dialog(console: ConsolePage) -> None:
    page = console.page
    page.goto(console.base_url + "/silences")
    page.locator(".sl-new").click()
    dialog = page.locator("dialog[open]")
    dialog.wait_for()
    page.keyboard.press("Escape")
    page.wait_for_function("() => !document.querySelector('dialog[open]')")
