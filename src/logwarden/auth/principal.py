"""The principal of a request: who is calling (a user, an API key or the implicit local admin), its tenant and role."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from starlette.authentication import BaseUser
from starlette.requests import HTTPConnection

from logwarden.auth.roles import Permission, Role, allows

Kind = Literal["user", "key", "cert", "local"]
Via = Literal["session", "bearer", "basic", "implicit", "certificate"]


@dataclass(frozen=True, slots=True)
class Principal(BaseUser):
    """An authenticated caller. `name` is the user's name, the key's `lw_<prefix>`, the client certificate's
    matched name or `local`; `via` says how it
    was presented (a session cookie needs CSRF protection on state-changing requests)."""

    name: str
    kind: Kind
    tenant: str
    role: Role
    via: Via
    user_id: str | None = None
    session_hash: str | None = None  # the session's token hash (logout deletes it)
    csrf_hash: str | None = None  # the session's CSRF token hash (double submit)

    @property
    def is_authenticated(self) -> bool:
        return True

    @property
    def display_name(self) -> str:
        return self.name

    @property
    def identity(self) -> str:
        return f"{self.kind}:{self.name}"

    def can(self, permission: Permission) -> bool:
        """Whether this principal's role has `permission`."""
        return allows(self.role, permission)


def principal_of(conn: HTTPConnection) -> Principal | None:
    """The request's principal, or None when it presented no credential (or the app has no auth middleware)."""
    user = conn.scope.get("user")
    return user if isinstance(user, Principal) else None


def local_admin(tenant: str) -> Principal:
    """The single implicit admin of a server without authentication (bound to loopback only)."""
    return Principal(name="local", kind="local", tenant=tenant, role=Role.ADMIN, via="implicit")
