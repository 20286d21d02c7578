"""The login flow and the admin pages in a real browser against a real `logwarden serve` with authentication on:
a wrong password is shown, the backoff's wait is counted down, an API key is refused, the right password lands
on Discover, logout returns to the login page, a viewer sees no edit buttons (and no Admin), an admin creates a
key that is shown once, manages users, and the audit page lists the login."""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import httpx
import pytest
from playwright.sync_api import expect

from tests.e2e.conftest import AUTH_PASSWORD, SCREENSHOTS, VIEWPORT, AuthConsoleServer

pytestmark = pytest.mark.slow  # a real server and a real browser


class Browser:
    """A page with the console errors it logged; `allowed` statuses are refusals the test provokes."""

    def __init__(self, page: Any, base_url: str) -> None:
        self.page = page
        self.base_url = base_url
        self.errors: list[str] = []
        page.on(
            "console",
            lambda m: self.errors.append(f"{m.text} @ {m.location.get('url', '')}") if m.type == "error" else None,
        )
        page.on("pageerror", lambda e: self.errors.append(str(e)))

    def goto(self, path: str) -> Any:
        self.page.goto(self.base_url + path)
        return self.page

    def login(self, user: str, password: str = AUTH_PASSWORD) -> None:
        page = self.page
        page.fill("#login-user", user)
        page.fill("#login-password", password)
        page.click(".login-submit")

    def shot(self, name: str) -> None:
        SCREENSHOTS.mkdir(exist_ok=True)
        self.page.screenshot(path=str(SCREENSHOTS / f"{name}.png"))


@contextmanager
def browsing(
    browser: Any, server: AuthConsoleServer, allowed: tuple[str, ...] = (), scheme: str = "light"
) -> Iterator[Browser]:
    context = browser.new_context(viewport=VIEWPORT, color_scheme=scheme)
    try:
        b = Browser(context.new_page(), server.url)
        yield b
        assert [e for e in b.errors if not any(a in e for a in allowed)] == []
    finally:
        context.close()


def logged_in(browser: Any, server: AuthConsoleServer, user: str, **kw: Any) -> Any:
    """A browsing context already logged in as `user` (at Discover)."""

    @contextmanager
    def opened() -> Iterator[Browser]:
        with browsing(browser, server, **kw) as b:
            b.goto("/login")
            b.login(user)
            b.page.wait_for_url(server.url + "/")
            yield b

    return opened()


def test_wrong_password_then_login_lands_on_discover_and_logout_returns_to_login(
    browser: Any, auth_console_server: AuthConsoleServer
) -> None:
    server = auth_console_server
    with browsing(browser, server, allowed=("status of 401",)) as b:
        page = b.goto("/?q=level:error")
        assert page.url == server.url + "/login?next=%2F%3Fq%3Dlevel%3Aerror"  # the server sent us to log in
        assert page.locator("#nav a").count() == 0
        b.login("ana", "not the password")
        message = page.locator(".login-message")
        expect(message).to_contain_text("Wrong")
        assert "Wrong user name or password" in message.text_content()
        assert page.input_value("#login-password") == ""  # cleared for the next try
        b.shot("login-wrong-password-light")

        b.login("ana")
        page.wait_for_url(server.url + "/?q=level:error")  # back to where the login was asked for
        page.locator(".hits .hit").first.wait_for()
        assert page.locator("#user-chip").text_content() == "ana · admin · acme"
        assert page.locator("#nav a", has_text="Admin").count() == 1
        b.shot("login-discover-admin-light")

        page.click("#logout-button")
        page.wait_for_url(re.compile(r".*/login$"))
        b.goto("/alerts")
        assert page.url.startswith(server.url + "/login?next=")  # the session ended for real
        me = page.evaluate("fetch('/api/v1/auth/me').then(r => r.status)")
        assert me == 401


def test_a_session_ended_elsewhere_sends_the_page_to_the_login_and_back(
    browser: Any, auth_console_server: AuthConsoleServer
) -> None:
    server = auth_console_server
    with logged_in(browser, server, "vic", allowed=("status of 401",)) as b:
        page = b.page
        page.locator(".hits .hit").first.wait_for()
        cookies = {c["name"]: c["value"] for c in page.context.cookies()}
        # The session ends behind the page's back (as an idle timeout or a disabled user would end it).
        ended = httpx.post(
            server.url + "/api/v1/auth/logout",
            cookies={"lw_session": cookies["lw_session"]},
            headers={"X-CSRF-Token": cookies["lw_csrf"]},
        )
        assert ended.status_code == 204
        page.fill("[data-search]", "level:error")
        page.click(".run-button")
        page.wait_for_url(re.compile(r"/login\?next=%2F%3Fq%3Dlevel%253Aerror"), timeout=10_000)  # with the query
        assert "lw_session" not in {c["name"] for c in page.context.cookies()}  # the server cleared the stale one
        b.login("vic")
        page.wait_for_url(re.compile(r"/\?q=level%3Aerror"))
        page.locator(".hits .hit").first.wait_for()


