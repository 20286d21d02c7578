"""Sessions and the audit log over HTTP: `POST /api/v1/auth/login|logout`, `GET /api/v1/auth/me`, `GET /api/v1/audit`.

Login takes `{"user": …, "password": …}` and answers with a session cookie (HttpOnly, SameSite=Lax, Secure over
HTTPS) and a CSRF token (also in the `lw_csrf` cookie) that state-changing requests send back in `X-CSRF-Token`.
Repeated failures per user and per address are throttled (429 with Retry-After) and every attempt is audited.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import orjson
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from logwarden.auth.audit import MAX_LIMIT, AuditLog, audit, client_address
from logwarden.auth.backend import CSRF_COOKIE, SESSION_COOKIE, LogwardenAuthBackend
from logwarden.auth.principal import principal_of
from logwarden.auth.roles import ROLE_PERMISSIONS
from logwarden.auth.store import AuthStore
from logwarden.auth.tenants import TenantRefusedError, request_tenant
from logwarden.auth.throttle import LoginThrottle
from logwarden.config.model import Config
from logwarden.meta.db import MetaDB
from logwarden.query.timerange import TimeRangeError, parse_time

MAX_PASSWORD_BYTES = 4096  # argon2 hashes anything; a megabyte password would only cost CPU


@dataclass
class AuthState:
    """What the auth routes share, stored in `app.state.auth` by the app factory."""

    config: Config
    backend: LogwardenAuthBackend
    throttle: LoginThrottle


def auth_state(config: Config, backend: LogwardenAuthBackend) -> AuthState:
    """The routes' shared state for `config`."""
    throttle = LoginThrottle(config.auth.login_max_failures, config.auth.login_lockout.total_seconds())
    return AuthState(config, backend, throttle)


def error_response(status: int, message: str, headers: dict[str, str] | None = None) -> JSONResponse:
    return JSONResponse({"error": message}, status_code=status, headers=headers)


def meta_of(request: Request) -> MetaDB | None:
    meta = getattr(request.app.state.runtime, "meta", None)  # api.runtime.Runtime (api depends on auth)
    return meta if isinstance(meta, MetaDB) else None


async def login(request: Request) -> Response:
    """Check a user's password; on success a session cookie and a CSRF token."""
    state: AuthState = request.app.state.auth
    meta = meta_of(request)
    if meta is None:
        return error_response(503, "logwarden is starting or stopping; retry shortly", {"Retry-After": "1"})
    try:
        body = orjson.loads(await request.body())
    except orjson.JSONDecodeError as exc:
        return error_response(400, f"request body is not valid JSON: {exc}")
    name, password = (body.get("user"), body.get("password")) if isinstance(body, dict) else (None, None)
    if not isinstance(name, str) or not isinstance(password, str) or not name:
        return error_response(400, 'send {"user": "<name>", "password": "<password>"}')
    if len(password.encode()) > MAX_PASSWORD_BYTES:
        return error_response(400, f"password longer than {MAX_PASSWORD_BYTES} bytes")
    client = client_address(request)
    actor = f"user:{name[:128]}"
    store = AuthStore(meta.engine)
    # A failed login of a known user is its tenant's business; names that match no user are the server's.
    known = await meta.run(store.user, name)
    where = known.tenant if known is not None else ""
    wait = state.throttle.retry_after(name, client)
    if wait > 0:
        await audit(request, "login", name, outcome="denied", tenant=where, actor=actor, reason="throttled")
        return error_response(429, f"too many failed logins: retry in {wait} s", {"Retry-After": str(wait)})
    user = await meta.run(store.check_password, name, password)
    if user is None:
        state.throttle.failed(name, client)
        await audit(request, "login", name, outcome="failed", tenant=where, actor=actor)
        return error_response(401, "wrong user name or password, or the user is disabled")
    state.throttle.succeeded(name, client)
    session = await meta.run(store.open_session, user, state.config.auth.session_ttl)
    await audit(request, "login", name, tenant=user.tenant, actor=actor)
    response = JSONResponse(
        {
            "user": user.name,
            "tenant": user.tenant,
            "role": user.role.value,
            "csrf_token": session.csrf_token,
            "expires": session.expires.isoformat().replace("+00:00", "Z"),
        }
    )
    secure = state.config.auth.cookie_secure
    if secure is None:
        secure = request.url.scheme == "https"
    max_age = int(state.config.auth.session_ttl.total_seconds())
    response.set_cookie(
        SESSION_COOKIE, session.token, max_age=max_age, httponly=True, secure=secure, samesite="lax", path="/"
    )
    # Readable by the console's scripts, which echo it in X-CSRF-Token (double submit).
    response.set_cookie(
        CSRF_COOKIE, session.csrf_token, max_age=max_age, httponly=False, secure=secure, samesite="lax", path="/"
    )
    return response


