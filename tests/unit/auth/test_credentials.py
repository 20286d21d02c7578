"""API keys and sessions through the server: a presented credential is always checked; CSRF on session writes."""

from __future__ import annotations

import base64
from datetime import UTC, datetime, timedelta

from logwarden.auth.roles import Role
from logwarden.auth.store import AuthStore
from tests.unit.auth.conftest import AuthServer


def test_a_revoked_key_gets_401_even_on_open_routes(server: AuthServer) -> None:
    headers = server.headers("alpha", Role.VIEWER)
    assert server.client.get("/api/v1/search", headers=headers).status_code == 200
    key_id = server.keys[("alpha", Role.VIEWER)][: len("lw_") + 12]
    server.store.revoke_key(key_id)
    for path in ("/api/v1/search", "/healthz", "/api/v1/openapi.json"):
        resp = server.client.get(path, headers=headers)
        assert resp.status_code == 401, path
        assert resp.headers["www-authenticate"].startswith("Bearer")


def test_an_expired_key_and_an_unknown_key_get_401(server: AuthServer) -> None:
    now = datetime.now(UTC)
    past = AuthStore(server.store.engine, clock=lambda: now - timedelta(days=2))
    _, expired = past.create_key(tenant="alpha", role=Role.VIEWER, expires=now - timedelta(days=1))
    unknown = server.keys[("alpha", Role.VIEWER)][:-4] + "AAAA"
    for text in (expired, unknown, "lw_zz_nope", "not-a-key"):
        resp = server.client.get("/healthz", headers={"Authorization": f"Bearer {text}"})
        assert resp.status_code == 401, text


def test_basic_auth_carries_the_key_as_the_password(server: AuthServer) -> None:
    key = server.keys[("alpha", Role.INGEST)]
    basic = base64.b64encode(f"shipper:{key}".encode()).decode()
    resp = server.client.post("/api/v1/ingest", content=b'{"msg": "hi"}', headers={"Authorization": f"Basic {basic}"})
    assert resp.status_code == 200, resp.text
    # Elasticsearch clients' api_key option: `ApiKey base64(id:key)`, or the key as it is.
    encoded = base64.b64encode(f"any-id:{key}".encode()).decode()
    for header in (f"ApiKey {encoded}", f"ApiKey {key}"):
        resp = server.client.post(
            "/_bulk", content=b'{"index": {}}\n{"msg": "hi"}\n', headers={"Authorization": header}
        )
        assert resp.status_code == 200, (header, resp.text)
    wrong = base64.b64encode(b"shipper:lw_000000000000_nope").decode()
    assert (
        server.client.post("/api/v1/ingest", content=b"{}", headers={"Authorization": f"Basic {wrong}"}).status_code
        == 401
    )


def _login(server: AuthServer, user: str = "alice", password: str = "correct horse") -> dict[str, str]:
    resp = server.client.post("/api/v1/auth/login", json={"user": user, "password": password})
    assert resp.status_code == 200, resp.text
    return dict(resp.json())


def test_login_sets_a_hardened_cookie_and_me_says_who(server: AuthServer) -> None:
    server.store.add_user("alice", "correct horse", tenant="alpha", role=Role.EDITOR)
    resp = server.client.post("/api/v1/auth/login", json={"user": "alice", "password": "correct horse"})
    assert resp.status_code == 200
    cookie = next(c for c in resp.headers.get_list("set-cookie") if c.startswith("lw_session="))
    assert "HttpOnly" in cookie and "SameSite=lax" in cookie
    assert "Secure" not in cookie  # plain HTTP here; over HTTPS (or auth.cookie_secure) it is Secure
    me = server.client.get("/api/v1/auth/me").json()
    assert (me["name"], me["tenant"], me["role"], me["via"]) == ("alice", "alpha", "editor", "session")
    assert "rules.write" in me["permissions"] and "users.admin" not in me["permissions"]


def test_state_changing_requests_with_a_session_need_the_csrf_token(server: AuthServer) -> None:
    server.store.add_user("alice", "correct horse", tenant="alpha", role=Role.EDITOR)
    csrf = _login(server)["csrf_token"]
    body = {"matchers": ['service="api"'], "duration": "1h", "created_by": "alice", "comment": "deploy"}
    refused = server.client.post("/api/v1/silences", json=body)
    assert refused.status_code == 403 and "X-CSRF-Token" in refused.json()["error"]
    wrong = server.client.post("/api/v1/silences", json=body, headers={"X-CSRF-Token": "guess"})
    assert wrong.status_code == 403
    made = server.client.post("/api/v1/silences", json=body, headers={"X-CSRF-Token": csrf})
    assert made.status_code == 201, made.text
    assert server.client.get("/api/v1/silences").status_code == 200  # reads need no token


def test_logout_ends_the_session(server: AuthServer) -> None:
    server.store.add_user("alice", "correct horse", tenant="alpha", role=Role.VIEWER)
    csrf = _login(server)["csrf_token"]
    cookie = server.client.cookies.get("lw_session")
    assert server.client.post("/api/v1/auth/logout", headers={"X-CSRF-Token": csrf}).status_code == 204
    # The old cookie, replayed, is refused: the session is gone from the database, not only from the browser.
    server.client.cookies.set("lw_session", str(cookie))
    resp = server.client.get("/api/v1/auth/me")
    assert resp.status_code == 401


def test_a_disabled_user_cannot_log_in_and_loses_its_sessions(server: AuthServer) -> None:
    server.store.add_user("alice", "correct horse", tenant="alpha", role=Role.VIEWER)
    _login(server)
    server.store.set_disabled("alice", True)
    assert server.client.get("/api/v1/auth/me").status_code == 401
    resp = server.client.post("/api/v1/auth/login", json={"user": "alice", "password": "correct horse"})
    assert resp.status_code == 401


def test_the_cookie_is_secure_over_https(server: AuthServer) -> None:
    server.store.add_user("alice", "correct horse", tenant="alpha", role=Role.VIEWER)
    resp = server.client.post(
        "https://testserver/api/v1/auth/login", json={"user": "alice", "password": "correct horse"}
    )
    assert resp.status_code == 200
    cookies = resp.headers.get_list("set-cookie")
    assert all("Secure" in c for c in cookies) and len(cookies) == 2