def test_failed_logins_in_a_row_show_the_backoff_wait(browser: Any, auth_console_server: AuthConsoleServer) -> None:
    with browsing(browser, auth_console_server, allowed=("status of 401", "status of 429")) as b:
        page = b.goto("/login")
        message = page.locator(".login-message")
        for _ in range(10):  # 3 failures start the backoff (1 s, then doubling): the next attempt is refused
            b.login("mallory", "guessing-again")
            expect(message).not_to_contain_text("Logging in")
            if "Too many failed logins" in message.text_content():
                break
        text = message.text_content()
        assert re.fullmatch(r"Too many failed logins: try again in \d+ s\.", text), text
        assert page.locator(".login-submit").is_disabled()
        b.shot("login-throttled-light")
        # When the wait is over the form is usable again, and a good login clears the address's count.
        expect(page.locator(".login-submit")).to_be_enabled(timeout=20_000)
        b.login("ana")
        page.wait_for_url(auth_console_server.url + "/")


def test_an_api_key_cannot_log_in(browser: Any, auth_console_server: AuthConsoleServer) -> None:
    with browsing(browser, auth_console_server, scheme="dark") as b:
        page = b.goto("/login")
        b.login("shipper", auth_console_server.ingest_key)
        expect(page.locator(".login-message")).to_contain_text("An API key cannot log in")
        b.shot("login-key-refused-dark")
        assert page.url.endswith("/login")
    # The API agrees: a key is not a user.
    resp = httpx.post(
        auth_console_server.url + "/api/v1/auth/login", json={"user": "x", "password": auth_console_server.ingest_key}
    )
    assert resp.status_code == 401


# Controls a viewer may not use, on each page (the admin sees them: the same selectors, visible).
EDIT_CONTROLS = {
    "/rules": ".rl-new",
    "/silences": ".sl-new",
    "/dashboards": ".db-new",
}


@pytest.mark.parametrize("user", ["vic", "ana"])
def test_a_viewer_sees_no_edit_buttons(browser: Any, auth_console_server: AuthConsoleServer, user: str) -> None:
    # The Overview's self-metrics panels read /metrics, which needs audit.read with auth on: a viewer sees none,
    # so the page asks for nothing it would be refused (any 403 would fail the test as a console error).
    with logged_in(browser, auth_console_server, user) as b:
        page = b.page
        viewer = user == "vic"
        for path, selector in EDIT_CONTROLS.items():
            b.goto(path)
            page.wait_for_selector(".al-toolbar, .db-toolbar")
            page.wait_for_timeout(300)  # the page's first answers
            assert page.locator(selector).first.is_visible() is not viewer, (path, selector)
            if path == "/dashboards":
                page.wait_for_selector(".panel")
                assert (page.locator('.panel[data-source="self"]').count() == 0) is viewer
            if path == "/dashboards" and viewer:
                assert not page.locator(".db-add-panel").is_visible() and not page.locator(".db-copy").is_visible()
        b.goto("/")
        page.click(".saved summary")
        assert page.locator(".saved-form").is_visible() is not viewer
        assert (page.locator("#nav a", has_text="Admin").count() == 0) is viewer
        assert page.locator("#user-chip").text_content() == f"{user} · {'viewer' if viewer else 'admin'} · acme"
        if viewer:
            b.goto("/rules")
            page.wait_for_selector(".rl-list")
            b.shot("login-viewer-rules-light")
            b.goto("/admin/keys")
            notice = page.locator(".adm-not-allowed")
            notice.wait_for()
            assert "Not allowed" in notice.text_content()
            # The server refuses anyway (the page only hides what would fail).
            status = page.evaluate(
                "fetch('/api/v1/keys', {method: 'POST', headers: {'Content-Type': 'application/json', "
                "'X-CSRF-Token': decodeURIComponent(document.cookie.match(/lw_csrf=([^;]+)/)[1])}, "
                "body: JSON.stringify({role: 'ingest'})}).then(r => r.status)"
            )
            assert status == 403
            b.errors[:] = [e for e in b.errors if "status of 403" not in e]  # that refusal, provoked above