async def logout(request: Request) -> Response:
    """End the caller's session (its cookie stops working at once)."""
    principal = principal_of(request)
    meta = meta_of(request)
    if principal is not None and principal.session_hash is not None and meta is not None:
        await meta.run(AuthStore(meta.engine).close_session, principal.session_hash)
        await audit(request, "logout", principal.name)
    response = Response(status_code=204)
    response.delete_cookie(SESSION_COOKIE, path="/")
    response.delete_cookie(CSRF_COOKIE, path="/")
    return response


async def me(request: Request) -> Response:
    """Who the caller is: name, kind, tenant, role and its permissions."""
    state: AuthState = request.app.state.auth
    principal = principal_of(request)
    assert principal is not None  # the gate admits authenticated callers only
    return JSONResponse(
        {
            "name": principal.name,
            "kind": principal.kind,
            "tenant": principal.tenant,
            "role": principal.role.value,
            "permissions": sorted(p.value for p in ROLE_PERMISSIONS[principal.role]),
            "via": principal.via,
            "auth_enabled": state.config.auth.enabled,
        }
    )


async def request_context(request: Request) -> tuple[AuthStore, str, Any] | Response:
    """(the auth store, the request's tenant, the metadata DB), or the error response when the server is not
    ready or the tenant is refused."""
    state: AuthState = request.app.state.auth
    meta = meta_of(request)
    if meta is None:
        return error_response(503, "logwarden is starting or stopping; retry shortly", {"Retry-After": "1"})
    try:
        tenant = request_tenant(request, state.config)
    except TenantRefusedError as exc:
        return error_response(exc.status, exc.message)
    return AuthStore(meta.engine), tenant, meta


async def audit_entries(request: Request) -> Response:
    """The tenant's audit entries, newest first: `?actor=&action=&since=&limit=&before=` (`before`: the previous
    page's `next`)."""
    ctx = await request_context(request)
    if isinstance(ctx, Response):
        return ctx
    _, tenant, meta = ctx
    state: AuthState = request.app.state.auth
    params = request.query_params
    try:
        since = parse_time(params.get("since"), datetime.now(UTC), default=datetime(1, 1, 1, tzinfo=UTC), name="since")
    except TimeRangeError as exc:
        return error_response(400, str(exc))
    limit_text = params.get("limit", "100")
    if not limit_text.isdigit() or not 1 <= int(limit_text) <= MAX_LIMIT:
        return error_response(400, f"invalid 'limit' {limit_text[:20]!r}: use an integer from 1 to {MAX_LIMIT}")
    before_text = params.get("before") or None
    # An id is a 64-bit signed integer in the metadata database (SQLite, PostgreSQL): a larger one names no entry.
    if before_text is not None and not (before_text.isdigit() and int(before_text) < 1 << 63):
        return error_response(400, f"invalid 'before' {before_text[:20]!r}: the id of an entry (the answer's 'next')")
    log = AuditLog(meta.engine)
    entries = await meta.run(
        lambda: log.search(
            tenant=tenant,
            actor=params.get("actor") or None,
            action=params.get("action") or None,
            since=since,
            limit=int(limit_text),
            before=int(before_text) if before_text is not None else None,
            # Entries of no tenant (logins of unknown names) are for the server's operators: default-tenant admins.
            global_entries=tenant == state.config.ingest.default_tenant,
        )
    )
    body: dict[str, Any] = {"entries": [e.to_json() for e in entries], "tenant": tenant}
    # A full page may have older entries: `?before=<next>` asks for them.
    body["next"] = entries[-1].id if len(entries) == int(limit_text) else None
    return JSONResponse(body)


def routes() -> list[BaseRoute]:
    """The auth, audit, user and key routes (their permissions are in `auth.permissions.ROUTE_NEEDS`)."""
    from logwarden.auth import admin_routes  # it builds on this module's helpers

    return [
        *admin_routes.routes(),
        Route("/api/v1/auth/login", login, methods=["POST"]),
        Route("/api/v1/auth/logout", logout, methods=["POST"]),
        Route("/api/v1/auth/me", me, methods=["GET"]),
        Route("/api/v1/audit", audit_entries, methods=["GET"]),
    ]
