"""Discover in headless Chromium against a real server: search, field filters, histogram zoom, context, trace,
live mode, stats, syntax errors, completion, keyboard and themes. Screenshots go to tests/e2e/screenshots/."""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any
from urllib.parse import parse_qs, urlparse

import pytest

from tests.conftest import ServerProcess
from tests.e2e.conftest import ConsolePage
from tests.e2e.data import TRACE_ID, ingest, iso, now

pytestmark = pytest.mark.slow


def url_params(page: Any) -> dict[str, str]:
    return {k: v[0] for k, v in parse_qs(urlparse(page.url).query).items()}


def wait_hits(page: Any) -> None:
    page.wait_for_function("() => document.querySelector('.result-status')?.textContent.includes(' ms')")


def column(page: Any, name: str) -> list[str]:
    return [t.strip() for t in page.locator(f".hits .hit .col-{name}").all_text_contents()]


def test_search_from_the_url_highlights_and_filters_by_a_field_value(console: ConsolePage) -> None:
    page = console.open("q=timeout&start=now-1h")
    wait_hits(page)
    assert page.locator("[data-search]").input_value() == "timeout"
    messages = column(page, "message")
    assert messages and all("gateway timeout" in m for m in messages)
    assert page.locator(".hits .hit mark").first.inner_text().lower() == "timeout"

    page = console.open("start=now-1h")
    wait_hits(page)
    first = page.evaluate("() => performance.getEntriesByName('lw-first-results')[0].startTime")
    print(f"navigation to first results: {first:.0f} ms (~300 stored lines; 2 shared cores: noisy)")
    assert len(set(column(page, "service"))) == 3
    page.locator(".field[data-field='service'] .field-name").click()
    page.locator(".field-values .value-button[data-value='payment']").click()
    page.wait_for_function("() => new URLSearchParams(location.search).get('q') === 'service:payment'")
    wait_hits(page)
    assert set(column(page, "service")) == {"payment"}
    console.shot("discover-hits-light")

    # Right-click filters the value out, and keeps what was there.
    page.locator(".field[data-field='host'] .field-name").click()
    page.locator(".field-values .value-button[data-value='web-0']").click(button="right")
    page.wait_for_function("() => new URLSearchParams(location.search).get('q') === 'service:payment -host:web-0'")
    wait_hits(page)
    hosts = column(page, "host")
    assert hosts and "web-0" not in hosts and set(column(page, "service")) == {"payment"}
    # Back returns to the previous search.
    page.go_back()
    page.wait_for_function("() => new URLSearchParams(location.search).get('q') === 'service:payment'")
    wait_hits(page)
    assert "web-0" in column(page, "host")


def test_dragging_across_the_histogram_zooms_the_time_range(console: ConsolePage) -> None:
    page = console.open("start=now-1h")
    wait_hits(page)
    # The histogram follows the rows (it is asked for once they arrive).
    page.wait_for_function("() => Number(document.querySelector('.histogram')?.dataset.total) > 0")
    total_before = int(page.locator(".histogram").get_attribute("data-total") or 0)
    assert total_before >= 300
    box = page.locator(".histogram .u-over").bounding_box()
    assert box is not None
    y = box["y"] + box["height"] / 2
    page.mouse.move(box["x"] + box["width"] * 0.40, y)
    page.mouse.down()
    page.mouse.move(box["x"] + box["width"] * 0.55, y, steps=8)
    page.mouse.up()
    page.wait_for_function("() => /^\\d{4}-/.test(new URLSearchParams(location.search).get('start') || '')")
    params = url_params(page)
    assert params["start"] < params["end"]
    page.wait_for_function(f"() => Number(document.querySelector('.histogram')?.dataset.total || 0) < {total_before}")
    wait_hits(page)
    assert "→" in page.locator(".tp-button").inner_text()

    # A click on a bar narrows the range to that one bucket.
    page = console.open("start=now-1h")
    wait_hits(page)
    page.wait_for_function("() => Number(document.querySelector('.histogram')?.dataset.interval) > 0")
    interval = int(page.locator(".histogram").get_attribute("data-interval") or 0)
    box = page.locator(".histogram .u-over").bounding_box()
    assert box is not None
    page.mouse.click(box["x"] + box["width"] * 0.5, box["y"] + box["height"] - 3)
    page.wait_for_function("() => /^\\d{4}-/.test(new URLSearchParams(location.search).get('start') || '')")
    params = url_params(page)
    span = datetime.fromisoformat(params["end"]) - datetime.fromisoformat(params["start"])
    assert span.total_seconds() == interval > 0