def test_an_admin_creates_a_key_sees_it_once_and_revokes_it(
    browser: Any, auth_console_server: AuthConsoleServer
) -> None:
    server = auth_console_server
    with logged_in(browser, server, "ana") as b:
        page = b.page
        b.goto("/admin/keys")
        page.wait_for_selector(".adm-list[data-loaded='1']")
        page.fill(".adm-key-name", "fluent-bit on web-1")
        page.select_option(".adm-key-role", "ingest")
        page.fill(".adm-key-expires", "30d")
        page.click(".adm-key-create")
        text_box = page.locator(".adm-key-text")
        text_box.wait_for()
        key = text_box.input_value()
        assert re.fullmatch(r"lw_[0-9a-f]{12}_\S+", key), key
        key_id = key[:15]
        page.click(".adm-copy")
        expect(page.locator(".adm-copied")).to_have_text(re.compile(r"Copied|Selected"))
        row = page.locator(f"tr[data-key='{key_id}']")
        row.wait_for()
        assert "fluent-bit on web-1" in row.text_content() and "active" in row.text_content()
        b.shot("admin-keys-created-light")
        # The key works, and the page never shows it again.
        me = httpx.get(server.url + "/api/v1/auth/me", headers={"Authorization": f"Bearer {key}"}).json()
        assert (me["name"], me["role"], me["tenant"]) == (key_id, "ingest", "acme")
        page.reload()
        page.wait_for_selector(".adm-list[data-loaded='1']")
        assert key not in page.content() and key_id in page.content()

        revoke = page.locator(f"tr[data-key='{key_id}'] .adm-revoke")
        revoke.click()
        assert revoke.text_content() == "Confirm revoke"  # two clicks: a revoked key cannot come back
        revoke.click()
        expect(page.locator(f"tr[data-key='{key_id}']")).to_contain_text("revoked")
        assert httpx.get(server.url + "/api/v1/auth/me", headers={"Authorization": f"Bearer {key}"}).status_code == 401


def test_an_admin_adds_a_user_changes_its_role_and_disables_it(
    browser: Any, auth_console_server: AuthConsoleServer
) -> None:
    server = auth_console_server
    with logged_in(browser, server, "ana") as b:
        page = b.page
        b.goto("/admin/users")
        page.wait_for_selector(".adm-list[data-loaded='1']")
        assert page.locator("tr[data-user='ana'] .adm-disable").count() == 0  # not oneself
        page.fill(".adm-user-name", "eve")
        page.fill(".adm-user-password", "eve's long password")
        page.select_option(".adm-user-role", "viewer")
        page.click(".adm-user-add")
        row = page.locator("tr[data-user='eve']")
        row.wait_for()
        page.select_option("tr[data-user='eve'] .adm-role-select", "editor")
        expect(page.locator(".adm-main .adm-message")).to_contain_text("now editor")
        login = httpx.post(server.url + "/api/v1/auth/login", json={"user": "eve", "password": "eve's long password"})
        assert login.json()["role"] == "editor"
        page.click("tr[data-user='eve'] .adm-disable")
        expect(row).to_contain_text("disabled")
        b.shot("admin-users-light")
        again = httpx.post(server.url + "/api/v1/auth/login", json={"user": "eve", "password": "eve's long password"})
        assert again.status_code == 401

        # Another tenant: the Tenant field (X-Scope-OrgID, an admin's right).
        page.fill(".adm-tenant", "bravo")
        page.click(".adm-tenant-form button")
        expect(page).to_have_url(re.compile(r"/admin/users\?tenant=bravo$"))
        expect(page.locator(".adm-list")).to_contain_text("No users in this tenant yet.")
        page.fill(".adm-user-name", "bob")
        page.fill(".adm-user-password", "bob's long password")
        page.click(".adm-user-add")
        expect(page.locator("tr[data-user='bob']")).to_contain_text("bravo")
        bob = httpx.post(server.url + "/api/v1/auth/login", json={"user": "bob", "password": "bob's long password"})
        assert bob.json()["tenant"] == "bravo"


def test_the_audit_page_lists_the_login_and_filters(browser: Any, auth_console_server: AuthConsoleServer) -> None:
    with logged_in(browser, auth_console_server, "ana") as b:
        page = b.page
        b.goto("/admin/audit?action=login")
        page.wait_for_selector(".adm-list[data-loaded='1']")
        rows = page.locator("tr[data-action='login']")
        assert rows.count() >= 1
        first = rows.first.text_content()
        assert "user:ana" in first and "ok" in first  # this test's own login, newest first
        assert page.locator("tr[data-action]:not([data-action='login'])").count() == 0
        b.shot("admin-audit-light")
        page.fill(".adm-audit-action", "key.")
        page.click(".adm-audit-search")
        expect(page).to_have_url(re.compile(r"action=key\."))
        page.wait_for_selector("tr[data-action='key.create']")

        # Two a page: Older → and ← Newer walk the `next` cursor; no entry shows twice.
        for _ in range(3):  # enough logins for two full pages, whatever ran before
            login = {"user": "vic", "password": AUTH_PASSWORD}
            assert httpx.post(auth_console_server.url + "/api/v1/auth/login", json=login).status_code == 200
        b.goto("/admin/audit?action=login&limit=2")
        status = page.locator(".adm-audit-status")
        expect(status).to_have_text("entries 1–2, newest first")
        ids = "els => els.map(e => e.dataset.id)"
        first_page = page.locator("tbody tr").evaluate_all(ids)
        assert page.locator(".adm-newer").is_disabled()
        page.click(".adm-older")
        expect(status).to_have_text("entries 3–4, newest first")
        second_page = page.locator("tbody tr").evaluate_all(ids)
        assert len(second_page) == 2 and min(map(int, first_page)) > max(map(int, second_page))  # older, none twice
        page.click(".adm-newer")
        expect(status).to_have_text("entries 1–2, newest first")
        assert page.locator("tbody tr").evaluate_all(ids) == first_page
