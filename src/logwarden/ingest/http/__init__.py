"""HTTP ingest endpoints; each protocol module lists its routes here."""

from __future__ import annotations

from starlette.routing import BaseRoute, Route

from logwarden.ingest.http import native


def routes() -> list[BaseRoute]:
    """Every HTTP ingest route (the native API and the protocols of other shippers)."""
    return [
        Route(native.ROUTE, native.ingest, methods=["POST"]),
    ]
