"""An OIDC login's claims → a logwarden user: `oidc:<username claim>`, made on its first login, its role mapped
from a claim at every login (the provider is the source of truth), its tenant from a claim or the default.

A disabled user is refused whatever the provider says; a user whose tenant claim changed is refused too (an
admin moves users between tenants, not a token).
"""

from __future__ import annotations

import secrets
from typing import Any

from logwarden.auth.oidc import OidcError
from logwarden.auth.roles import Role
from logwarden.auth.store import AuthStore, AuthStoreError, User
from logwarden.config.security import OidcConfig
from logwarden.model.tenants import is_tenant

USER_PREFIX = "oidc:"  # password users cannot be reached through a provider, nor OIDC users by password
_STRENGTH = {Role.VIEWER: 1, Role.EDITOR: 2, Role.ADMIN: 3}


def user_name(config: OidcConfig, claims: dict[str, Any]) -> str:
    """`oidc:<value of the username claim>`; OidcError when the token lacks it or it cannot be a user name."""
    value = claims.get(config.username_claim)
    if isinstance(value, bool) or not isinstance(value, str | int) or str(value) == "":
        raise OidcError(f"the ID token has no {config.username_claim!r} claim")
    name = USER_PREFIX + str(value)
    if len(name) > 128 or any(c.isspace() for c in name):
        raise OidcError(
            f"the {config.username_claim!r} claim cannot be a user name (at most 123 characters, no spaces)"
        )
    return name


def mapped_role(config: OidcConfig, claims: dict[str, Any]) -> Role:
    """The strongest role `role_map` gives the values of `role_claim`, else `default_role`; OidcError for none."""
    raw = claims.get(config.role_claim) if config.role_claim else None
    values = [raw] if isinstance(raw, str) else [v for v in raw if isinstance(v, str)] if isinstance(raw, list) else []
    roles = [Role(config.role_map[v]) for v in values if v in config.role_map]
    if roles:
        return max(roles, key=lambda r: _STRENGTH[r])
    if config.default_role is None:
        raise OidcError("no role: the token's groups match no entry of auth.oidc.role_map")
    return Role(config.default_role)


def mapped_tenant(config: OidcConfig, claims: dict[str, Any], server_default: str) -> str:
    """The tenant the token names in `tenant_claim`, else `default_tenant`, else the server's default tenant."""
    raw = claims.get(config.tenant_claim) if config.tenant_claim else None
    tenant = raw if isinstance(raw, str) and raw else config.default_tenant or server_default
    if not is_tenant(tenant):
        raise OidcError(f"the token's tenant {tenant[:64]!r} is not a valid tenant name")
    return tenant


def login_user(store: AuthStore, config: OidcConfig, claims: dict[str, Any], server_default_tenant: str) -> User:
    """The user of a verified login: created on first login, its role kept in step with the token (blocking)."""
    name = user_name(config, claims)
    role = mapped_role(config, claims)
    tenant = mapped_tenant(config, claims, server_default_tenant)
    user = store.user(name)
    if user is None:
        try:
            # No password logs in as this user: a random one nobody is told.
            return store.add_user(name, secrets.token_urlsafe(32), tenant=tenant, role=role)
        except AuthStoreError:
            user = store.user(name)  # made by a concurrent first login
            if user is None:
                raise
    if user.disabled:
        raise OidcError("the user is disabled")
    if user.tenant != tenant:
        raise OidcError(f"the user belongs to tenant {user.tenant!r}, the token names {tenant!r}")
    if user.role != role:
        user = store.set_role(name, role)
    return user
