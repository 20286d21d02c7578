"""The Patterns page in a real browser, on a real server with mining on: templates with counts, sparklines,
level mix and samples; hiding a pattern opens Discover with `-pattern:<id>`; "alert me on new patterns" makes a
`type: pattern` rule through the API (and says so when it exists); the explain panel ranks a planted bad host."""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.conftest import ServerProcess
from tests.e2e.conftest import VIEWPORT, ConsolePage
from tests.e2e.data import generated_lines, ingest, iso, now

pytestmark = pytest.mark.slow  # a real server and a real browser


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    """Mining on; the generated lines plus, in the last ten minutes, a burst of disk errors on host web-7."""
    proc = ServerProcess(
        Path(tmp_path_factory.mktemp("patterns-page")) / "data", env={"LOGWARDEN_PATTERNS__ENABLED": "true"}
    )
    try:
        proc.wait_ready()
        at = now()
        burst = [
            {
                "ts": iso(at - timedelta(minutes=9) + timedelta(seconds=15 * i)),
                "service": "search",
                "host": "web-7",
                "level": "error",
                "message": f"disk /var/lib/search/shard{i} is full",
            }
            for i in range(30)
        ]
        ingest(proc.url, [*generated_lines(at), *burst])
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:  # the recorder commits every couple of seconds
            found = httpx.get(proc.url + "/api/v1/patterns", params={"start": "now-1h"}).json()["patterns"]
            if any("disk" in p["template"] for p in found):
                break
            time.sleep(0.2)
        yield proc
    finally:
        proc.close()


@pytest.fixture
def console(browser: Any, server: ServerProcess) -> Iterator[ConsolePage]:
    context = browser.new_context(viewport=VIEWPORT, color_scheme="light")
    page = ConsolePage(context.new_page(), server.url)
    try:
        yield page
        assert page.errors == []
    finally:
        context.close()


def until(check: Any, timeout: float = 10) -> None:
    """Wait for `check()` (the page's CSP refuses Playwright's string predicates: they are eval'd)."""
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.05)


def loaded(page: Any, url: str) -> None:
    page.goto(url)
    page.wait_for_selector(".pt-page[data-loaded='1']")


def test_patterns_with_counts_trends_and_samples_and_hide_in_discover(
    console: ConsolePage, server: ServerProcess
) -> None:
    page = console.page
    loaded(page, server.url + "/patterns?start=now-1h")
    rows = page.locator(".pt-row")
    assert rows.count() >= 4
    templates = [t.strip() for t in page.locator(".pt-row .pt-template").all_text_contents()]
    assert "request <num> handled in <num> ms" in templates
    assert any(t.startswith("disk <path>") for t in templates)
    first = rows.first
    assert int(first.locator(".pt-count").text_content().replace(",", "")) >= 100  # most lines first
    assert first.locator("svg.pt-spark polyline").count() == 1
    assert "INFO" in first.locator(".pt-levels").text_content()
    first.locator("summary").click()
    assert first.locator(".pt-samples li").count() >= 1
    assert page.locator("a[href='/patterns']").count() == 1  # in the navigation

    # The service filter narrows the list and is kept in the URL.
    page.fill(".pt-service", "search")
    page.press(".pt-service", "Enter")
    page.wait_for_url("**/patterns?service=search*")
    cells = page.locator(".pt-row td:nth-child(2)")
    until(lambda: {s.strip() for s in cells.all_text_contents()} == {"search"})

    # Hide the disk errors in Discover: the page keeps the id, Discover gets `-pattern:<id>`.
    disk = page.locator(".pt-row", has_text="disk <path>")
    pattern_id = disk.get_attribute("data-id")
    disk.locator(".pt-hide").click()
    assert f"hide={pattern_id}" in page.url and "pt-hidden" in (disk.get_attribute("class") or "")
    console.shot("patterns-light")
    page.click(".pt-discover-hidden")
    page.wait_for_url("**/?q=*")
    assert page.locator("[data-search]").input_value() == f"-pattern:{pattern_id}"


def test_alert_me_on_new_patterns_makes_a_pattern_rule(console: ConsolePage, server: ServerProcess) -> None:
    page = console.page
    loaded(page, server.url + "/patterns?start=now-1h&service=checkout")
    page.click(".pt-alert")
    page.wait_for_selector(".pt-alert-outcome a")
    assert page.text_content(".pt-alert-outcome") == "Rule new-pattern-checkout-warn made."
    rules = httpx.get(server.url + "/api/v1/rules").json()["rules"]
    (made,) = [r for r in rules if r["name"] == "new-pattern-checkout-warn"]
    assert made["rule"]["type"] == "pattern" and made["rule"]["match"] == "new"
    assert made["rule"]["service"] == "checkout" and made["rule"]["min_level"] == "WARN"
    page.click(".pt-alert")
    until(lambda: "exists already" in (page.text_content(".pt-alert-outcome") or ""))
    console.errors = [e for e in console.errors if "status of 409" not in e]  # the browser logs the 409 it asked for


def test_the_explain_panel_ranks_the_bad_host_first(console: ConsolePage, server: ServerProcess) -> None:
    page = console.page
    loaded(page, server.url + "/patterns?start=now-15m")
    page.click(".pt-explain summary")
    page.wait_for_selector(".pt-explanation")
    first = page.locator(".pt-explanation").first.locator("td").all_text_contents()
    assert first[:2] == ["host", "web-7"] or (first[0] == "pattern_id" and first[1].startswith("disk <path>"))
    values = page.locator(".pt-explanation td:nth-child(2)").all_text_contents()
    assert "web-7" in values
    console.shot("patterns-explain-light")


def test_discover_has_a_patterns_tab(console: ConsolePage, server: ServerProcess) -> None:
    page = console.page
    page.goto(server.url + "/?q=service:search&start=now-1h")
    page.wait_for_selector(".hits-body")
    assert page.get_attribute(".dt-lines", "aria-selected") == "true"
    page.click(".dt-patterns")
    page.wait_for_selector(".stats-table")
    assert page.locator("[data-search]").input_value() == "service:search | patterns 50"
    assert page.get_attribute(".dt-patterns", "aria-selected") == "true"
    table = page.text_content(".stats-table") or ""
    assert "disk <path> is full" in table and "request <num> handled in <num> ms" in table
    console.shot("discover-patterns-tab-light")
    page.click(".dt-lines")
    page.wait_for_selector(".hits-body")
    assert page.locator("[data-search]").input_value() == "service:search"
    page.goto(server.url + "/?q=" + "* | stats count() by host".replace(" ", "+") + "&start=now-1h")
    page.wait_for_selector(".stats-table")
    assert page.locator(".dt-tabs").is_hidden()  # other pipes: no patterns tab
