"""OpenID Connect login (authorization code + PKCE): the provider's metadata and keys, the login's pending state,
the code exchange and the ID token check (signature against the issuer's JWKS, `iss`, `aud`, `exp`, `nonce`).

The JOSE work is joserfc's (pip extra `oidc`); this module only decides what is asked and what is accepted.
A pending login (state → nonce, PKCE verifier, where to go next) lives in this process's memory for
`PENDING_TTL`, bound to the browser by a cookie holding the state.
"""

from __future__ import annotations

import base64
import hashlib
import secrets
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

import httpx

from logwarden.config.security import OidcConfig

PENDING_TTL = 600.0  # seconds a browser has to come back from the provider
MAX_PENDING = 10_000  # pending logins kept (the oldest go first): bounded memory under a flood of /login hits
LEEWAY = 60  # seconds of clock difference with the provider accepted on exp / iat
ALGORITHMS = ["RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512", "EdDSA"]
METADATA_TTL = 3600.0  # the discovery document and the keys are fetched again after this long


class OidcError(Exception):
    """A login that cannot go on: `reason` is short and safe to show (audited, and on the login page)."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class OidcUnavailableError(OidcError):
    """The provider could not be reached or answered nonsense (502)."""


@dataclass(frozen=True, slots=True)
class PendingLogin:
    """What the callback needs from the login that sent the browser away."""

    nonce: str
    verifier: str
    next: str
    created: float


@dataclass(frozen=True, slots=True)
class ProviderMetadata:
    """The parts of the discovery document a code login uses."""

    authorization_endpoint: str
    token_endpoint: str
    jwks_uri: str


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def pkce_challenge(verifier: str) -> str:
    """S256 code challenge of a PKCE verifier (RFC 7636)."""
    return _b64(hashlib.sha256(verifier.encode()).digest())


class PendingLogins:
    """Logins on their way through the provider, by state; each is taken once, within PENDING_TTL."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self.clock = clock
        self._by_state: OrderedDict[str, PendingLogin] = OrderedDict()

    def start(self, next_path: str) -> tuple[str, PendingLogin]:
        """A new (state, pending login)."""
        now = self.clock()
        while self._by_state and (len(self._by_state) >= MAX_PENDING or self._oldest_expired(now)):
            self._by_state.popitem(last=False)
        state = secrets.token_urlsafe(32)
        pending = PendingLogin(secrets.token_urlsafe(32), secrets.token_urlsafe(48), next_path, now)
        self._by_state[state] = pending
        return state, pending

    def _oldest_expired(self, now: float) -> bool:
        first = next(iter(self._by_state.values()))
        return now - first.created > PENDING_TTL

    def take(self, state: str) -> PendingLogin | None:
        """The login of `state`, removed (a replayed callback finds nothing); None when unknown or too old."""
        pending = self._by_state.pop(state, None)
        if pending is None or self.clock() - pending.created > PENDING_TTL:
            return None
        return pending


