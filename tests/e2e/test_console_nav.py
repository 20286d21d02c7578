"""Navigation carries the time range: from Discover to Dashboards and back, through a page without a time picker
(Alerts), the links keep `start` and `end` (the query stays with Discover)."""

from __future__ import annotations

from urllib.parse import parse_qs, urlparse

import pytest

from tests.e2e.conftest import ConsolePage

pytestmark = pytest.mark.slow


def _params(url: str) -> dict[str, str]:
    return {k: v[0] for k, v in parse_qs(urlparse(url).query).items()}


def test_nav_links_carry_the_time_range_across_pages(console: ConsolePage) -> None:
    page = console.open("q=level:error&start=now-6h&end=now-1h")
    page.wait_for_function("() => document.querySelector('.result-status')?.textContent.includes(' ms')")
    page.click("#nav a[href^='/dashboards']")
    page.wait_for_url("**/dashboards?**")
    assert _params(page.url) | {"d": ""} == {"start": "now-6h", "end": "now-1h", "d": ""}
    # A page without a time picker: its links still carry the range last shown.
    page.click("#nav a[href='/alerts']")
    page.wait_for_url("**/alerts")
    page.click("#nav a[href^='/'][href*='start'], #nav a[href='/']")
    page.wait_for_url("**/?*")
    params = _params(page.url)
    assert (params["start"], params["end"]) == ("now-6h", "now-1h")
    assert "q" not in params  # the query belongs to the Discover address it was typed in
    # Keyboard activation follows the same address.
    page.focus("#nav a[href^='/dashboards']")
    assert "start=now-6h" in (page.get_attribute("#nav a[href^='/dashboards']", "href") or "")
