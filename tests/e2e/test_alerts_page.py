"""The Alerts page in a real browser: a firing alert's group card with its evidence linking into Discover, Ack with
a comment, the History timeline (pending → firing → notified → acknowledged), and "Silence…" from the card with
the alert's labels pre-filled (the silence then listed on /silences)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest

from tests.e2e.alerting_console import AlertingServer, alerting_server, console_page, error_burst, firing, wait_until
from tests.e2e.data import ingest, now

pytestmark = pytest.mark.slow  # real servers and a real browser

RULE = "payment-declines"


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[AlertingServer]:
    with alerting_server(tmp_path_factory.mktemp("alerts-page")) as s:
        rule = {
            "name": RULE,
            "type": "threshold",
            "query": "level:error service:payment",
            "group_by": ["service"],
            "window": "1m",
            "threshold": 3,
            "severity": "critical",
        }
        s.post("/api/v1/rules", {"group": "e2e", "rule": rule})
        ingest(s.url, error_burst("payment", 6, now(), "burst"))
        wait_until(lambda: firing(s, RULE), "the rule to fire")
        s.hook.wait_for(1)  # the webhook was notified: the history has a delivery
        yield s


def card(page: Any) -> Any:
    found = page.locator(".al-section-firing .al-card", has_text=RULE)
    found.wait_for()
    return found


def test_a_firing_alert_is_a_group_card_with_evidence_into_discover(browser: Any, server: AlertingServer) -> None:
    with console_page(browser, server) as console:
        page = console.page
        page.goto(server.url + "/alerts")
        group = card(page)
        head = group.locator(".al-card-head").text_content()
        assert "critical" in head and "alertname=payment-declines" in head and "service=payment" in head
        assert "→ hook" in head  # grouped as the router groups it (group_by alertname, service)
        assert "value 6 · threshold 3 in 1m" in group.locator(".al-value").text_content()
        # The sparkline: the group's lines per 1m window over the last hour, the burst's 6 at its peak, the
        # threshold dashed.
        spark = group.locator(".al-spark[data-points]")
        spark.wait_for()
        assert 60 <= int(spark.get_attribute("data-points") or 0) <= 70  # the histogram rounds its bounds out
        assert spark.get_attribute("data-peak") == "6"
        assert spark.locator(".al-spark-threshold").count() == 1
        assert "per 1m" in spark.text_content()
        links = group.locator(".al-evidence-link")
        assert links.count() == 3  # the three most recent lines
        href = links.first.get_attribute("href")
        params = parse_qs(urlsplit(href).query)
        assert "service:payment" in params["q"][0] and params["start"] and params["end"]
        links.first.click()
        page.wait_for_url("**/?q=*")
        page.wait_for_selector(".hit")
        assert "burst payment declined" in page.text_content(".hits-body")  # the evidence lines, in Discover


def test_ack_with_a_comment_then_the_history_timeline(browser: Any, server: AlertingServer) -> None:
    with console_page(browser, server) as console:
        page = console.page
        page.goto(server.url + "/alerts")
        card(page).locator(".al-ack").click()
        page.fill(".al-ack-comment", "card declines: looking into the gateway")
        page.click("dialog[open] button[type=submit]")
        acked = card(page).locator(".al-acked")
        acked.wait_for()
        assert "acked by console" in acked.text_content() and "looking into the gateway" in acked.text_content()
        assert card(page).locator(".al-ack").count() == 0
        alert = firing(server, RULE)[0]
        assert alert["acked"]["comment"] == "card declines: looking into the gateway"

        card(page).locator(".al-history").click()
        steps = page.locator("dialog[open] .al-step")
        steps.nth(3).wait_for()
        kinds = [c.split("al-step-")[1] for c in steps.evaluate_all("els => els.map(e => e.className)")]
        assert kinds[:2] == ["pending", "firing"]
        assert "notified" in kinds and "acknowledged" in kinds
        assert kinds.index("acknowledged") > kinds.index("firing")
        text = page.text_content("dialog[open] .al-timeline")
        assert "notified hook via webhook: delivered 200" in text
        console.shot("alerts-history-light")
        page.keyboard.press("Escape")
        assert page.locator("dialog[open]").count() == 0


def test_silence_from_the_card_with_matchers_prefilled(browser: Any, server: AlertingServer) -> None:
    with console_page(browser, server) as console:
        page = console.page
        page.goto(server.url + "/alerts")
        card(page).locator(".al-silence").click()
        matchers = page.input_value("dialog[open] .sl-matchers").splitlines()
        assert sorted(matchers) == ['alertname="payment-declines"', 'service="payment"']
        page.click("dialog[open] .sl-preset[data-duration='4h']")
        page.fill("dialog[open] .sl-comment", "gateway maintenance")
        page.click("dialog[open] button[type=submit]")
        muted = card(page).locator(".al-muted")
        muted.wait_for()
        silences = server.get("/api/v1/silences", state="active")["silences"]
        assert len(silences) == 1 and silences[0]["comment"] == "gateway maintenance"
        ends, starts = (datetime.fromisoformat(silences[0][k]) for k in ("ends_at", "starts_at"))
        hours = (ends - starts).total_seconds() / 3600
        assert hours == pytest.approx(4)
        page.click("#nav >> text=Silences")
        listed = page.locator(".sl-section-active .sl-card")
        listed.wait_for()
        assert 'alertname="payment-declines"' in listed.text_content()


def test_pending_and_resolved_alerts_have_their_sections(browser: Any, server: AlertingServer) -> None:
    base = {"type": "threshold", "group_by": ["service"], "threshold": 0, "max_delay": "0s"}
    slow = {"name": "search-slow-burn", "query": "level:error service:search", "window": "1m", "for": "1h"}
    short = {"name": "search-blip", "query": "blip", "window": "1s"}
    for spec in (slow, short):
        server.post("/api/v1/rules", {"group": "e2e", "rule": {**base, **spec}})
    ingest(
        server.url, [{**line, "message": "blip " + line["message"]} for line in error_burst("search", 2, now(), "b")]
    )
    # The blip leaves its 1 s window at once: fired, then resolved on the engine's idle tick.
    wait_until(
        lambda: server.get("/api/v1/alerts/history", rule="search-blip", status="resolved")["transitions"],
        "the blip to resolve",
    )
    with console_page(browser, server) as console:
        page = console.page
        page.goto(server.url + "/alerts")
        pending = page.locator(".al-section-pending .al-card", has_text="search-slow-burn")
        pending.wait_for()
        assert "pending" in pending.locator(".al-state").text_content()
        assert pending.locator(".al-ack").count() == 0  # only firing alerts are acknowledged
        resolved = page.locator(".al-section-resolved .al-card", has_text="search-blip")
        resolved.wait_for()
        assert "resolved" in resolved.locator(".al-alert-head").text_content()
        assert resolved.locator(".al-silence").count() == 0 and resolved.locator(".al-history").count() == 1
        assert page.locator(".al-section-firing .al-card", has_text="search-blip").count() == 0


@pytest.mark.parametrize("scheme", ["light", "dark"])
def test_screenshots(browser: Any, server: AlertingServer, scheme: str) -> None:
    with console_page(browser, server, scheme) as console:
        page = console.page
        page.goto(server.url + "/alerts")
        card(page)
        console.shot(f"alerts-{scheme}")