def test_expanded_row_opens_the_lines_around_it_and_its_trace(console: ConsolePage) -> None:
    page = console.open(f"q=trace_id:{TRACE_ID}&start=now-1h")
    wait_hits(page)
    assert len(column(page, "message")) == 3
    page.locator(".hits .hit").first.click()
    detail = page.locator(".detail")
    assert TRACE_ID in detail.locator("pre.json").inner_text()
    console.shot("discover-expanded-light")

    detail.locator(".trace-button").click()
    dialog = page.locator("dialog.modal")
    dialog.locator(".trace-summary").wait_for()
    assert "3 lines" in dialog.locator(".trace-summary").inner_text()
    assert dialog.locator(".line-list li").count() == 3
    console.shot("discover-trace-light")
    page.keyboard.press("Escape")
    dialog.wait_for(state="detached")

    detail.locator(".context-button").click()
    dialog = page.locator("dialog.modal")
    dialog.locator(".line-list li.anchor").wait_for()
    assert dialog.locator(".line-list li.anchor").count() == 1
    page.keyboard.press("Escape")
    dialog.wait_for(state="detached")
    # Esc also closes the expanded row.
    page.keyboard.press("Escape")
    assert page.locator(".detail").count() == 0


def test_context_of_a_busy_host_shows_neighbours(console: ConsolePage) -> None:
    page = console.open("q=service:checkout host:web-0&start=now-1h")
    wait_hits(page)
    page.locator(".hits .hit").nth(5).click()
    page.locator(".detail .context-button").click()
    dialog = page.locator("dialog.modal")
    dialog.locator(".line-list li.anchor").wait_for()
    assert dialog.locator(".line-list li").count() > 5
    console.shot("discover-context-light")


def test_live_mode_shows_a_newly_ingested_line(console: ConsolePage, console_server: ServerProcess) -> None:
    page = console.open("q=livemarker&start=now-1h")
    wait_hits(page)
    page.locator(".live-button").click()
    page.wait_for_function("() => new URLSearchParams(location.search).get('live') === '1'")
    page.wait_for_function("() => document.querySelector('.result-status')?.textContent.startsWith('Live: new')")
    ingest(
        console_server.url,
        [
            {"ts": iso(now()), "service": "live-svc", "level": "warn", "message": "hello livemarker one"},
            {"ts": iso(now()), "service": "live-svc", "level": "info", "message": "not this one"},
        ],
    )
    row = page.locator(".hits .hit", has_text="hello livemarker one")
    row.wait_for(timeout=10_000)
    assert row.locator("mark").inner_text() == "livemarker"
    assert page.locator(".hits .hit", has_text="not this one").count() == 0
    assert page.locator(".live-bar").inner_text().split() == ["●", "1", "lines", "Pause"]
    assert page.locator(".histogram").is_hidden()
    console.shot("discover-live-light")

    page.locator(".pause-button").click()
    ingest(console_server.url, [{"ts": iso(now()), "service": "live-svc", "message": "livemarker while paused"}])
    page.wait_for_function("() => document.querySelector('.live-held')?.textContent.includes('1 waiting')")
    assert page.locator(".hits .hit", has_text="while paused").count() == 0
    page.locator(".pause-button").click()
    page.locator(".hits .hit", has_text="while paused").wait_for()
    # Leaving live mode runs the search again.
    page.locator(".live-button").click()
    page.wait_for_function("() => !new URLSearchParams(location.search).has('live')")
    wait_hits(page)


def test_a_syntax_error_is_underlined_at_its_column(console: ConsolePage) -> None:
    page = console.open("start=now-1h")
    wait_hits(page)
    search = page.locator("[data-search]")
    search.fill("level:error | bogus")
    search.press("Enter")
    error = page.locator(".query-error")
    error.wait_for()
    assert error.locator(".error-at").inner_text() == "bogus"
    assert "unknown pipe 'bogus'" in error.locator(".error-message").inner_text()
    assert "column 15" in error.locator(".error-message").inner_text()
    console.shot("discover-syntax-error-light")
    search.press("End")
    search.type(" ")
    assert page.locator(".query-error").is_hidden()


