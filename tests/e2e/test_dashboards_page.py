"""Dashboards in headless Chromium against a real server: the built-in Overview draws its panels from the log
metrics, the alerts and the server's own figures; a user dashboard is built, saved, reloaded; a click on a
point opens Discover for that bucket. Screenshots (light and dark) go to tests/e2e/screenshots/."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from tests.conftest import ServerProcess
from tests.e2e.conftest import VIEWPORT, ConsolePage
from tests.e2e.dashboards import new_dashboard, url_params, wait_drawn

pytestmark = pytest.mark.slow


@pytest.fixture(params=["light", "dark"])
def themed(request: pytest.FixtureRequest, browser: Any, console_server: ServerProcess) -> Iterator[ConsolePage]:
    context = browser.new_context(viewport=VIEWPORT, color_scheme=request.param)
    page = ConsolePage(context.new_page(), console_server.url)
    page.theme = request.param  # type: ignore[attr-defined]
    try:
        yield page
        assert [e for e in page.errors if "status of 400" not in e] == []
    finally:
        context.close()


def test_the_overview_renders_every_panel_with_data(themed: ConsolePage) -> None:
    page = themed.page
    page.goto(themed.base_url + "/dashboards")
    page.wait_for_function("() => new URLSearchParams(location.search).get('d') === 'overview'")
    assert url_params(page)["start"] == "now-1h"
    # The log metrics commit every second: the volume panels read series, so wait for them to hold points.
    for _ in range(20):
        wait_drawn(page)
        if page.locator(".panel[aria-label='Log volume by service'] .uplot").count():
            break
        page.wait_for_timeout(500)
        page.locator(".db-refresh-now").click()
    assert [e for e in page.locator(".panel[data-loaded='error']").all_inner_texts()] == []
    volume = page.locator(".panel[aria-label='Log volume by service']")
    assert volume.locator(".uplot canvas").count() == 1
    # One line per service of the generated data, named in the legend.
    legend = " ".join(volume.locator(".u-legend .u-series").all_inner_texts())
    assert all(service in legend for service in ("checkout", "payment"))
    assert page.locator(".panel[aria-label='Log volume by level'] .uplot").count() == 1
    assert page.locator(".panel[aria-label='Error rate %'] .uplot").count() == 1
    bars = page.locator(".panel[aria-label='Top 10 error services'] .panel-bars li")
    assert bars.count() >= 1
    assert page.locator(".panel[aria-label='Alerts by severity'] .panel-body").inner_text().strip()
    # logwarden's own ingest rate: sampled from /metrics by the page (a second sample comes a second later).
    page.wait_for_selector(".panel[aria-label='Ingest rate (lines/s)'] .uplot")
    lag = page.locator(".panel[aria-label='Applier lag (bytes)'] .stat-value").inner_text()
    assert lag.replace(",", "").isdigit()
    # The Overview is read-only: no panel editing, but a copy can be saved.
    assert page.locator(".db-add-panel").is_hidden() and page.locator(".db-copy").is_visible()
    themed.shot(f"dashboards-overview-{themed.theme}")  # type: ignore[attr-defined]

    # A bar opens Discover with that service's errors, over the same range.
    first = bars.first.locator(".bar-label").inner_text()
    bars.first.click()
    page.wait_for_url("**/?*")
    params = url_params(page)
    assert params["q"] == f'level:(ERROR OR FATAL) service:"{first}"' and params["start"] == "now-1h"


def test_build_a_panel_save_reload_and_open_a_bucket_in_discover(console: ConsolePage) -> None:
    page = console.page
    dashboard_id = new_dashboard(console, "checkout team")

    page.locator(".db-add-panel").click()
    page.locator(".pe-title").fill("Lines per level")
    page.locator(".pe-viz").select_option("timeseries")
    page.locator(".pe-width").select_option("2")
    page.locator(".pe-query").fill("| timechart span=5m count() by level")
    page.locator(".pe-preview-button").click()
    page.wait_for_selector(".pe-preview .uplot")
    page.locator(".pe-save").click()
    page.wait_for_selector(".panel[aria-label='Lines per level'][data-loaded='1'] .uplot")

    page.locator(".db-add-panel").click()
    page.locator(".pe-title").fill("Share by service")
    page.locator(".pe-viz").select_option("pie")
    page.locator(".pe-query").fill("| stats count() by service")
    page.locator(".pe-save").click()
    page.wait_for_selector(".panel[aria-label='Share by service'] .pie-slice")

    page.reload()
    wait_drawn(page)
    assert url_params(page)["d"] == dashboard_id
    assert page.locator(".panel h3").all_inner_texts() == ["Lines per level", "Share by service"]
    assert page.locator(".panel[aria-label='Lines per level']").get_attribute("class") == "panel span-2"
    assert page.locator(".panel[aria-label='Share by service'] .pie-legend li").count() == 3
    console.shot("dashboards-custom-light")
    # Auto-refresh is in the address too, and redraws in place.
    page.locator(".db-refresh").select_option("10s")
    page.wait_for_function("() => new URLSearchParams(location.search).get('refresh') === '10s'")
    before = page.locator(".db-status").inner_text()
    page.wait_for_function(f"() => document.querySelector('.db-status').textContent !== {before!r}", timeout=20_000)
    assert page.locator(".panel[aria-label='Lines per level'] .uplot").count() == 1

    # A point of the time series: Discover for that 5-minute bucket, absolute bounds.
    plot = page.locator(".panel[aria-label='Lines per level'] .u-over")
    box = plot.bounding_box()
    assert box is not None
    page.mouse.move(box["x"] + box["width"] * 0.9, box["y"] + box["height"] / 2)
    page.mouse.click(box["x"] + box["width"] * 0.9, box["y"] + box["height"] / 2)
    page.wait_for_url("**/?*")
    params = url_params(page)
    assert "q" not in params
    from datetime import datetime

    start, end = (datetime.fromisoformat(params[k].replace("Z", "+00:00")) for k in ("start", "end"))
    assert (end - start).total_seconds() == 300 and start.timestamp() % 300 == 0
