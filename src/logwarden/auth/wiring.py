"""Installing authentication on the app: the exposure check, the middleware, the route gates, the shared state."""

from __future__ import annotations

from collections.abc import Callable

from starlette.applications import Starlette
from starlette.middleware.authentication import AuthenticationMiddleware

from logwarden.auth.backend import LogwardenAuthBackend, auth_error
from logwarden.auth.exposure import check_exposure
from logwarden.auth.permissions import guard_routes
from logwarden.auth.routes import auth_state
from logwarden.config.model import Config
from logwarden.meta.db import MetaDB


def protect(app: Starlette, config: Config, meta: Callable[[], MetaDB | None]) -> None:
    """Refuse a non-loopback bind without auth (ConfigError), then resolve a principal per request and gate
    every route of `app` by `auth.permissions.ROUTE_NEEDS`. Call once, after the routes are in place."""
    check_exposure(config)
    backend = LogwardenAuthBackend(config, meta)
    guard_routes(app.router.routes, config.auth)
    app.add_middleware(AuthenticationMiddleware, backend=backend, on_error=auth_error)
    app.state.auth = auth_state(config, backend)