def test_stats_render_as_a_table_and_a_chart(console: ConsolePage) -> None:
    page = console.open("q=" + "| stats count() by service".replace(" ", "+") + "&start=now-1h")
    page.locator(".stats-table").wait_for()
    rows = page.locator(".stats-table tbody tr").all_inner_texts()
    assert {r.split("\t")[0] for r in rows} >= {"checkout", "payment", "search"}
    assert page.locator(".stats-chart[data-kind='bars'] canvas").count() == 1
    console.shot("discover-stats-light")

    page = console.open("q=" + "| timechart span=5m count() by level".replace(" ", "+") + "&start=now-1h")
    page.locator(".stats-chart[data-kind='lines'] canvas").wait_for()


def test_completion_keyboard_and_columns(console: ConsolePage) -> None:
    page = console.open("start=now-1h")
    wait_hits(page)
    page.wait_for_function("() => document.querySelectorAll('.field').length > 3")
    page.locator("body").click(position={"x": 640, "y": 780})
    page.keyboard.press("/")
    search = page.locator("[data-search]")
    assert search.evaluate("el => el === document.activeElement")
    search.type("regi")
    page.locator(".completion-item", has_text="region").wait_for()
    search.press("Tab")
    assert search.input_value() == "region:"
    page.get_by_role("option", name="value eu", exact=True).wait_for()  # the field's top values follow
    search.press("ArrowDown")
    search.press("Enter")  # accepts the selected value
    assert re.fullmatch(r"region:(eu|us) ", search.input_value())
    search.type("| st")
    page.locator(".completion-item", has_text="stats").wait_for()
    page.keyboard.press("Escape")
    assert page.locator(".completion").is_hidden()

    search.fill("region:eu")
    search.press("Enter")
    wait_hits(page)
    page.locator(".field[data-field='region'] .column-toggle").click()
    page.wait_for_function("() => new URLSearchParams(location.search).get('cols') === 'region'")
    assert set(column(page, "extra")) == {"eu"}


def test_time_picker_preset_goes_into_the_url(console: ConsolePage) -> None:
    page = console.open("start=now-1h")
    wait_hits(page)
    page.locator(".tp-button").click()
    page.locator(".tp-preset[data-start='now-15m']").click()
    page.wait_for_function("() => new URLSearchParams(location.search).get('start') === 'now-15m'")
    wait_hits(page)
    assert page.locator(".tp-button").inner_text().startswith("Last 15 minutes")


def test_dark_theme_follows_the_system_and_the_toggle(browser: Any, console_server: ServerProcess) -> None:
    context = browser.new_context(viewport={"width": 1280, "height": 800}, color_scheme="dark")
    try:
        console = ConsolePage(context.new_page(), console_server.url)
        page = console.open("start=now-1h")
        wait_hits(page)
        background = "getComputedStyle(document.body).backgroundColor"
        dark = page.evaluate(background)
        assert dark != "rgb(255, 255, 255)"
        console.shot("discover-hits-dark")
        page.locator("#theme-toggle").click()
        assert page.evaluate(background) == "rgb(255, 255, 255)"
        page.locator("#theme-toggle").click()
        assert page.evaluate(background) == dark
        page.locator(".field[data-field='level'] .field-name").click()
        console.shot("discover-sidebar-dark")
        assert console.errors == []
    finally:
        context.close()


def test_a_saved_search_can_be_opened_again(console: ConsolePage) -> None:
    page = console.open("q=service:search level:warn&start=now-4h")
    wait_hits(page)
    page.locator(".saved summary").click()
    page.locator(".saved-name").fill("search warnings")
    page.locator(".saved-form button[type=submit]").click()
    page.locator(".saved-item", has_text="search warnings").wait_for()
    page.keyboard.press("Escape")

    page = console.open("start=now-1h")
    wait_hits(page)
    page.locator(".saved summary").click()
    page.locator(".saved-item", has_text="search warnings").click()
    page.wait_for_function("() => new URLSearchParams(location.search).get('q') === 'service:search level:warn'")
    assert url_params(page)["start"] == "now-4h"
    wait_hits(page)
    assert set(column(page, "level")) == {"WARN"}
