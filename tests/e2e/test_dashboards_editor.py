"""The panel editor for every panel source: a log-metric panel (function, labels, error %) and one of
logwarden's own figures are built in the browser, saved as such, and edited without losing their source."""

from __future__ import annotations

import pytest

from tests.e2e.conftest import ConsolePage
from tests.e2e.dashboards import new_dashboard, saved_panels

pytestmark = pytest.mark.slow


def test_metric_and_self_panels_are_built_saved_and_edited(console: ConsolePage) -> None:
    page = console.page
    dashboard_id = new_dashboard(console, "metric panels")

    page.locator(".db-add-panel").click()
    assert page.locator(".pe-query").is_visible() and page.locator(".pe-metric").is_hidden()
    page.locator(".pe-title").fill("Errors %")
    page.locator(".pe-source").select_option("metric")
    assert page.locator(".pe-query").is_hidden() and page.locator(".pe-metric").is_visible()
    # The metric names come from the server's definitions.
    page.wait_for_function(
        "() => [...document.querySelectorAll('#pe-metrics option')].some((o) => o.value === 'logs_total')"
    )
    page.locator(".pe-metric").fill("logs_total")
    page.locator(".pe-fn").select_option("rate")
    page.locator(".pe-by").fill("level")
    page.locator(".pe-transform").select_option("error_percent")
    page.locator(".pe-preview-button").click()
    page.wait_for_selector(".pe-preview .uplot")
    page.locator(".pe-save").click()
    page.wait_for_selector(".panel[aria-label='Errors %'][data-loaded='1'] .uplot")

    page.locator(".db-add-panel").click()
    page.locator(".pe-title").fill("Ingest")
    page.locator(".pe-viz").select_option("stat")
    page.locator(".pe-source").select_option("self")
    page.locator(".pe-figure").select_option("ingest_rate")
    page.locator(".pe-save").click()
    page.wait_for_selector(".panel[aria-label='Ingest'][data-source='self']")

    assert saved_panels(console, dashboard_id) == [
        {"title": "Errors %", "viz": "timeseries", "source": "metric", "width": 1, "metric": "logs_total",
         "fn": "rate", "by": ["level"], "transform": "error_percent"},
        {"title": "Ingest", "viz": "stat", "source": "self", "width": 1, "figure": "ingest_rate"},
    ]  # fmt: skip

    # Editing keeps the source and its settings: the fields open filled in.
    page.locator(".panel-edit[aria-label='Edit Errors %']").click()
    assert page.locator(".pe-source").input_value() == "metric"
    assert (page.locator(".pe-metric").input_value(), page.locator(".pe-by").input_value()) == ("logs_total", "level")
    assert page.locator(".pe-transform").input_value() == "error_percent"
    page.locator(".pe-fn").select_option("sum")
    page.locator(".pe-title").fill("Errors % (sum)")
    page.locator(".pe-save").click()
    page.wait_for_selector(".panel[aria-label='Errors % (sum)'][data-loaded='1']")
    edited = saved_panels(console, dashboard_id)[0]
    assert (edited["source"], edited["fn"], edited["by"], edited["transform"]) == (
        "metric",
        "sum",
        ["level"],
        "error_percent",
    )

    # A mistake is the API's message in the editor.
    page.locator(".db-add-panel").click()
    page.locator(".pe-title").fill("Broken")
    page.locator(".pe-source").select_option("metric")
    page.locator(".pe-metric").fill("logs_total")
    page.locator(".pe-by").fill("service")
    page.locator(".pe-transform").select_option("error_percent")
    page.locator(".pe-save").click()
    page.wait_for_function("() => document.querySelector('.pe-message').textContent.includes('level')")
    console.shot("dashboards-metric-editor-light")