class OidcClient:
    """The relying party of one configured provider."""

    def __init__(self, config: OidcConfig, clock: Callable[[], float] = time.time) -> None:
        self.config = config
        self.clock = clock  # wall time, seconds: exp and iat are compared with it
        self.pending = PendingLogins()
        self._metadata: tuple[float, ProviderMetadata] | None = None
        self._keys: tuple[float, Any] | None = None

    async def _get_json(self, url: str) -> dict[str, Any]:
        try:
            async with httpx.AsyncClient(timeout=self.config.http_timeout.total_seconds()) as client:
                resp = await client.get(url, headers={"Accept": "application/json"})
        except httpx.HTTPError as exc:
            raise OidcUnavailableError(f"the provider is unreachable ({type(exc).__name__})") from None
        if resp.status_code != 200:
            raise OidcUnavailableError(f"the provider answered {resp.status_code} for {url}")
        try:
            body = resp.json()
        except ValueError:
            raise OidcUnavailableError(f"the provider's {url} is not JSON") from None
        if not isinstance(body, dict):
            raise OidcUnavailableError(f"the provider's {url} is not a JSON object")
        return body

    async def metadata(self) -> ProviderMetadata:
        """The discovery document's endpoints (cached for METADATA_TTL); its issuer must be the configured one."""
        if self._metadata is not None and self.clock() - self._metadata[0] < METADATA_TTL:
            return self._metadata[1]
        issuer = self.config.issuer.rstrip("/")
        doc = await self._get_json(f"{issuer}/.well-known/openid-configuration")
        if doc.get("issuer") != self.config.issuer:
            raise OidcUnavailableError(f"the discovery document names issuer {str(doc.get('issuer'))[:200]!r}")
        try:
            found = ProviderMetadata(
                str(doc["authorization_endpoint"]), str(doc["token_endpoint"]), str(doc["jwks_uri"])
            )
        except KeyError as exc:
            raise OidcUnavailableError(f"the discovery document has no {exc.args[0]}") from None
        self._metadata = (self.clock(), found)
        return found

    async def _key_set(self, refresh: bool = False) -> Any:
        from joserfc.jwk import KeySet  # the `oidc` extra: imported only when a provider is configured

        if not refresh and self._keys is not None and self.clock() - self._keys[0] < METADATA_TTL:
            return self._keys[1]
        doc = await self._get_json((await self.metadata()).jwks_uri)
        try:
            keys = KeySet.import_key_set(doc)  # type: ignore[arg-type]
        except Exception:  # joserfc raises several types for a malformed set
            raise OidcUnavailableError("the provider's JWKS cannot be read") from None
        self._keys = (self.clock(), keys)
        return keys

    async def authorization_url(self, next_path: str) -> tuple[str, str]:
        """(URL to send the browser to, the state for its cookie)."""
        meta = await self.metadata()
        state, pending = self.pending.start(next_path)
        scopes = list(dict.fromkeys(["openid", *self.config.scopes]))
        query = {
            "response_type": "code",
            "client_id": self.config.client_id,
            "redirect_uri": self.config.redirect_url,
            "scope": " ".join(scopes),
            "state": state,
            "nonce": pending.nonce,
            "code_challenge": pkce_challenge(pending.verifier),
            "code_challenge_method": "S256",
        }
        sep = "&" if "?" in meta.authorization_endpoint else "?"
        return f"{meta.authorization_endpoint}{sep}{urlencode(query)}", state

    async def exchange(self, code: str, pending: PendingLogin) -> dict[str, Any]:
        """Trade the code for tokens and return the checked ID token's claims."""
        meta = await self.metadata()
        form = {
            "grant_type": "authorization_code",
            "code": code,
            "redirect_uri": self.config.redirect_url,
            "code_verifier": pending.verifier,
        }
        auth: httpx.Auth | None = None
        if self.config.client_secret is not None:  # client_secret_basic
            auth = httpx.BasicAuth(self.config.client_id, self.config.client_secret.get_secret_value())
        else:
            form["client_id"] = self.config.client_id
        try:
            async with httpx.AsyncClient(timeout=self.config.http_timeout.total_seconds()) as client:
                headers = {"Accept": "application/json"}
                if auth is None:
                    resp = await client.post(meta.token_endpoint, data=form, headers=headers)
                else:
                    resp = await client.post(meta.token_endpoint, data=form, headers=headers, auth=auth)
        except httpx.HTTPError as exc:
            raise OidcUnavailableError(f"the token endpoint is unreachable ({type(exc).__name__})") from None
        if resp.status_code != 200:
            raise OidcError(f"the provider refused the code ({resp.status_code})")
        try:
            token = resp.json().get("id_token")
        except (ValueError, AttributeError):
            raise OidcUnavailableError("the token endpoint's answer is not a JSON object") from None
        if not isinstance(token, str):
            raise OidcError("the provider sent no ID token")
        return await self.verify(token, pending.nonce)

    async def verify(self, id_token: str, nonce: str) -> dict[str, Any]:
        """The ID token's claims once its signature (the issuer's keys), iss, aud, azp, exp, iat and nonce hold."""
        from joserfc import jwt
        from joserfc.errors import JoseError

        fetched = self._keys is None or self.clock() - self._keys[0] >= METADATA_TTL
        try:
            token = jwt.decode(id_token, await self._key_set(), algorithms=ALGORITHMS)
        except (JoseError, ValueError) as exc:
            if fetched:
                raise OidcError(f"the ID token is not valid ({_why(exc)})") from None
            # Signed with a key the provider rotated in since the set was cached: fetch the set once more.
            try:
                token = jwt.decode(id_token, await self._key_set(refresh=True), algorithms=ALGORITHMS)
            except (JoseError, ValueError) as again:
                raise OidcError(f"the ID token is not valid ({_why(again)})") from None
        claims = dict(token.claims)
        registry = jwt.JWTClaimsRegistry(
            now=lambda: int(self.clock()),
            leeway=LEEWAY,
            iss={"essential": True, "value": self.config.issuer},
            aud={"essential": True, "value": self.config.client_id},
            exp={"essential": True},
            iat={"essential": True},
            sub={"essential": True},
            nonce={"essential": True, "value": nonce},
        )
        try:
            registry.validate(claims)
        except JoseError as exc:
            raise OidcError(f"the ID token is not valid ({exc.error}: {exc.description})") from None
        aud = claims.get("aud")
        if isinstance(aud, list) and len(aud) > 1 and claims.get("azp") != self.config.client_id:
            raise OidcError("the ID token is not valid (azp is not this client)")
        return claims


def _why(exc: Exception) -> str:
    """A short reason for a rejected token: joserfc's error code, or "malformed"."""
    from joserfc.errors import JoseError

    return exc.error if isinstance(exc, JoseError) else "malformed"
