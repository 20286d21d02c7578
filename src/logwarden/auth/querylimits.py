"""Per-role query limits: a timeout and a row cap on every read of a tenant's lines, decided in one place.

`guard_routes` wraps each route of `READ_ROUTES` with `QueryLimitGate`, inside the permission gate (the
principal is known). The gate looks up the caller's role in `limits.roles` once, leaves the result in the
scope, and answers **408** with the reason when the route has not started its answer within the role's
`query_timeout` (`logwarden_refused_requests_total{status="408"}` counts it). SQL enforces the timeout itself:
its worker process is killed, so its route caps the statement's own `timeout` with `query_timeout(request)`.

Routes pass their limits through `api.row_caps.capped_rows`: a default above the role's `max_rows` is lowered to it (the
answer's own `truncated` / `total` fields say there was more), an explicit `limit` above it is refused with 400
naming the setting — a silent cut of a number the client chose would be wrong.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Final

from starlette.requests import HTTPConnection
from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from logwarden.auth.principal import principal_of
from logwarden.config.limits import LimitsConfig, RoleQueryLimits

SCOPE_KEY: Final = "logwarden.query_limits"

# Routes that read a tenant's lines (their timeouts and row caps come from the caller's role).
READ_ROUTES: Final = frozenset(
    {
        "/api/v1/search",
        "/api/v1/stats/count",
        "/api/v1/export",
        "/api/v1/query",
        "/api/v1/histogram",
        "/api/v1/fields",
        "/api/v1/context/{log_id}",
        "/api/v1/trace/{trace_id}",
        "/api/v1/patterns",
        "/api/v1/explain",
        "/api/v1/report",
        "/api/v1/rules/backtest",
        "/api/v1/sql",
    }
)
# Routes that stop their own work at the timeout (the SQL worker is killed): the gate only hands them the limits.
SELF_TIMED: Final = frozenset({"/api/v1/sql"})


def limits_of(conn: HTTPConnection) -> tuple[str, RoleQueryLimits] | None:
    """(role, its limits) of this request, when its role has any (set by QueryLimitGate)."""
    found = conn.scope.get(SCOPE_KEY)
    return found if isinstance(found, tuple) else None


def query_timeout(conn: HTTPConnection) -> float | None:
    """The role's query timeout in seconds, or None."""
    found = limits_of(conn)
    if found is None or found[1].query_timeout is None:
        return None
    return found[1].query_timeout.total_seconds()


class QueryLimitGate:
    """ASGI wrapper of one read route: the caller's role limits into the scope, 408 past its query timeout."""

    def __init__(
        self,
        app: ASGIApp,
        limits: LimitsConfig,
        path: str,
        on_refusal: Callable[[str], object] | None = None,
    ) -> None:
        self.app = app
        self.limits = limits
        self.path = path
        self.on_refusal = on_refusal  # called with the route's path per 408 (the refused-requests counter)
        self._by_role: dict[str, RoleQueryLimits] = {str(k): v for k, v in limits.roles.items()}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        principal = principal_of(HTTPConnection(scope)) if scope["type"] == "http" else None
        role_limits = self._by_role.get(principal.role.value) if principal is not None else None
        if principal is None or role_limits is None:
            await self.app(scope, receive, send)
            return
        scope[SCOPE_KEY] = (principal.role.value, role_limits)
        if role_limits.query_timeout is None or self.path in SELF_TIMED:
            await self.app(scope, receive, send)
            return
        seconds = role_limits.query_timeout.total_seconds()
        started = False

        async def tracked(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start" and not started:
                started = True
                deadline.reschedule(None)  # the answer is computed: sending it is not the query's time
            await send(message)

        try:
            async with asyncio.timeout(seconds) as deadline:
                await self.app(scope, receive, tracked)
        except TimeoutError:
            if started:
                raise
            if self.on_refusal is not None:
                self.on_refusal(self.path)
            role = principal.role.value
            response = JSONResponse(
                {
                    "error": f"the query ran longer than the {seconds:g}s allowed to role {role!r} "
                    f"(limits.roles.{role}.query_timeout): narrow its time range or its filters",
                    "timeout_seconds": seconds,
                },
                status_code=408,
            )
            await response(scope, receive, send)
