"""OIDC login against a real provider served by the test on loopback (RS256 ID tokens signed by joserfc): success,
role mapping, wrong state, bad signature, expired token, wrong audience, wrong nonce, disabled users, config."""

from __future__ import annotations

import base64
import hashlib
import secrets
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlencode, urlparse

import httpx
import pytest
import uvicorn
from joserfc import jwt
from joserfc.jwk import KeySet, RSAKey
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, RedirectResponse, Response
from starlette.routing import Route
from starlette.testclient import TestClient

from logwarden.api.app import create_app
from logwarden.api.runtime import runtime_of
from logwarden.auth.audit import AuditLog
from logwarden.auth.roles import Role
from logwarden.auth.store import AuthStore
from logwarden.config.loader import ConfigError
from tests.conftest import make_config

CLIENT_ID = "logwarden-test"
CLIENT_SECRET = "s3cret-of-the-client"
CALLBACK = "http://testserver/api/v1/auth/oidc/callback"


@dataclass
class Provider:
    """A small OpenID provider: discovery, JWKS, an authorize endpoint that signs in `user` at once, and a token
    endpoint that checks the client secret and the PKCE verifier before issuing an RS256 ID token."""

    key: RSAKey = field(default_factory=lambda: RSAKey.generate_key(2048, parameters={"kid": "k1"}))
    user: dict[str, Any] = field(default_factory=lambda: {"sub": "alice"})
    token_overrides: dict[str, Any] = field(default_factory=dict)  # claims replaced in the next ID tokens
    signing_key: RSAKey | None = None  # sign with another key than the published one (a forged token)
    issuer: str = ""
    callback: str = CALLBACK  # the relying party's redirect_url
    codes: dict[str, dict[str, str]] = field(default_factory=dict)

    def app(self) -> Starlette:
        return Starlette(
            routes=[
                Route("/.well-known/openid-configuration", self.discovery),
                Route("/jwks", self.jwks),
                Route("/authorize", self.authorize),
                Route("/token", self.token, methods=["POST"]),
            ]
        )

    async def discovery(self, request: Request) -> Response:
        return JSONResponse(
            {
                "issuer": self.issuer,
                "authorization_endpoint": f"{self.issuer}/authorize",
                "token_endpoint": f"{self.issuer}/token",
                "jwks_uri": f"{self.issuer}/jwks",
                "response_types_supported": ["code"],
                "id_token_signing_alg_values_supported": ["RS256"],
            }
        )

    async def jwks(self, request: Request) -> Response:
        return JSONResponse(KeySet([self.key]).as_dict(private=False))

    async def authorize(self, request: Request) -> Response:
        q = request.query_params
        assert q["response_type"] == "code" and q["client_id"] == CLIENT_ID and q["redirect_uri"] == self.callback
        assert q["code_challenge_method"] == "S256" and "openid" in q["scope"].split()
        code = secrets.token_urlsafe(16)
        self.codes[code] = {"nonce": q["nonce"], "challenge": q["code_challenge"]}
        return RedirectResponse(f"{q['redirect_uri']}?{urlencode({'code': code, 'state': q['state']})}", 302)

    async def token(self, request: Request) -> Response:
        form = {k: v[0] for k, v in parse_qs((await request.body()).decode()).items()}  # no multipart dependency
        expected = "Basic " + base64.b64encode(f"{CLIENT_ID}:{CLIENT_SECRET}".encode()).decode()
        if request.headers.get("authorization") != expected:
            return JSONResponse({"error": "invalid_client"}, 401)
        grant = self.codes.pop(form["code"], None)
        verifier = str(form.get("code_verifier", ""))
        challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
        if grant is None or grant["challenge"] != challenge or form["redirect_uri"] != self.callback:
            return JSONResponse({"error": "invalid_grant"}, 400)
        now = int(time.time())
        claims = {
            "iss": self.issuer,
            "aud": CLIENT_ID,
            "iat": now,
            "exp": now + 300,
            "nonce": grant["nonce"],
            **self.user,
            **self.token_overrides,
        }
        key = self.signing_key or self.key
        token = jwt.encode({"alg": "RS256", "kid": key.kid or ""}, claims, key)
        return JSONResponse({"access_token": "opaque", "token_type": "Bearer", "id_token": token})


