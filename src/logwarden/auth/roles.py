"""Roles and permissions: what each role may do, in one table (docs/security.md shows it)."""

from __future__ import annotations

from enum import StrEnum


class Permission(StrEnum):
    """Something a route needs the caller to be allowed to do."""

    INGEST = "ingest"
    SEARCH = "search"  # read the tenant's lines and its alerting objects (rules, alerts, silences, receivers)
    SQL = "sql"
    TAIL = "tail"
    SEARCHES_WRITE = "searches.write"  # saved searches
    RULES_WRITE = "rules.write"
    SILENCES_WRITE = "silences.write"  # silences and acknowledgements
    RECEIVERS_WRITE = "receivers.write"
    USERS_ADMIN = "users.admin"  # users and API keys
    AUDIT_READ = "audit.read"


class Role(StrEnum):
    """A role held in one tenant: admin ⊇ editor ⊇ viewer; `ingest` may only send lines."""

    ADMIN = "admin"
    EDITOR = "editor"
    VIEWER = "viewer"
    INGEST = "ingest"


_VIEWER = frozenset({Permission.SEARCH, Permission.TAIL})
_EDITOR = _VIEWER | {Permission.SQL, Permission.SEARCHES_WRITE, Permission.RULES_WRITE, Permission.SILENCES_WRITE}

ROLE_PERMISSIONS: dict[Role, frozenset[Permission]] = {
    Role.ADMIN: frozenset(Permission),
    Role.EDITOR: _EDITOR,
    Role.VIEWER: _VIEWER,
    Role.INGEST: frozenset({Permission.INGEST}),
}


def allows(role: Role, permission: Permission) -> bool:
    """Whether `role` has `permission`."""
    return permission in ROLE_PERMISSIONS[role]


def parse_role(value: str) -> Role:
    """The role named `value`; ValueError naming the roles otherwise."""
    try:
        return Role(value)
    except ValueError:
        raise ValueError(f"unknown role {value!r}: use one of {', '.join(r.value for r in Role)}") from None
