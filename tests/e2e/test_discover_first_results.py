"""Discover draws its rows first: the histogram and the field sidebar are asked for after the hits (or once the
search has taken FOLLOW_MS), and neither can hold the rows back; `lw-first-results` marks the rows on screen."""

from __future__ import annotations

from typing import Any

import pytest

from tests.e2e.conftest import ConsolePage

pytestmark = pytest.mark.slow

FOLLOW_MS = 300  # static/js/discover/page.js


def _holder(routes: list[Any]) -> Any:
    """A route handler that keeps each request unanswered in `routes` (Playwright needs a Python function)."""

    def hold(route: Any) -> None:
        routes.append(route)

    return hold


def _wait_for(page: Any, done: Any, what: str) -> None:
    for _ in range(200):  # Playwright delivers route and request events while the page waits
        if done():
            return
        page.wait_for_timeout(25)
    raise AssertionError(f"timed out waiting for {what}")


def test_rows_are_drawn_while_the_histogram_and_fields_are_still_pending(console: ConsolePage) -> None:
    page = console.page
    held: dict[str, list[Any]] = {"query": [], "histogram": [], "fields": []}
    for name, routes in held.items():
        page.route(f"**/api/v1/{name}*", _holder(routes))
    console.open("start=now-1h")
    _wait_for(page, lambda: held["query"], "the search")
    # The search alone is asked first: nothing else competes with it for FOLLOW_MS.
    page.wait_for_timeout(FOLLOW_MS // 2)
    assert (len(held["histogram"]), len(held["fields"])) == (0, 0)
    held["query"][0].continue_()
    # Once it answers, the histogram and the fields are asked for; held, they do not hold the rows back.
    _wait_for(page, lambda: held["histogram"] and held["fields"], "the histogram and fields requests")
    page.wait_for_function("() => performance.getEntriesByName('lw-first-results').length > 0")
    assert page.locator(".hits .hit").count() > 0
    assert page.locator(".field-list .field").count() == 0
    assert page.evaluate("() => performance.getEntriesByName('lw-fields-drawn').length") == 0

    for route in held["histogram"] + held["fields"]:
        route.continue_()
    page.wait_for_function("() => performance.getEntriesByName('lw-fields-drawn').length > 0")
    summary = page.locator(".fields-summary").inner_text()
    assert "top values in the" in summary and "newest lines" in summary
    page.wait_for_function("() => Number(document.querySelector('.histogram')?.dataset.total) > 0")
    # The mark is when the rows were on screen, before the fields were drawn.
    first, fields = page.evaluate(
        "() => ['lw-first-results', 'lw-fields-drawn'].map((n) => performance.getEntriesByName(n)[0].startTime)"
    )
    assert first < fields


def test_a_slow_search_gets_its_histogram_and_fields_after_follow_ms(console: ConsolePage) -> None:
    page = console.page
    held: list[Any] = []
    asked: list[str] = []
    page.route("**/api/v1/query*", _holder(held))
    page.on(
        "request", lambda r: asked.append(r.url) if "/api/v1/histogram" in r.url or "/api/v1/fields" in r.url else None
    )
    console.open("start=now-1h")
    _wait_for(page, lambda: held, "the search")
    # The search never answers here: the histogram and fields still come.
    _wait_for(page, lambda: len(asked) == 2, "the histogram and fields requests")
    page.wait_for_function("() => performance.getEntriesByName('lw-fields-drawn').length > 0")
    assert page.evaluate("() => performance.getEntriesByName('lw-first-results').length") == 0
    held[0].continue_()
    page.wait_for_function("() => performance.getEntriesByName('lw-first-results').length > 0")


def test_a_failed_search_asks_for_no_histogram_or_fields(console: ConsolePage) -> None:
    page = console.page
    asked: list[str] = []
    page.on("request", lambda r: asked.append(r.url) if "/api/v1/" in r.url else None)
    console.open("q=level:(error&start=now-1h")
    page.wait_for_selector(".query-error .error-at")
    page.wait_for_timeout(FOLLOW_MS + 200)
    assert [u for u in asked if "/api/v1/histogram" in u or "/api/v1/fields" in u] == []
