"""Installing authentication on the app: the exposure check, the middleware, the route gates, the shared state."""

from __future__ import annotations

from collections.abc import Callable

from starlette.applications import Starlette
from starlette.middleware.authentication import AuthenticationMiddleware

from logwarden.auth.backend import LogwardenAuthBackend, auth_error
from logwarden.auth.exposure import check_exposure
from logwarden.auth.hsts import HstsMiddleware
from logwarden.auth.permissions import guard_routes
from logwarden.auth.ratelimit import IngestLimiter
from logwarden.auth.routes import auth_state
from logwarden.config.model import Config
from logwarden.meta.db import MetaDB


def protect(app: Starlette, config: Config, meta: Callable[[], MetaDB | None]) -> None:
    """Refuse a non-loopback bind without auth (ConfigError), then resolve a principal per request, gate every
    route of `app` by `auth.permissions.ROUTE_NEEDS` and the ingest routes by `limits`, and send HSTS over HTTPS.
    Call once, after the routes are in place."""
    check_exposure(config)
    backend = LogwardenAuthBackend(config, meta)
    refused = getattr(getattr(getattr(app.state, "runtime", None), "metrics", None), "refused_requests", None)
    # Rate-limited requests count in logwarden_refused_requests{route, status="429"} like other refusals.
    limiter = IngestLimiter(config, on_refusal=(lambda path: refused.labels(path, "429").inc()) if refused else None)
    on_timeout = (lambda path: refused.labels(path, "408").inc()) if refused else None
    guard_routes(app.router.routes, config.auth, limiter=limiter, query_limits=config.limits, on_timeout=on_timeout)
    app.add_middleware(AuthenticationMiddleware, backend=backend, on_error=auth_error)
    max_age = int(config.http.tls.hsts_max_age.total_seconds())
    if config.http.tls.enabled and max_age > 0:
        app.add_middleware(HstsMiddleware, max_age=max_age)  # outermost: errors of the auth layer get it too
    app.state.auth = auth_state(config, backend)
    app.state.ingest_limiter = limiter  # its clock is replaced in tests
