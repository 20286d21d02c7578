"""The one authentication middleware's backend: the principal of every request, resolved once.

Credentials, in order: `Authorization: Bearer <key>`, `Authorization: Basic` with the key as the password (for
shippers that only speak basic auth) or Elasticsearch's `ApiKey` scheme with the key, then the session cookie, then
a verified client certificate named in `http.tls.client_principals`.
A credential that is presented is always checked: an unknown, revoked or expired one gets 401 (even on routes
open without one). Without a credential the request is
anonymous; with `auth.enabled` off it is the implicit local admin instead (the server then binds to loopback only).
A state-changing request authenticated by the session cookie must carry the session's CSRF token in
`X-CSRF-Token` (double submit: the login response and the `lw_csrf` cookie hold it), else 403.
"""

from __future__ import annotations

import base64
import binascii
import time
from collections.abc import Callable
from dataclasses import dataclass
from urllib.parse import urlencode

from starlette.authentication import AuthCredentials, AuthenticationBackend, AuthenticationError, BaseUser
from starlette.requests import HTTPConnection
from starlette.responses import JSONResponse, RedirectResponse, Response

from logwarden.auth.credentials import digest, same_digest
from logwarden.auth.principal import Principal, local_admin
from logwarden.auth.roles import Role
from logwarden.auth.store import AuthStore
from logwarden.config.model import Config
from logwarden.meta.db import MetaDB

SESSION_COOKIE = "lw_session"
CSRF_COOKIE = "lw_csrf"
CSRF_HEADER = "X-CSRF-Token"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
CHALLENGE = 'Bearer realm="logwarden", Basic realm="logwarden"'


class CredentialRefusedError(AuthenticationError):
    """A presented credential is wrong, unknown, revoked or expired: 401."""


class SessionRefusedError(CredentialRefusedError):
    """The session cookie names no live session (ended, idle too long, user disabled): 401, cookies cleared."""


class CsrfRefusedError(AuthenticationError):
    """A state-changing request with a session cookie but without its CSRF token: 403."""


class MetaUnavailableError(AuthenticationError):
    """A credential came while the metadata database is not open yet (starting or stopping): 503."""


@dataclass(frozen=True, slots=True)
class _Cached:
    principal: Principal
    until: float


class KeyCache:
    """Checked API keys remembered for `ttl` seconds (monotonic clock), so ingest does not read the database
    per request; `forget()` after a revocation through the server makes it take effect at once."""

    def __init__(self, ttl: float, clock: Callable[[], float] = time.monotonic, max_entries: int = 10_000) -> None:
        self.ttl = ttl
        self.clock = clock
        self.max_entries = max_entries
        self._entries: dict[str, _Cached] = {}

    def get(self, credential_hash: str) -> Principal | None:
        hit = self._entries.get(credential_hash)
        if hit is None:
            return None
        if self.clock() >= hit.until:
            del self._entries[credential_hash]
            return None
        return hit.principal

    def put(self, credential_hash: str, principal: Principal) -> None:
        if self.ttl <= 0:
            return
        if len(self._entries) >= self.max_entries:
            self._entries.clear()  # a burst of distinct keys: start over rather than grow
        self._entries[credential_hash] = _Cached(principal, self.clock() + self.ttl)

    def forget(self) -> None:
        self._entries.clear()


