"""OIDC login over HTTP: `GET /api/v1/auth/oidc` (is it offered), `/login` (to the provider), `/callback` (back).

The callback checks the state against the browser's cookie, trades the code (PKCE) for an ID token, checks it
(auth/oidc.py), maps its claims to a user (auth/oidc_users.py) and opens the same session as a password login.
Every outcome is audited as `login` (`via: oidc`); a failure goes back to the login page with the reason.
"""

from __future__ import annotations

from urllib.parse import urlencode

from starlette.requests import Request
from starlette.responses import JSONResponse, RedirectResponse, Response
from starlette.routing import BaseRoute, Route

from logwarden.auth.audit import audit
from logwarden.auth.backend import CSRF_COOKIE, SESSION_COOKIE
from logwarden.auth.oidc import OidcClient, OidcError
from logwarden.auth.oidc_users import login_user
from logwarden.auth.routes import AuthState, error_response, meta_of
from logwarden.auth.store import AuthStore
from logwarden.console.routes import safe_next

STATE_COOKIE = "lw_oidc_state"
_COOKIE_PATH = "/api/v1/auth/oidc"


def client_of(request: Request) -> OidcClient | None:
    """The app's OIDC relying party (made on first use), or None when `auth.oidc` is not configured."""
    state: AuthState = request.app.state.auth
    config = state.config.auth.oidc
    if config is None:
        return None
    client = getattr(request.app.state, "oidc_client", None)
    if not isinstance(client, OidcClient):
        client = OidcClient(config)
        request.app.state.oidc_client = client
    return client


def _secure(request: Request) -> bool:
    state: AuthState = request.app.state.auth
    secure = state.config.auth.cookie_secure
    return request.url.scheme == "https" if secure is None else secure


async def info(request: Request) -> Response:
    """Whether an OIDC login is offered, and the name of its button."""
    client = client_of(request)
    if client is None:
        return JSONResponse({"enabled": False})
    return JSONResponse({"enabled": True, "name": client.config.name, "login_url": f"{_COOKIE_PATH}/login"})


def _back_to_login(reason: str, next_path: str = "/") -> Response:
    query = {"error": reason, **({"next": next_path} if next_path != "/" else {})}
    response = RedirectResponse("/login?" + urlencode(query), status_code=303)
    response.delete_cookie(STATE_COOKIE, path=_COOKIE_PATH)
    return response


async def login(request: Request) -> Response:
    """Send the browser to the provider with a fresh state, nonce and PKCE challenge."""
    client = client_of(request)
    if client is None:
        return error_response(404, "no OIDC provider is configured (auth.oidc)")
    next_path = safe_next(request.query_params.get("next"))
    try:
        url, state = await client.authorization_url(next_path)
    except OidcError as exc:
        await audit(request, "login", "", outcome="failed", tenant="", actor="oidc", via="oidc", reason=exc.reason)
        return _back_to_login(f"sign-in with {client.config.name} failed: {exc.reason}", next_path)
    response = RedirectResponse(url, status_code=302)
    # Lax: sent on the provider's top-level redirect back, never on another site's subrequest.
    response.set_cookie(
        STATE_COOKIE, state, max_age=600, httponly=True, secure=_secure(request), samesite="lax", path=_COOKIE_PATH
    )
    return response


async def callback(request: Request) -> Response:
    """Finish a login: state, code exchange, ID token, user, session."""
    client = client_of(request)
    if client is None:
        return error_response(404, "no OIDC provider is configured (auth.oidc)")
    meta = meta_of(request)
    if meta is None:
        return error_response(503, "logwarden is starting or stopping; retry shortly", {"Retry-After": "1"})
    params = request.query_params
    state = params.get("state") or ""
    subject = ""

    async def failed(reason: str, next_path: str = "/") -> Response:
        await audit(request, "login", subject, outcome="failed", tenant="", actor="oidc", via="oidc", reason=reason)
        return _back_to_login(f"sign-in with {client.config.name} failed: {reason}", next_path)

    # The state must be the one this browser was sent away with (no login forced on someone else's browser).
    if not state or request.cookies.get(STATE_COOKIE) != state:
        return await failed("the sign-in was not started from this browser (state mismatch); try again")
    pending = client.pending.take(state)
    if pending is None:
        return await failed("the sign-in took too long or was used already; try again")
    if params.get("error"):
        return await failed(f"the provider said {params['error'][:100]!r}", pending.next)
    code = params.get("code")
    if not code:
        return await failed("the provider sent no code", pending.next)
    try:
        claims = await client.exchange(code, pending)
        subject = str(claims.get(client.config.username_claim, ""))[:128]
        auth_state: AuthState = request.app.state.auth
        store = AuthStore(meta.engine)
        default_tenant = auth_state.config.ingest.default_tenant
        user = await meta.run(login_user, store, client.config, claims, default_tenant)
    except OidcError as exc:
        return await failed(exc.reason, pending.next)
    session = await meta.run(store.open_session, user, auth_state.config.auth.session_ttl)
    await audit(request, "login", user.name, tenant=user.tenant, actor=f"user:{user.name}", via="oidc")
    response = RedirectResponse(pending.next, status_code=303)
    secure = _secure(request)
    max_age = int(auth_state.config.auth.session_ttl.total_seconds())
    response.set_cookie(
        SESSION_COOKIE, session.token, max_age=max_age, httponly=True, secure=secure, samesite="lax", path="/"
    )
    # Readable by the console's scripts, which echo it in X-CSRF-Token (double submit), as after a password login.
    response.set_cookie(
        CSRF_COOKIE, session.csrf_token, max_age=max_age, httponly=False, secure=secure, samesite="lax", path="/"
    )
    response.delete_cookie(STATE_COOKIE, path=_COOKIE_PATH)
    return response


def routes() -> list[BaseRoute]:
    """The OIDC routes (public: the login itself is what they do)."""
    return [
        Route("/api/v1/auth/oidc", info, methods=["GET"]),
        Route("/api/v1/auth/oidc/login", login, methods=["GET"]),
        Route("/api/v1/auth/oidc/callback", callback, methods=["GET"]),
    ]
