"""Security settings: HTTPS and client certificates (`http.tls`), logins, sessions and OIDC (`auth`).

Each field's docstring is its reference documentation (docs/config.md, docs/security.md).
"""

from __future__ import annotations

import importlib.util
import re
from datetime import timedelta
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator, model_validator

from logwarden.model.tenants import check_tenant
from logwarden.model.units import Duration


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", use_attribute_docstrings=True)


class ClientCertPrincipal(_Frozen):
    """A verified client certificate acting as an API key would: its tenant and role (docs/security.md)."""

    name: str = Field(min_length=1)
    """Matched, ignoring case, against the certificate's subject common name (CN) and its DNS, email and URI
    subject alternative names."""
    tenant: str
    """The tenant the certificate's requests act in."""
    role: Literal["ingest", "viewer", "editor", "admin"] = "ingest"
    """The role it holds in that tenant."""

    @field_validator("tenant")
    @classmethod
    def _tenant_name(cls, v: str) -> str:
        return check_tenant(v)


class TlsConfig(_Frozen):
    """HTTPS for the HTTP API (docs/security.md). On when `cert_file` is set; SIGHUP reloads the files."""

    cert_file: Path | None = None
    """PEM certificate chain of the server (leaf first). Setting it turns TLS on: plain HTTP is refused."""
    key_file: Path | None = None
    """PEM private key of the certificate; unset: the key is in `cert_file`."""
    key_password: SecretStr | None = None
    """Password of an encrypted `key_file`."""
    min_version: Literal["1.2", "1.3"] = "1.2"
    """Oldest TLS version accepted."""
    client_auth: Literal["none", "optional", "require"] = "none"
    """Client certificates (mTLS): `require` refuses the handshake of a client without a certificate signed by
    `client_ca_file`; `optional` asks for one and checks it when given (a bad one is refused)."""
    client_ca_file: Path | None = None
    """PEM bundle of the CAs that sign client certificates (needed unless `client_auth` is `none`)."""
    client_principals: list[ClientCertPrincipal] = Field(default_factory=list)
    """Verified client certificates that authenticate requests by themselves (no API key needed): a list of
    `{name, tenant, role}`; `name` is matched against the certificate's CN and DNS/email/URI names."""
    hsts_max_age: Duration = Field(timedelta(days=365), ge=timedelta(0))
    """`Strict-Transport-Security: max-age` sent on every HTTPS response (0: no header)."""

    @property
    def enabled(self) -> bool:
        """Whether the API speaks HTTPS."""
        return self.cert_file is not None

    @model_validator(mode="after")
    def _consistent(self) -> TlsConfig:
        if self.cert_file is None and (self.key_file is not None or self.client_auth != "none"):
            raise ValueError("cert_file: needed when key_file or client_auth is set (TLS is on only with it)")
        if self.client_auth != "none" and self.client_ca_file is None:
            raise ValueError(f"client_ca_file: needed with client_auth: {self.client_auth}")
        if self.client_principals and self.client_auth == "none":
            raise ValueError("client_principals: needs client_auth optional or require")
        return self


