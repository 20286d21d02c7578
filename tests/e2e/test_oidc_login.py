"""The console's "Sign in with <provider>" in headless Chromium: a real server configured with `auth.oidc`, the test's
OpenID provider on loopback (tests/unit/auth/test_oidc.py), and the browser's whole round trip."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import ServerProcess, free_port
from tests.unit.auth.test_oidc import CLIENT_ID, CLIENT_SECRET, Provider, serving

pytestmark = pytest.mark.slow


@pytest.fixture
def oidc_server(tmp_path: Path) -> Iterator[tuple[ServerProcess, Provider]]:
    # The provider listens first: a port picked before it started could be the ephemeral one it then took.
    with serving(Provider(user={"sub": "dora"})) as provider:
        port = free_port()
        callback = f"http://127.0.0.1:{port}/api/v1/auth/oidc/callback"
        provider.callback = callback
        env = {
            "LOGWARDEN_AUTH__ENABLED": "true",
            "LOGWARDEN_AUTH__OIDC__ISSUER": provider.issuer,
            "LOGWARDEN_AUTH__OIDC__CLIENT_ID": CLIENT_ID,
            "LOGWARDEN_AUTH__OIDC__CLIENT_SECRET": CLIENT_SECRET,
            "LOGWARDEN_AUTH__OIDC__REDIRECT_URL": callback,
            "LOGWARDEN_AUTH__OIDC__NAME": "TestIdP",
        }
        proc = ServerProcess(tmp_path / "data", env=env, port=port)
        try:
            proc.wait_ready()
            yield proc, provider
        finally:
            proc.close()


def test_sign_in_with_the_provider_lands_on_the_asked_page(
    browser: Any, oidc_server: tuple[ServerProcess, Any]
) -> None:
    proc, _ = oidc_server
    context = browser.new_context()
    try:
        page = context.new_page()
        page.goto(proc.url + "/alerts")  # not logged in: the login page, with next=/alerts
        button = page.get_by_role("button", name="Sign in with TestIdP")
        button.wait_for()
        button.click()
        page.wait_for_url(proc.url + "/alerts")
        me = page.evaluate("() => fetch('/api/v1/auth/me').then((r) => r.json())")
        assert (me["name"], me["role"]) == ("oidc:dora", "viewer")
    finally:
        context.close()


def test_a_failed_sign_in_shows_its_reason(browser: Any, oidc_server: tuple[ServerProcess, Provider]) -> None:
    proc, provider = oidc_server
    provider.token_overrides = {"aud": "someone-else"}
    context = browser.new_context()
    try:
        page = context.new_page()
        page.goto(proc.url + "/login")
        page.get_by_role("button", name="Sign in with TestIdP").click()
        page.wait_for_url("**/login?error=*")
        assert "aud" in page.locator(".login-message").inner_text()
    finally:
        context.close()
