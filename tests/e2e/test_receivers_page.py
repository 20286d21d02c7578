"""The Receivers page in a real browser (reached from Alerts): the tenant's receivers with their integrations and
whether they are the config file's, "Test" through one, and the editor of the tenant's own alerting config — the
API's 400 shown under it (a kept secret with nothing stored, an internal address), Save, Revert to default; with
authentication on, a viewer sees the receivers but no Test, editor or Save (and the server refuses its PUT)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from tests.e2e.alerting_console import AlertingServer, alerting_server, console_page
from tests.e2e.conftest import AuthConsoleServer
from tests.e2e.test_login import logged_in

pytestmark = pytest.mark.slow  # a real server and a real browser

OWN = """\
route: {receiver: team, group_wait: 10s}
receivers:
  - name: team
    webhook: {url: 'https://hooks.example.invalid/team'}
"""


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[AlertingServer]:
    with alerting_server(tmp_path_factory.mktemp("receivers-page")) as s:
        yield s


def save(page: Any, text: str) -> str:
    """Put `text` in the editor, press Save, and return the message shown under it."""
    message = page.locator(".rc-edit .rc-message")
    message.evaluate("el => { el.textContent = '' }")
    page.locator(".rc-editor").fill(text)
    page.locator(".rc-save").click()
    page.wait_for_function("() => document.querySelector('.rc-edit .rc-message').textContent !== ''")
    return str(message.text_content())


def test_receivers_are_listed_tested_and_the_tenants_config_edited(browser: Any, server: AlertingServer) -> None:
    with console_page(browser, server) as console:
        page = console.page
        page.goto(server.url + "/alerts")
        page.locator("a.al-receivers-link").click()
        page.wait_for_url("**/receivers")
        page.locator(".rc-list[data-loaded='1']").wait_for()
        assert "uses the config file's alerting config" in str(page.locator(".rc-source").text_content())
        row = page.locator("tr[data-receiver='hook']")
        assert row.locator("td").nth(1).text_content() == "webhook[0]"
        assert str(row.locator("code").text_content()).endswith("/hook")
        # Test: a sample alert through the file's receiver, each integration's answer shown in its row.
        sent = len(server.hook.requests)
        row.locator(".rc-test").click()
        page.locator(".rc-result", has_text="webhook[0]: delivered (200)").wait_for()
        assert len(server.hook.requests) == sent + 1
        # The editor shows the effective config (the file's, secrets as the marker): sent back as it is, the
        # marker has no stored secret to keep, and the API's message shows under the editor.
        assert "**********" in page.locator(".rc-editor").input_value()
        assert "keeps the stored secret, but the tenant's stored config has no such receiver" in save(
            page, page.locator(".rc-editor").input_value()
        )
        assert "is a loopback address" in save(page, OWN.replace("https://hooks.example.invalid", server.hook.url))
        assert page.locator(".rc-source").get_attribute("data-fallback") == "true"
        # A config of its own: saved, applied, listed; its Test reports the failure with the reason.
        assert save(page, OWN) == "Saved: version 1, applied now."
        assert "has its own alerting config: version 1" in str(page.locator(".rc-source").text_content())
        team = page.locator("tr[data-receiver='team']")
        assert "https://hooks.example.invalid/team" in str(team.locator("code").text_content())
        assert page.locator("tr[data-receiver='hook']").count() == 0
        team.locator(".rc-test").click()
        page.locator(".rc-result", has_text="webhook[0]: retriable").wait_for()
        assert "cannot resolve hooks.example.invalid" in str(team.locator(".rc-result").text_content())
        # Sent back as shown (the URL as the marker), the stored secret is kept: a new version, the same URL.
        assert save(page, page.locator(".rc-editor").input_value()) == "Saved: version 2, applied now."
        assert "https://hooks.example.invalid/team" in str(team.locator("code").text_content())
        console.shot("receivers-light")
        # Revert to default: the file's receivers again.
        page.locator(".rc-revert").click()
        page.locator(".rc-edit .rc-message", has_text="Reverted").wait_for()
        assert page.locator(".rc-source").get_attribute("data-fallback") == "true"
        page.locator("tr[data-receiver='hook']").wait_for()
        assert page.locator(".rc-revert").is_disabled()


def test_a_viewer_sees_the_receivers_but_no_test_editor_or_save(
    browser: Any, auth_console_server: AuthConsoleServer
) -> None:
    with logged_in(browser, auth_console_server, "ana") as admin:  # the admin gives tenant acme a receiver
        page = admin.goto("/receivers")
        page.locator(".rc-list[data-loaded='1']").wait_for()
        assert save(page, OWN) == "Saved: version 1, applied now."
        assert page.locator("tr[data-receiver='team'] .rc-test").is_visible()  # what the viewer must not see
    with logged_in(browser, auth_console_server, "vic", allowed=("status of 403",)) as viewer:
        page = viewer.goto("/receivers")
        page.locator(".rc-list[data-loaded='1']").wait_for()
        team = page.locator("tr[data-receiver='team']")
        assert team.locator("td").nth(1).text_content() == "webhook[0]"
        assert "https://hooks.example.invalid/team" in str(team.locator("code").text_content())
        assert "has its own alerting config: version 1" in str(page.locator(".rc-source").text_content())
        for hidden in (".rc-test", ".rc-edit", ".rc-editor", ".rc-save", ".rc-revert", ".rc-results"):
            assert page.locator(hidden).count() == 0, hidden
        assert "Test result" not in str(page.locator(".rc-table thead").text_content())
        viewer.shot("receivers-viewer-light")
        # The server refuses anyway (the page only hides what would fail).
        status = page.evaluate(
            "fetch('/api/v1/alerting/config', {method: 'PUT', headers: {'Content-Type': 'application/yaml', "
            "'X-CSRF-Token': decodeURIComponent(document.cookie.match(/lw_csrf=([^;]+)/)[1])}, "
            "body: 'route: {receiver: x}'}).then(r => r.status)"
        )
        assert status == 403
