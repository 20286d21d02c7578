"""The Silences page in a real browser: active, pending and expired silences; create one (the API's message on
a bad matcher), expire one, and land on a silence from an alert's "muted by" link."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from tests.e2e.alerting_console import AlertingServer, alerting_server, console_page

pytestmark = pytest.mark.slow  # real servers and a real browser


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[AlertingServer]:
    with alerting_server(tmp_path_factory.mktemp("silences-page")) as s:
        yield s


def test_create_a_silence_then_expire_it(browser: Any, server: AlertingServer) -> None:
    with console_page(browser, server) as console:
        page = console.page
        page.goto(server.url + "/silences")
        page.wait_for_selector(".al-body[data-loaded='1']")
        assert page.locator(".sl-card").count() == 0
        page.click(".sl-new")
        page.fill("dialog[open] .sl-matchers", 'service="search"\nhost=~"web-[0-9]+')  # unclosed quote
        page.click("dialog[open] .sl-preset[data-duration='1d']")
        page.fill("dialog[open] .sl-comment", "reindexing")
        page.click("dialog[open] button[type=submit]")
        error = page.locator("dialog[open] .sl-error")
        error.wait_for()
        page.wait_for_function("document.querySelector('dialog[open] .sl-error').textContent.includes('matchers')")
        page.fill("dialog[open] .sl-matchers", 'service="search"\nhost=~"web-[0-9]+"')
        page.click("dialog[open] button[type=submit]")
        active = page.locator(".sl-section-active .sl-card")
        active.wait_for()
        assert page.locator("dialog[open]").count() == 0
        text = active.text_content()
        assert 'service="search"' in text and 'host=~"web-[0-9]+"' in text and "reindexing" in text
        made = server.get("/api/v1/silences", state="active")["silences"]
        assert [m["type"] for m in made[0]["matchers"]] == ["=", "=~"]

        # One that starts tomorrow is pending.
        server.post(
            "/api/v1/silences",
            {"matchers": ['service="payment"'], "starts_at": "now+1d", "duration": "1h", "created_by": "ana",
             "comment": "planned maintenance"},
        )  # fmt: skip
        page.reload()
        pending = page.locator(".sl-section-pending .sl-card")
        pending.wait_for()
        assert "planned maintenance" in pending.text_content()
        console.shot("silences-light")

        active.locator(".sl-expire").click()
        expired = page.locator(".sl-section-expired .sl-card", has_text="reindexing")
        expired.wait_for()
        assert page.locator(".sl-section-active .sl-card").count() == 0
        assert server.get("/api/v1/silences", state="active")["silences"] == []
        assert expired.locator(".sl-expire").count() == 0  # an expired silence has nothing left to expire


def test_a_link_to_one_silence_marks_it(browser: Any, server: AlertingServer) -> None:
    made = server.post(
        "/api/v1/silences",
        {"matchers": ['alertname="linked"'], "duration": "2h", "created_by": "ana", "comment": "linked one"},
    )
    with console_page(browser, server) as console:
        page = console.page
        page.goto(server.url + f"/silences#silence-{made['id']}")
        target = page.locator(f"#silence-{made['id']}")
        target.wait_for()
        assert "sl-target" in (target.get_attribute("class") or "")


@pytest.mark.parametrize("scheme", ["light", "dark"])
def test_screenshots(browser: Any, server: AlertingServer, scheme: str) -> None:
    with console_page(browser, server, scheme) as console:
        page = console.page
        page.goto(server.url + "/silences")
        page.wait_for_selector(".al-body[data-loaded='1']")
        console.shot(f"silences-{scheme}")