class OidcConfig(_Frozen):
    """Log in through an OpenID Connect provider (authorization code + PKCE); docs/security.md, "OIDC"."""

    issuer: str
    """The provider's issuer URL, exactly as its ID tokens' `iss` (its discovery document is
    `<issuer>/.well-known/openid-configuration`)."""
    client_id: str = Field(min_length=1)
    """This server's client id at the provider (ID tokens must name it in `aud`)."""
    client_secret: SecretStr | None = None
    """The client secret (sent with HTTP basic auth to the token endpoint); unset for a public client (PKCE only)."""
    redirect_url: str
    """This server's callback as the browser reaches it, registered at the provider:
    `https://logs.example.com/api/v1/auth/oidc/callback`."""
    scopes: list[str] = Field(default_factory=lambda: ["openid", "profile", "email"])
    """Scopes asked for (`openid` is always sent)."""
    name: str = Field("OIDC", min_length=1, max_length=40)
    """The provider's name on the console's button ("Sign in with <name>")."""
    username_claim: str = "sub"
    """The claim that names the user (logwarden user `oidc:<value>`): `sub` never changes; use `email` or
    `preferred_username` only if the provider does not let users change them."""
    role_claim: str | None = None
    """A claim holding the user's groups or roles (a string or a list of strings), mapped by `role_map`."""
    role_map: dict[str, Literal["admin", "editor", "viewer"]] = Field(default_factory=dict)
    """Claim value → role; with several matches the strongest role wins (admin > editor > viewer)."""
    default_role: Literal["admin", "editor", "viewer"] | None = "viewer"
    """The role of a user no `role_map` entry matches; null refuses such users."""
    tenant_claim: str | None = None
    """A claim naming the user's tenant; unset (or absent from the token): `default_tenant`."""
    default_tenant: str | None = None
    """The tenant of users without a tenant claim; unset: `ingest.default_tenant`."""
    http_timeout: Duration = Field(timedelta(seconds=10), gt=timedelta(0))
    """Timeout of each request to the provider (discovery, keys, token exchange)."""

    @field_validator("default_tenant")
    @classmethod
    def _tenant(cls, value: str | None) -> str | None:
        if value is not None:
            check_tenant(value)
        return value

    @field_validator("issuer")
    @classmethod
    def _issuer(cls, value: str) -> str:
        if not re.fullmatch(r"https?://[^\s/?#]+[^\s?#]*", value):
            raise ValueError(f"{value[:200]!r} is not an http(s) URL without query: use the provider's issuer URL")
        return value

    @model_validator(mode="after")
    def _extra_installed(self) -> OidcConfig:
        # Checked at start, not at the first login: a missing library is the operator's to fix.
        if importlib.util.find_spec("joserfc") is None:
            raise ValueError("the OIDC login needs the `oidc` extra: pip install 'logwarden[oidc]'")
        return self

    @field_validator("redirect_url")
    @classmethod
    def _redirect(cls, value: str) -> str:
        if not re.fullmatch(r"https?://[^\s/?#]+/api/v1/auth/oidc/callback", value):
            raise ValueError(
                f"{value[:200]!r} must be this server's URL ending in /api/v1/auth/oidc/callback"
                " (https://logs.example.com/api/v1/auth/oidc/callback)"
            )
        return value


class AuthConfig(_Frozen):
    enabled: bool = False
    """Require a credential (API key, or a user's session) on every route but health, readiness and (see
    `metrics_public`) metrics. Off: the server must bind to loopback (`http.host` 127.0.0.1 or ::1) and every
    request acts as one implicit local admin; binding elsewhere without auth refuses to start. A request that
    presents a credential is checked either way: an unknown, revoked or expired one gets 401 (docs/security.md)."""
    session_ttl: Duration = Field(timedelta(hours=12), gt=timedelta(0))
    """Longest life of a browser session (from login), however active."""
    session_idle_timeout: Duration = Field(timedelta(hours=1), gt=timedelta(0))
    """A session unused this long ends (each use extends it, up to `session_ttl`)."""
    cookie_secure: bool | None = None
    """Mark the session cookie Secure (sent over HTTPS only). Unset: when the login request came over HTTPS."""
    trusted_tenant_header: list[Literal["ingest", "editor", "admin"]] = Field(default_factory=list)
    """Roles whose API keys may name each request's tenant in the X-Scope-OrgID header (a trusted shipper relaying
    several tenants); other keys are held to their own tenant (another tenant in the header: 403). Admins always
    may (they read across tenants explicitly)."""
    metrics_public: bool = True
    """Serve /metrics without a credential (Prometheus scrapes); false: it needs the `audit.read` permission."""
    credential_cache: Duration = Field(timedelta(seconds=10), ge=timedelta(0))
    """How long a checked API key is remembered (no database read per request): a revoked key stops working
    within this time. 0 checks the database on every request."""
    login_max_failures: int = Field(5, ge=1)
    """Failed logins, per user name and per client address, before further attempts must wait (1 s, doubling
    with each failure, up to `login_lockout`); 429 with Retry-After meanwhile."""
    login_lockout: Duration = Field(timedelta(minutes=15), gt=timedelta(0))
    """Longest wait imposed after repeated failed logins; failures older than this are forgotten."""
    oidc: OidcConfig | None = None
    """Offer a login through an OpenID Connect provider beside passwords (docs/security.md, "OIDC")."""
