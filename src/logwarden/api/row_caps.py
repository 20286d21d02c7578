"""Row caps per role on the routes that read lines (docs/security.md, "Query limits per role").

The caller's limits come from `auth.querylimits` (its gate put them in the scope); this module turns a cap into
the route's answer: a default above the role's `max_rows` is lowered to it, an explicit `limit` above it is a 400.
"""

from __future__ import annotations

from starlette.requests import HTTPConnection

from logwarden.api.errors import ApiError
from logwarden.auth.querylimits import limits_of


def capped_rows(conn: HTTPConnection, value: int, *, explicit: bool, name: str = "limit") -> int:
    """`value` within the role's `max_rows`: a default is lowered to it, an explicit value above it is a 400."""
    found = limits_of(conn)
    if found is None or found[1].max_rows is None or value <= found[1].max_rows:
        return value
    role, limits = found
    cap = limits.max_rows
    assert cap is not None
    if explicit:
        raise ApiError(
            400,
            f"{name} {value} is above the row cap of role {role!r} ({cap}, limits.roles.{role}.max_rows): "
            f"ask for at most {cap} rows, or narrow the query",
        )
    return cap
