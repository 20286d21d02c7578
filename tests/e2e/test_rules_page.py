"""The Rules page in a real browser: the list, the editor's validation next to each field, the backtest preview
(a plot and a count, before saving), saving, and the saved rule firing on the Alerts page."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import httpx
import pytest

from tests.e2e.alerting_console import AlertingServer, alerting_server, console_page, error_burst, firing, wait_until
from tests.e2e.data import ingest, now

pytestmark = pytest.mark.slow  # real servers and a real browser


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[AlertingServer]:
    with alerting_server(tmp_path_factory.mktemp("rules-page")) as s:
        # One burst of 5 checkout errors 3 hours ago: a rule "more than 3 in 1m" would have fired once.
        ingest(s.url, error_burst("checkout", 5, now() - timedelta(hours=3), "past-burst"))
        yield s


def fill_rule(page: Any, *, name: str, query: str, threshold: str) -> None:
    page.fill("#rl-name", name)
    page.fill("#rl-query", query)
    page.fill("#rl-group_by", "service")
    page.fill("#rl-window", "1m")
    page.fill("#rl-threshold", threshold)
    page.select_option("#rl-severity", "critical")


def test_validation_messages_sit_next_to_their_fields(browser: Any, server: AlertingServer) -> None:
    with console_page(browser, server) as console:
        page = console.page
        page.goto(server.url + "/rules?new=1")
        fill_rule(page, name="broken-rule", query="level:(", threshold="lots")
        page.click(".rl-save")
        page.wait_for_function("document.querySelector('#rl-threshold-problem').textContent.length > 0")
        assert "threshold" in page.text_content("#rl-threshold-problem")
        assert "column" in page.text_content("#rl-query-problem")  # the query's syntax error, with its position
        assert page.get_attribute("#rl-threshold", "aria-invalid") == "true"
        assert page.text_content("#rl-window-problem") == ""
    assert httpx.get(server.url + "/api/v1/rules/broken-rule").status_code == 404  # nothing saved


def test_create_preview_save_and_see_it_fire(browser: Any, server: AlertingServer) -> None:
    with console_page(browser, server) as console:
        page = console.page
        page.goto(server.url + "/rules")
        page.wait_for_selector(".rl-page[data-loaded='list']")
        page.click("text=New rule")
        page.wait_for_selector("#rl-name")
        assert page.url.endswith("/rules?new=1")
        fill_rule(page, name="checkout-burst", query="level:error service:checkout", threshold="3")
        page.click(".rl-preview-button")
        page.wait_for_selector(".rl-preview[data-state='done']", timeout=30000)
        assert page.locator(".rl-plot canvas").count() == 1  # the value line, the threshold and the bands
        summary = page.text_content(".rl-summary")
        assert re.search(r"Would have fired 1 time in 24 h, longest \d+", summary), summary
        assert page.get_attribute(".rl-plot", "data-bands") == "1"
        # The line is the rule's value from the replay (the count in its 1m window), not the matching lines per
        # bucket: the burst's 5 errors at its peak, for the one group that fired.
        assert page.get_attribute(".rl-plot", "data-series") == "1"
        assert page.get_attribute(".rl-plot", "data-peak") == "5"
        assert "rule's value" in page.text_content(".rl-note")
        assert "threshold > 3" in page.text_content(".rl-plot .u-legend")
        assert httpx.get(server.url + "/api/v1/rules/checkout-burst").status_code == 404  # previewed, not saved
        console.shot("rule-editor-light")
        page.click(".rl-save")
        page.wait_for_selector("text=Created checkout-burst.")
        assert page.url.endswith("/rules?rule=checkout-burst")
        saved = server.get("/api/v1/rules/checkout-burst")["rule"]
        assert saved["query"] == "level:error service:checkout" and saved["threshold"] == 3
        assert saved["group_by"] == ["service"] and saved["severity"] == "critical"

        ingest(server.url, error_burst("checkout", 5, now(), "live-burst"))
        wait_until(lambda: firing(server, "checkout-burst"), "the saved rule to fire")
        page.goto(server.url + "/rules")
        row = page.locator("tr[data-rule='checkout-burst']")
        row.wait_for()
        assert "firing" in row.text_content()
        assert row.locator(".rl-evaluated").text_content().endswith("ago")  # the engine's last evaluation
        page.goto(server.url + "/alerts")
        card = page.locator(".al-section-firing .al-card", has_text="checkout-burst")
        card.wait_for()
        assert "critical" in card.text_content() and "service=checkout" in card.text_content()


def test_edit_a_saved_rule(browser: Any, server: AlertingServer) -> None:
    rule = {"name": "to-edit", "type": "threshold", "query": "level:warn", "window": "5m", "threshold": 50}
    server.post("/api/v1/rules", {"group": "e2e", "rule": {**rule, "labels": {"team": "web"}}})
    with console_page(browser, server) as console:
        page = console.page
        page.goto(server.url + "/rules")
        page.click("tr[data-rule='to-edit'] a")
        page.wait_for_selector(".rl-page[data-loaded='editor']")
        assert page.url.endswith("/rules?rule=to-edit")
        assert page.is_disabled("#rl-name") and page.input_value("#rl-threshold") == "50"
        assert '"team": "web"' in page.input_value("#rl-extra")  # settings without a field of their own
        page.fill("#rl-threshold", "80")
        page.press("#rl-threshold", "Enter")  # the keyboard submits the form
        page.wait_for_selector("text=Saved to-edit.")
        saved = server.get("/api/v1/rules/to-edit")["rule"]
        assert saved["threshold"] == 80 and saved["labels"] == {"team": "web"} and saved["window"] == "5m"
        page.go_back()
        page.wait_for_selector("tr[data-rule='to-edit']")  # back to the list


@pytest.mark.parametrize("scheme", ["light", "dark"])
def test_screenshots(browser: Any, server: AlertingServer, scheme: str) -> None:
    with console_page(browser, server, scheme) as console:
        page = console.page
        page.goto(server.url + "/rules")
        page.wait_for_selector(".rl-page[data-loaded='list']")
        console.shot(f"rules-{scheme}")
        page.goto(server.url + "/rules?new=1")
        fill_rule(page, name="screenshot-rule", query="level:error service:checkout", threshold="3")
        page.click(".rl-preview-button")
        page.wait_for_selector(".rl-preview[data-state='done']", timeout=30000)
        console.shot(f"rule-editor-{scheme}")
