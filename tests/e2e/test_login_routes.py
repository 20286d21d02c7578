"""The console's login flow on the server side (in-process): pages redirect to /login without a session, a stale
session cookie is cleared, `next` never leaves the server, the shell carries the caller and its permissions."""

from __future__ import annotations

import re
from typing import Any

import orjson
import pytest
from starlette.testclient import TestClient

from logwarden.auth.roles import Role
from logwarden.auth.store import AuthStore
from logwarden.console.routes import safe_next
from tests.e2e.conftest import AUTH_PASSWORD
from tests.e2e.test_console_serving import BROWSER_ACCEPT, browser_get

PASSWORD = AUTH_PASSWORD


def page_get(client: TestClient, path: str, key: str) -> Any:
    """A browser's GET of a console page that also sends an API key."""
    return client.get(path, headers={"Accept": BROWSER_ACCEPT, "Authorization": f"Bearer {key}"})


def log_in(client: TestClient, user: str) -> dict[str, Any]:
    resp = client.post("/api/v1/auth/login", json={"user": user, "password": PASSWORD})
    assert resp.status_code == 200, resp.text
    return dict(resp.json())


def boot_of(html: str) -> dict[str, Any]:
    found = re.search(r'<script type="application/json" id="lw-boot">(.*?)</script>', html, re.S)
    assert found is not None
    return dict(orjson.loads(found.group(1).replace("<\\/", "</")))


@pytest.mark.parametrize("path", ["/", "/alerts", "/admin/users", "/admin/audit"])
def test_without_a_session_a_console_page_redirects_to_the_login_page(auth_client: TestClient, path: str) -> None:
    resp = browser_get(auth_client, path + "?q=level:error")
    assert resp.status_code == 303
    assert resp.headers["location"].startswith("/login?next=")
    assert "q%3Dlevel%3Aerror" in resp.headers["location"]  # back to the same view after the login
    login = browser_get(auth_client, "/login")
    assert login.status_code == 200 and 'data-page="login"' in login.text
    assert boot_of(login.text)["principal"] is None
    # The API keeps answering 401 JSON.
    api = auth_client.get("/api/v1/search", headers={"Accept": BROWSER_ACCEPT})
    assert api.status_code == 401 and api.json()["error"].startswith("authentication required")


def test_after_a_login_the_shell_names_the_user_and_its_permissions(auth_client: TestClient) -> None:
    log_in(auth_client, "vic")
    page = browser_get(auth_client, "/")
    assert page.status_code == 200
    who = boot_of(page.text)["principal"]
    assert (who["name"], who["role"], who["tenant"], who["kind"]) == ("vic", "viewer", "acme", "user")
    assert who["permissions"] == ["search", "tail"]
    assert 'data-can="search tail"' in page.text  # console.css hides what a viewer may not use
    assert 'id="logout-button"' in page.text and "vic · viewer · acme" in page.text
    # /me says the same (the console's data and the API agree).
    me = auth_client.get("/api/v1/auth/me").json()
    assert me["permissions"] == who["permissions"]
    # A logged-in user sent to /login goes on to `next`.
    again = browser_get(auth_client, "/login?next=/alerts")
    assert again.status_code == 303 and again.headers["location"] == "/alerts"


def test_a_stale_session_cookie_is_cleared_and_the_page_asks_for_a_login(auth_client: TestClient) -> None:
    log_in(auth_client, "ana")
    csrf = auth_client.cookies["lw_csrf"]
    assert auth_client.post("/api/v1/auth/logout", headers={"X-CSRF-Token": csrf}).status_code == 204
    auth_client.cookies.set("lw_session", "ended-session-token")  # a browser that kept an old cookie
    page = browser_get(auth_client, "/rules?rule=x")
    assert page.status_code == 303 and page.headers["location"] == "/login?next=%2Frules%3Frule%3Dx"
    assert 'lw_session=""' in page.headers["set-cookie"]  # forgotten: the login that follows works
    auth_client.cookies.set("lw_session", "ended-session-token")
    api = auth_client.get("/api/v1/search")
    assert api.status_code == 401 and "session expired" in api.json()["error"]
    assert 'lw_session=""' in api.headers["set-cookie"]


def test_with_authentication_off_there_is_no_login_page_and_the_caller_is_the_local_admin(client: TestClient) -> None:
    login = client.get("/login", headers={"Accept": BROWSER_ACCEPT}, follow_redirects=False)
    assert login.status_code == 303 and login.headers["location"] == "/"
    page = browser_get(client)
    assert ">local admin</span>" in page.text and "no login · local only" in page.text
    assert 'id="logout-button"' not in page.text
    assert boot_of(page.text)["principal"]["kind"] == "local"


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (None, "/"),
        ("/alerts?x=1", "/alerts?x=1"),
        ("//evil.example", "/"),
        ("https://evil.example/", "/"),
        ("/\t/evil.example", "/"),
        ("/\\evil.example", "/"),
        ("/login?next=/x", "/"),
        ("alerts", "/"),
    ],
)
def test_next_only_leads_to_a_path_on_this_server(value: str | None, expected: str) -> None:
    assert safe_next(value) == expected


def test_an_ingest_key_cannot_use_the_console(auth_client: TestClient) -> None:
    made = auth_client.app.state.runtime.meta  # type: ignore[attr-defined]
    key = AuthStore(made.engine).create_key(tenant="acme", role=Role.INGEST, name="shipper")[1]
    page = page_get(auth_client, "/alerts", key)
    assert page.status_code == 303 and page.headers["location"] == "/login?next=%2Falerts"
    login = page_get(auth_client, "/login", key)
    assert login.status_code == 200  # the login page, not a redirect: only a user can use the console
    viewer_key = AuthStore(made.engine).create_key(tenant="acme", role=Role.VIEWER, name="grafana")[1]
    assert page_get(auth_client, "/alerts", viewer_key).status_code == 200
    refused = auth_client.post("/api/v1/auth/login", json={"user": "lw_shipper", "password": key})
    assert refused.status_code == 401  # a key is not a user
