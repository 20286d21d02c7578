"""The tenant of a request: the principal's, never a header's, except for admins and trusted shippers.

An admin picks another tenant explicitly with `X-Scope-OrgID`; keys of a role listed in
`auth.trusted_tenant_header` (a shipper relaying several tenants) route by it too. Anyone else naming another
tenant there gets 403: a credential only ever reaches its own tenant.
"""

from __future__ import annotations

from starlette.requests import HTTPConnection

from logwarden.auth.principal import principal_of
from logwarden.auth.roles import Role
from logwarden.config.model import Config
from logwarden.model.tenants import TENANT_RULE, is_tenant

TENANT_HEADER = "X-Scope-OrgID"


class TenantRefusedError(Exception):
    """The request names a tenant it may not use, or an invalid one (status 400 or 403)."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


def request_tenant(conn: HTTPConnection, config: Config) -> str:
    """The tenant this request acts in (see the module docstring); TenantRefusedError when it may not."""
    value = conn.headers.get(TENANT_HEADER) or None
    if value is not None and not is_tenant(value):
        raise TenantRefusedError(400, f"invalid tenant in {TENANT_HEADER}: {TENANT_RULE}")
    principal = principal_of(conn)
    if principal is None:
        # Only an app without the auth middleware (an embedding application's own routes) gets here.
        return value or config.ingest.default_tenant
    if value is None or value == principal.tenant:
        return principal.tenant
    if principal.role == Role.ADMIN:
        return value
    if principal.kind in ("key", "cert") and principal.role.value in config.auth.trusted_tenant_header:
        return value
    raise TenantRefusedError(
        403, f"this credential is scoped to tenant {principal.tenant!r}; it cannot act in tenant {value!r}"
    )
