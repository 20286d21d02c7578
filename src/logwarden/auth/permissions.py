"""What each route needs, in one table, and the one gate that enforces it.

`ROUTE_NEEDS` maps a route's path (as in the app, mounts included) to what it needs: a `Permission`, or
`PUBLIC` (no credential needed: health, the login, the console's static shell), or `AUTHENTICATED` (any
principal). A path whose methods differ maps to a dict method → need (HEAD follows GET). `guard_routes` wraps
every route of the app with a gate that answers 401 without a principal and 403 without the permission; a
route missing from the table is admin-only (and the permission-matrix test fails until it is added).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Mapping
from typing import Final, Literal

from starlette.responses import JSONResponse
from starlette.routing import BaseRoute, Mount, Route
from starlette.types import ASGIApp, Receive, Scope, Send

from logwarden.auth.backend import CHALLENGE
from logwarden.auth.principal import Principal
from logwarden.auth.querylimits import READ_ROUTES, QueryLimitGate
from logwarden.auth.ratelimit import IngestLimiter, IngestRateGate
from logwarden.auth.roles import Permission
from logwarden.config.limits import LimitsConfig
from logwarden.config.security import AuthConfig

log = logging.getLogger(__name__)

PUBLIC: Final = "public"
AUTHENTICATED: Final = "authenticated"
Need = Permission | Literal["public", "authenticated"]
Spec = Need | Mapping[str, Need]

P = Permission
_READ = {"GET": P.SEARCH}

# The Elasticsearch emulation's paths (ingest/http/es_*.py), served at the root and under /es.
ES_PATHS = (
    "/_bulk",
    "/{index}/_bulk",
    "/_license",
    "/_xpack",
    "/_cluster/health",
    "/_cluster/health/{rest:path}",
    *(
        f"{base}{tail}"
        for base in (
            "/_index_template",
            "/_template",
            "/_component_template",
            "/_ilm/policy",
            "/_ingest/pipeline",
            "/_data_stream",
            "/_alias",
            "/_aliases",
        )
        for tail in ("", "/{name:path}")
    ),
    "/{index}",
    "/<{date_math:path}",
)

ROUTE_NEEDS: dict[str, Spec] = {
    # Probes and descriptions: no data behind them.
    "/healthz": PUBLIC,
    "/readyz": PUBLIC,
    "/ready": PUBLIC,  # Loki's readiness probe
    "/api/v1/openapi.json": PUBLIC,
    "/": PUBLIC,  # the console's shell (its data comes from the API), or Elasticsearch's cluster info
    "/dashboards": PUBLIC,  # a console page's shell
    "/alerts": PUBLIC,  # a console page's shell
    "/rules": PUBLIC,  # a console page's shell
    "/silences": PUBLIC,  # a console page's shell
    "/receivers": PUBLIC,  # a console page's shell (its data needs search; editing receivers.write)
    "/patterns": PUBLIC,  # a console page's shell
    "/login": PUBLIC,  # the console's login page
    "/admin/users": PUBLIC,  # console admin pages' shells: their data needs users.admin / audit.read
    "/admin/keys": PUBLIC,
    "/admin/audit": PUBLIC,
    "/es/": PUBLIC,
    "/console/static": PUBLIC,
    # Sessions and the audit log.
    "/api/v1/auth/login": PUBLIC,
    "/api/v1/auth/oidc": PUBLIC,  # is an OIDC login offered (api/routes/oidc.py)
    "/api/v1/auth/oidc/login": PUBLIC,  # to the OIDC provider
    "/api/v1/auth/oidc/callback": PUBLIC,  # back from it: the state, code and ID token are the credential
    "/api/v1/auth/logout": AUTHENTICATED,
    "/api/v1/auth/me": AUTHENTICATED,
    "/api/v1/audit": P.AUDIT_READ,
    "/api/v1/keys": P.USERS_ADMIN,
    "/api/v1/keys/{key_id}": P.USERS_ADMIN,
    "/api/v1/users": P.USERS_ADMIN,
    "/api/v1/users/{name}": P.USERS_ADMIN,
    "/api/v1/admin/delete": P.USERS_ADMIN,  # GDPR delete of lines by filter (api/routes/admin_delete.py)
    # Reading the tenant's lines.
    "/api/v1/search": P.SEARCH,
    "/api/v1/stats/count": P.SEARCH,
    "/api/v1/export": P.SEARCH,  # a search's lines as an NDJSON/CSV download (audited: search.export)
    "/api/v1/query": P.SEARCH,
    "/api/v1/histogram": P.SEARCH,
    "/api/v1/fields": P.SEARCH,
    "/api/v1/patterns": P.SEARCH,  # the tenant's log patterns (viewers read them)
    "/api/v1/explain": P.SEARCH,  # field values and patterns over-represented in a spike
    "/api/v1/report": P.SEARCH,  # the markdown summary of recent logs (viewers read it)
    "/api/v1/context/{log_id}": P.SEARCH,
    "/api/v1/trace/{trace_id}": P.SEARCH,
    "/api/v1/pipelines": P.SEARCH,
    "/api/v1/sql": P.SQL,
    "/api/v1/tail": P.TAIL,
    # Rules, alerts, silences, receivers, saved searches: reading needs `search`, changing its own permission.
    "/api/v1/rules/backtest": P.SEARCH,  # runs a rule over stored lines; changes nothing
    "/api/v1/rules": {**_READ, "POST": P.RULES_WRITE},
    "/api/v1/rules/{name}": {**_READ, "PUT": P.RULES_WRITE, "DELETE": P.RULES_WRITE},
    "/api/v1/silences": {**_READ, "POST": P.SILENCES_WRITE},
    "/api/v1/silences/{silence_id}": {**_READ, "PUT": P.SILENCES_WRITE, "DELETE": P.SILENCES_WRITE},
    "/api/v1/alerts": P.SEARCH,
    "/api/v1/alerts/history": P.SEARCH,
    "/api/v1/alerts/groups": P.SEARCH,
    "/api/v1/alerts/{fingerprint}/ack": P.SILENCES_WRITE,
    "/api/v1/receivers": P.SEARCH,  # the tenant's effective receivers (no secrets)
    # The tenant's own routing tree and receivers (admins: receivers hold secrets and send alert evidence out).
    "/api/v1/alerting/config": {**_READ, "PUT": P.RECEIVERS_WRITE, "DELETE": P.RECEIVERS_WRITE},
    "/api/v1/receivers/{name}/test": P.RECEIVERS_WRITE,  # sends a sample notification out now
    "/api/v1/saved-searches": {**_READ, "POST": P.SEARCHES_WRITE},
    "/api/v1/saved-searches/{search_id}": {**_READ, "PUT": P.SEARCHES_WRITE, "DELETE": P.SEARCHES_WRITE},
    # Dashboards are saved views like saved searches: viewers read them, editors (searches.write) change them.
    "/api/v1/dashboards": {**_READ, "POST": P.SEARCHES_WRITE},
    "/api/v1/dashboards/{dashboard_id}": {**_READ, "PUT": P.SEARCHES_WRITE, "DELETE": P.SEARCHES_WRITE},
    # Ingest, in every protocol.
    # Log metrics (logmetrics/routes.py): numbers derived from the tenant's lines.
    "/api/v1/metrics/query_range": P.SEARCH,
    "/api/v1/metrics/definitions": P.SEARCH,
    # Definitions apply to every tenant's lines: changing them is an administrator's.
    "/api/v1/metrics/definitions/{name}": {**_READ, "PUT": P.USERS_ADMIN, "DELETE": P.USERS_ADMIN},
    "/metrics/logs": P.SEARCH,
    "/api/v1/ingest": P.INGEST,
    "/loki/api/v1/push": P.INGEST,
    "/v1/logs": P.INGEST,
    **{path: P.INGEST for path in ES_PATHS},
    **{f"/es{path}": P.INGEST for path in ES_PATHS},
}


def route_needs(auth: AuthConfig) -> dict[str, Spec]:
    """The table, with the settings that change it applied (`auth.metrics_public`)."""
    return {**ROUTE_NEEDS, "/metrics": PUBLIC if auth.metrics_public else P.AUDIT_READ}


def need_of(spec: Spec, method: str) -> Need:
    """What `method` on a route with `spec` needs (HEAD as GET; a method the spec omits: admin-only)."""
    if isinstance(spec, Mapping):
        return spec.get("GET" if method == "HEAD" else method, P.USERS_ADMIN)
    return spec


class PermissionGate:
    """ASGI wrapper of one route: 401 without a principal, 403 without the permission, else the route."""

    def __init__(self, app: ASGIApp, spec: Spec, path: str) -> None:
        self.app = app
        self.spec = spec
        self.path = path

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] in ("http", "websocket"):
            need = need_of(self.spec, scope.get("method", "GET"))
            if need != PUBLIC:
                principal = scope.get("user")
                if not isinstance(principal, Principal):
                    response = JSONResponse(
                        {"error": "authentication required: send 'Authorization: Bearer <API key>' or log in"},
                        status_code=401,
                        headers={"WWW-Authenticate": CHALLENGE},
                    )
                    await response(scope, receive, send)
                    return
                if need != AUTHENTICATED and not principal.can(Permission(need)):
                    response = JSONResponse(
                        {"error": f"role {principal.role.value!r} lacks the {str(need)!r} permission for {self.path}"},
                        status_code=403,
                    )
                    await response(scope, receive, send)
                    return
        await self.app(scope, receive, send)


def guard_routes(
    routes: Iterable[BaseRoute],
    auth: AuthConfig,
    prefix: str = "",
    limiter: IngestLimiter | None = None,
    query_limits: LimitsConfig | None = None,
    on_timeout: Callable[[str], object] | None = None,
) -> None:
    """Wrap every route (inside mounts too) with its gate, in place; a route not in the table is admin-only.
    Routes that need `ingest` also get `limiter`'s rate gate, and the routes that read lines (querylimits.py)
    the per-role query limits of `query_limits`, inside the permission gate."""
    table = route_needs(auth)
    for route in routes:
        if isinstance(route, Mount) and route.routes:
            guard_routes(route.routes, auth, prefix + route.path, limiter, query_limits, on_timeout)
        elif isinstance(route, Route | Mount):
            path = prefix + route.path
            spec = table.get(path)
            if spec is None:
                log.warning("route %s has no entry in auth/permissions.py ROUTE_NEEDS: admins only", path)
                spec = P.USERS_ADMIN
            inner = route.app
            if limiter is not None and spec == P.INGEST:
                inner = IngestRateGate(inner, limiter, path)
            if query_limits is not None and query_limits.roles and path in READ_ROUTES:
                inner = QueryLimitGate(inner, query_limits, path, on_timeout)
            route.app = PermissionGate(inner, spec, path)


def app_paths(routes: Iterable[BaseRoute], prefix: str = "") -> list[tuple[str, frozenset[str]]]:
    """Every (path, methods) the routes serve, mounts expanded (a mount without routes: all methods, as "*")."""
    found: list[tuple[str, frozenset[str]]] = []
    for route in routes:
        if isinstance(route, Mount) and route.routes:
            found.extend(app_paths(route.routes, prefix + route.path))
        elif isinstance(route, Mount):
            found.append((prefix + route.path, frozenset({"*"})))
        elif isinstance(route, Route):
            found.append((prefix + route.path, frozenset(route.methods or ())))
    return found