class LogwardenAuthBackend(AuthenticationBackend):
    """Starlette `AuthenticationBackend`: `(credentials, principal)` or None (anonymous); raises the errors above.

    `meta` returns the open metadata database, or None while the server starts or stops.
    """

    def __init__(self, config: Config, meta: Callable[[], MetaDB | None]) -> None:
        self.config = config
        self.meta = meta
        self.keys = KeyCache(config.auth.credential_cache.total_seconds())
        self.local = local_admin(config.ingest.default_tenant)  # made once: auth off, every request is it
        self._cert_principals = {
            entry.name.lower(): Principal(
                name=entry.name, kind="cert", tenant=entry.tenant, role=Role(entry.role), via="certificate"
            )
            for entry in config.http.tls.client_principals
        }

    async def authenticate(self, conn: HTTPConnection) -> tuple[AuthCredentials, BaseUser] | None:
        principal = await self._principal(conn)
        if principal is None:
            if self.config.auth.enabled:
                return None
            principal = self.local
        return AuthCredentials([principal.role.value]), principal

    async def _principal(self, conn: HTTPConnection) -> Principal | None:
        header = conn.headers.get("authorization")
        if header:
            return await self._from_key(_key_text(header))
        token = conn.cookies.get(SESSION_COOKIE)
        if token:
            principal = await self._from_session(token)
            if conn.scope.get("method", "GET") not in SAFE_METHODS:
                _check_csrf(conn, principal)
            return principal
        return self._from_certificate(conn)

    def _from_certificate(self, conn: HTTPConnection) -> Principal | None:
        """The principal of a verified client certificate named in `http.tls.client_principals` (mTLS), if any."""
        tls = conn.scope.get("extensions", {}).get("tls")
        names = tls.get("client_cert_names", ()) if isinstance(tls, dict) else ()
        for name in names:
            mapped = self._cert_principals.get(name.lower())
            if mapped is not None:
                return mapped
        return None

    async def _from_key(self, text: str) -> Principal:
        cache_key = digest(text)
        cached = self.keys.get(cache_key)
        if cached is not None:
            return cached
        meta, store = self._store()
        key = await meta.run(store.check_key, text)
        if key is None:
            raise CredentialRefusedError("invalid, revoked or expired API key")
        principal = Principal(name=key.id, kind="key", tenant=key.tenant, role=key.role, via="bearer")
        self.keys.put(cache_key, principal)
        return principal

    async def _from_session(self, token: str) -> Principal:
        meta, store = self._store()
        session = await meta.run(store.session, token, self.config.auth.session_idle_timeout)
        if session is None:
            raise SessionRefusedError("session expired or unknown: log in again")
        user = session.user
        return Principal(
            name=user.name,
            kind="user",
            tenant=user.tenant,
            role=user.role,
            via="session",
            user_id=user.id,
            session_hash=session.token_hash,
            csrf_hash=session.csrf_hash,
        )

    def _store(self) -> tuple[MetaDB, AuthStore]:
        meta = self.meta()
        if meta is None:
            raise MetaUnavailableError("logwarden is starting or stopping; retry shortly")
        return meta, AuthStore(meta.engine)


def _key_text(header: str) -> str:
    """The API key in an Authorization header (Bearer, or Basic with the key as the password)."""
    scheme, _, value = header.strip().partition(" ")
    value = value.strip()
    if scheme.lower() == "bearer" and value:
        return value
    if scheme.lower() == "apikey" and value.startswith("lw_"):
        return value  # Elasticsearch clients' `api_key` option, given the key as it is
    if scheme.lower() in ("basic", "apikey") and value:
        # Basic: base64 of `user:key`; Elasticsearch's ApiKey: base64 of `id:key`. Either way the key comes last.
        try:
            decoded = base64.b64decode(value, validate=True).decode()
        except (binascii.Error, UnicodeDecodeError):
            raise CredentialRefusedError(f"malformed {scheme} credentials") from None
        _, sep, password = decoded.partition(":")
        if sep and password:
            return password
    raise CredentialRefusedError("unsupported Authorization header: send 'Bearer <API key>'")


def _check_csrf(conn: HTTPConnection, principal: Principal) -> None:
    sent = conn.headers.get(CSRF_HEADER, "")
    if not sent or principal.csrf_hash is None or not same_digest(sent, principal.csrf_hash):
        raise CsrfRefusedError(f"missing or wrong {CSRF_HEADER} header (send the csrf_token given at login)")


def auth_error(conn: HTTPConnection, exc: Exception) -> Response:
    """The middleware's answer to a refused credential: 401 (with a challenge), 403 for CSRF, 503 when starting."""
    if isinstance(exc, CsrfRefusedError):
        return JSONResponse({"error": str(exc)}, status_code=403)
    if isinstance(exc, MetaUnavailableError):
        return JSONResponse({"error": str(exc)}, status_code=503, headers={"Retry-After": "1"})
    if isinstance(exc, SessionRefusedError):
        return _session_ended(conn, str(exc))
    return JSONResponse({"error": str(exc)}, status_code=401, headers={"WWW-Authenticate": CHALLENGE})


def _session_ended(conn: HTTPConnection, message: str) -> Response:
    """A stale session cookie: the browser forgets it; a console page opened with it goes to the login page."""
    navigation = (
        conn.scope.get("method") in ("GET", "HEAD")
        and "text/html" in conn.headers.get("accept", "")
        and not conn.url.path.startswith("/api/")
    )
    response: Response
    if navigation:
        here = conn.url.path + (f"?{conn.url.query}" if conn.url.query else "")
        response = RedirectResponse("/login?" + urlencode({"next": here}), status_code=303)
    else:
        response = JSONResponse({"error": message}, status_code=401, headers={"WWW-Authenticate": CHALLENGE})
    response.delete_cookie(SESSION_COOKIE, path="/")
    response.delete_cookie(CSRF_COOKIE, path="/")
    return response
