"""HTTP ingest endpoints; each protocol module lists its routes here."""

from __future__ import annotations

from starlette.routing import BaseRoute, Route

from logwarden.ingest.http import es_bulk, loki, native, otlp
from logwarden.ingest.http.es_probes import probe_routes


def routes() -> list[BaseRoute]:
    """Every HTTP ingest route (the native API and the protocols of other shippers).

    The Elasticsearch probes come last: they include `GET /` and `HEAD|PUT /{index}`, which must not
    take a request that a more specific route answers.
    """
    return [
        Route(native.ROUTE, native.ingest, methods=["POST"]),
        Route(loki.ROUTE, loki.push, methods=["POST"]),
        Route(loki.READY_ROUTE, loki.ready, methods=["GET"]),
        Route(otlp.ROUTE, otlp.export_logs, methods=["POST"]),
        Route(es_bulk.ROUTE, es_bulk.bulk, methods=["POST", "PUT"]),
        Route(es_bulk.INDEX_ROUTE, es_bulk.bulk, methods=["POST", "PUT"]),
        *probe_routes(),
    ]