@contextmanager
def serving(found: Provider) -> Iterator[Provider]:
    """The provider on an ephemeral loopback port, in a thread (uvicorn, as a real provider would be served)."""
    server = uvicorn.Server(
        uvicorn.Config(found.app(), host="127.0.0.1", port=0, log_level="warning", ws="none", lifespan="off")
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        assert time.monotonic() < deadline, "the test provider did not start"
        time.sleep(0.01)
    port = server.servers[0].sockets[0].getsockname()[1]
    found.issuer = f"http://127.0.0.1:{port}"
    try:
        yield found
    finally:
        server.should_exit = True
        thread.join(10)


@pytest.fixture
def provider() -> Iterator[Provider]:
    with serving(Provider()) as found:
        yield found


def _oidc(provider: Provider, **extra: Any) -> dict[str, Any]:
    return {
        "issuer": provider.issuer,
        "client_id": CLIENT_ID,
        "client_secret": CLIENT_SECRET,
        "redirect_url": CALLBACK,
        "name": "TestIdP",
        **extra,
    }


@pytest.fixture
def oidc_app(tmp_path: Path, provider: Provider) -> Iterator[TestClient]:
    extra = {"role_claim": "groups", "role_map": {"ops": "admin", "devs": "editor"}, "tenant_claim": "team"}
    config = make_config(tmp_path, **{"auth.enabled": True, "auth.oidc": _oidc(provider, **extra)})
    with TestClient(create_app(config, run_maintenance=False), follow_redirects=False) as client:
        yield client


def _sign_in(client: TestClient, next_path: str = "/alerts", state: str | None = None) -> httpx.Response:
    """The browser's round trip: logwarden → provider → logwarden's callback; the callback's answer."""
    start = client.get("/api/v1/auth/oidc/login", params={"next": next_path})
    assert start.status_code == 302, start.text
    back = httpx.get(start.headers["location"], follow_redirects=False)
    assert back.status_code == 302 and back.headers["location"].startswith(CALLBACK)
    url = back.headers["location"]
    if state is not None:
        url = CALLBACK + "?" + urlencode({"code": parse_qs(urlparse(url).query)["code"][0], "state": state})
    return client.get(url)


def _audit(client: TestClient, outcome: str) -> list[Any]:
    meta = runtime_of(client).meta
    assert meta is not None
    return [e for e in AuditLog(meta.engine).search(tenant=None, action="login") if e.outcome == outcome]


def test_info_says_whether_it_is_offered(oidc_app: TestClient, tmp_path: Path) -> None:
    assert oidc_app.get("/api/v1/auth/oidc").json() == {
        "enabled": True,
        "name": "TestIdP",
        "login_url": "/api/v1/auth/oidc/login",
    }
    with TestClient(create_app(make_config(tmp_path / "plain"), run_maintenance=False)) as plain:
        assert plain.get("/api/v1/auth/oidc").json() == {"enabled": False}
        assert plain.get("/api/v1/auth/oidc/login").status_code == 404


def test_login_redirect_carries_state_nonce_and_pkce(oidc_app: TestClient, provider: Provider) -> None:
    start = oidc_app.get("/api/v1/auth/oidc/login")
    url = urlparse(start.headers["location"])
    q = {k: v[0] for k, v in parse_qs(url.query).items()}
    assert f"{url.scheme}://{url.netloc}{url.path}" == f"{provider.issuer}/authorize"
    assert q["code_challenge_method"] == "S256" and len(q["code_challenge"]) == 43
    assert len(q["state"]) >= 32 and len(q["nonce"]) >= 32 and q["state"] != q["nonce"]
    assert oidc_app.cookies.get("lw_oidc_state") == q["state"]


def test_success_opens_a_session_with_the_mapped_role_and_tenant(oidc_app: TestClient, provider: Provider) -> None:
    provider.user = {"sub": "alice", "groups": ["devs", "ops"], "team": "alpha"}
    done = _sign_in(oidc_app, "/alerts")
    assert done.status_code == 303 and done.headers["location"] == "/alerts", done.text
    me = oidc_app.get("/api/v1/auth/me").json()
    assert (me["name"], me["tenant"], me["role"], me["kind"]) == ("oidc:alice", "alpha", "admin", "user")
    [entry] = _audit(oidc_app, "ok")
    assert entry.target == "oidc:alice" and entry.details["via"] == "oidc" and entry.tenant == "alpha"
    # The next login follows the provider: fewer groups, a weaker role.
    oidc_app.post("/api/v1/auth/logout", headers={"X-CSRF-Token": oidc_app.cookies.get("lw_csrf") or ""})
    provider.user = {"sub": "alice", "groups": "devs", "team": "alpha"}
    assert _sign_in(oidc_app).status_code == 303
    assert oidc_app.get("/api/v1/auth/me").json()["role"] == "editor"


def test_unmapped_users_get_the_default_role_and_tenant(oidc_app: TestClient, provider: Provider) -> None:
    provider.user = {"sub": "bob", "groups": ["nobody"]}
    assert _sign_in(oidc_app, "/").status_code == 303
    me = oidc_app.get("/api/v1/auth/me").json()
    assert (me["name"], me["tenant"], me["role"]) == ("oidc:bob", "default", "viewer")


def _refused(client: TestClient, done: httpx.Response, needle: str) -> None:
    assert done.status_code == 303, done.text
    location = done.headers["location"]
    assert location.startswith("/login?") and needle in parse_qs(urlparse(location).query)["error"][0], location
    assert "lw_session" not in done.cookies
    assert client.get("/api/v1/auth/me").status_code == 401
    [entry] = _audit(client, "failed")
    assert needle in entry.details["reason"] and entry.details["via"] == "oidc"


def test_wrong_state_is_refused(oidc_app: TestClient) -> None:
    _refused(oidc_app, _sign_in(oidc_app, state="forged-state"), "state mismatch")


def test_a_callback_cannot_be_replayed(oidc_app: TestClient, provider: Provider) -> None:
    start = oidc_app.get("/api/v1/auth/oidc/login")
    back = httpx.get(start.headers["location"], follow_redirects=False).headers["location"]
    assert oidc_app.get(back).status_code == 303
    oidc_app.cookies.set("lw_oidc_state", parse_qs(urlparse(back).query)["state"][0], path="/api/v1/auth/oidc")
    again = oidc_app.get(back)
    assert "used already" in parse_qs(urlparse(again.headers["location"]).query)["error"][0]


def test_bad_signature_is_refused(oidc_app: TestClient, provider: Provider) -> None:
    provider.signing_key = RSAKey.generate_key(2048, parameters={"kid": "k1"})
    _refused(oidc_app, _sign_in(oidc_app), "ID token is not valid")


def test_expired_token_is_refused(oidc_app: TestClient, provider: Provider) -> None:
    now = int(time.time())
    provider.token_overrides = {"iat": now - 3600, "exp": now - 600}
    _refused(oidc_app, _sign_in(oidc_app), "expired")


def test_wrong_audience_is_refused(oidc_app: TestClient, provider: Provider) -> None:
    provider.token_overrides = {"aud": "another-client"}
    _refused(oidc_app, _sign_in(oidc_app), "aud")


def test_wrong_nonce_is_refused(oidc_app: TestClient, provider: Provider) -> None:
    provider.token_overrides = {"nonce": "not-the-one"}
    _refused(oidc_app, _sign_in(oidc_app), "nonce")


def test_wrong_issuer_is_refused(oidc_app: TestClient, provider: Provider) -> None:
    provider.token_overrides = {"iss": "https://evil.example"}
    _refused(oidc_app, _sign_in(oidc_app), "iss")


def test_a_disabled_user_is_refused(oidc_app: TestClient, provider: Provider) -> None:
    meta = runtime_of(oidc_app).meta
    assert meta is not None
    AuthStore(meta.engine).add_user("oidc:carol", "long enough password", tenant="default", role=Role.VIEWER)
    AuthStore(meta.engine).set_disabled("oidc:carol", True)
    provider.user = {"sub": "carol"}
    _refused(oidc_app, _sign_in(oidc_app), "disabled")


def test_no_role_when_the_default_is_off(tmp_path: Path, provider: Provider) -> None:
    config = make_config(tmp_path, **{"auth.enabled": True, "auth.oidc": _oidc(provider, default_role=None)})
    with TestClient(create_app(config, run_maintenance=False), follow_redirects=False) as client:
        _refused(client, _sign_in(client), "no role")


def test_an_unreachable_provider_goes_back_to_the_login_page(tmp_path: Path) -> None:
    oidc = {"issuer": "http://127.0.0.1:9", "client_id": "x", "redirect_url": CALLBACK, "http_timeout": "2s"}
    config = make_config(tmp_path, **{"auth.enabled": True, "auth.oidc": oidc})
    with TestClient(create_app(config, run_maintenance=False), follow_redirects=False) as client:
        start = client.get("/api/v1/auth/oidc/login")
        assert start.status_code == 303 and "unreachable" in start.headers["location"]


@pytest.mark.parametrize(
    ("oidc", "field_name"),
    [
        ({"client_id": "x", "redirect_url": CALLBACK}, "issuer"),
        ({"issuer": "ftp://idp", "client_id": "x", "redirect_url": CALLBACK}, "issuer"),
        ({"issuer": "https://idp", "client_id": "x", "redirect_url": "https://x/elsewhere"}, "redirect_url"),
        ({"issuer": "https://idp", "client_id": "x", "redirect_url": CALLBACK, "role_map": {"g": "root"}}, "role_map"),
        (
            {"issuer": "https://idp", "client_id": "x", "redirect_url": CALLBACK, "default_tenant": "a b"},
            "default_tenant",
        ),
    ],
)
def test_config_errors_name_the_field(tmp_path: Path, oidc: dict[str, Any], field_name: str) -> None:
    with pytest.raises(ConfigError) as info:
        make_config(tmp_path, **{"auth.oidc": oidc})
    assert f"auth.oidc.{field_name}" in str(info.value)


def test_keys_are_fetched_again_for_a_rotated_key(oidc_app: TestClient, provider: Provider) -> None:
    assert _sign_in(oidc_app).status_code == 303  # the set with k1 is cached now
    provider.key = RSAKey.generate_key(2048, parameters={"kid": "k2"})
    provider.signing_key = provider.key
    oidc_app.post("/api/v1/auth/logout", headers={"X-CSRF-Token": oidc_app.cookies.get("lw_csrf") or ""})
    done = _sign_in(oidc_app)
    assert done.status_code == 303 and done.headers["location"] == "/alerts", done.headers["location"]
