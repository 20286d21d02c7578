"""The OpenAPI 3.1 document of the HTTP API, served at GET /api/v1/openapi.json.

Written by hand next to the routes it describes; tests/unit/api/test_openapi.py keeps the two in step (every
route is documented and every documented operation exists) and validates the document as OpenAPI 3.1.
"""

from __future__ import annotations

import functools
from typing import Any

import orjson
from starlette.requests import Request
from starlette.responses import Response

from logwarden import __version__
from logwarden.api.runtime import TENANT_HEADER

OPENAPI_PATH = "/api/v1/openapi.json"
# Paths outside /api/v1 that the document covers: ingest protocols and the operational endpoints.
DOCUMENTED_OTHER_PATHS = (
    "/_bulk",
    "/{index}/_bulk",
    "/loki/api/v1/push",
    "/v1/logs",
    "/healthz",
    "/readyz",
    "/metrics",
    "/metrics/logs",
)

Schema = dict[str, Any]

_TIME_HELP = (
    "RFC 3339 (2026-01-02T15:04:05Z), epoch seconds or milliseconds, `now`, or relative: `15m` or `now-15m` "
    "(back), `now+1h` (forward). Between 0001-01-01T00:00:00Z and 9999-12-31T23:59:59Z."
)
_ERROR: Schema = {
    "type": "object",
    "required": ["error"],
    "properties": {
        "error": {"type": "string", "description": "What was wrong and where."},
        "column": {"type": "integer", "description": "1-based column of a query syntax error."},
        "line": {"type": "integer", "description": "1-based line of an SQL error."},
        "text": {"type": "string", "description": "The offending piece of the query."},
    },
}
_LINE: Schema = {
    "type": "object",
    "description": "One stored line: the core columns and `attrs` (every other field).",
    "properties": {
        "ts": {"type": "string", "format": "date-time"},
        "observed_ts": {"type": "string", "format": "date-time"},
        "tenant": {"type": "string"},
        "service": {"type": ["string", "null"]},
        "host": {"type": ["string", "null"]},
        "level": {"type": ["string", "null"]},
        "severity": {"type": ["integer", "null"]},
        "message": {"type": ["string", "null"]},
        "trace_id": {"type": ["string", "null"]},
        "span_id": {"type": ["string", "null"]},
        "source": {"type": ["string", "null"]},
        "log_id": {"type": "string"},
        "attrs": {"type": "object"},
    },
}
_INGEST_RESULT: Schema = {
    "type": "object",
    "required": ["accepted", "rejected"],
    "properties": {
        "accepted": {"type": "integer", "description": "Lines stored durably."},
        "rejected": {"type": "integer", "description": "Lines sent to the dead-letter stream."},
        "duplicates": {"type": "integer", "description": "Lines whose log_id was already stored."},
        "refused": {"type": "integer"},
        "refused_reason": {"type": "string"},
        "rejected_reason": {
            "type": "string",
            "description": "Why lines went to the dead-letter stream when a limit sent them there "
            "(limits.max_fields_per_record, limits.max_attr_keys_per_tenant).",
        },
    },
}
_SAVED_SEARCH_INPUT: Schema = {
    "type": "object",
    "required": ["name", "query"],
    "properties": {
        "name": {"type": "string", "minLength": 1, "maxLength": 200},
        "query": {"type": "string", "maxLength": 10_000, "description": "Search language text (may be empty)."},
        "start": {"type": ["string", "null"], "description": _TIME_HELP},
        "end": {"type": ["string", "null"], "description": _TIME_HELP},
    },
}
_SAVED_SEARCH: Schema = {
    "type": "object",
    "properties": {
        "id": {"type": "string"},
        "name": {"type": "string"},
        "query": {"type": "string"},
        "start": {"type": ["string", "null"]},
        "end": {"type": ["string", "null"]},
        "created": {"type": "string"},
        "updated": {"type": "string"},
    },
}


def _ref(name: str) -> Schema:
    return {"$ref": f"#/components/schemas/{name}"}


def _json(schema: Schema) -> Schema:
    return {"application/json": {"schema": schema}}


def _query_param(name: str, description: str, schema: Schema | None = None) -> Schema:
    return {"name": name, "in": "query", "required": False, "description": description, "schema": schema or _STR}


def _path_param(name: str, description: str) -> Schema:
    return {"name": name, "in": "path", "required": True, "description": description, "schema": _STR}


_STR: Schema = {"type": "string"}
_TENANT = {"$ref": "#/components/parameters/Tenant"}
_START = {"$ref": "#/components/parameters/Start"}
_END = {"$ref": "#/components/parameters/End"}


def _responses(ok: Schema | None, *errors: int, ok_status: str = "200", description: str = "Success") -> Schema:
    answers: Schema = {}
    if ok is not None:
        answers[ok_status] = {"description": description, "content": _json(ok)}
    else:
        answers[ok_status] = {"description": description}
    texts = {
        400: "A client mistake: the message says what was wrong and where.",
        404: "Not found.",
        408: "The query ran past its timeout.",
        409: "The name is taken.",
        413: "The body or a line is larger than the limits.",
        415: "Unsupported Content-Type.",
        429: "Overloaded: retry after the Retry-After header.",
        503: "Starting, stopping or busy: retry after the Retry-After header.",
    }
    for status in errors:
        answers[str(status)] = {"description": texts[status], "content": _json(_ref("Error"))}
    return answers


def _ingest_operation(summary: str, description: str, media: dict[str, Schema], *params: Schema) -> Schema:
    return {
        "summary": summary,
        "description": description,
        "tags": ["ingest"],
        "parameters": [_TENANT, {"$ref": "#/components/parameters/ContentEncoding"}, *params],
        "requestBody": {"required": True, "content": media},
        "responses": _responses(_ref("IngestResult"), 400, 413, 415, 429, 503),
    }


def _bytes(description: str) -> Schema:
    return {"schema": {"type": "string", "description": description}}


def _paths() -> Schema:
    from logwarden.api.openapi_alerting import alerting_paths  # they build on this module's helpers
    from logwarden.api.openapi_dashboards import dashboards_paths
    from logwarden.api.openapi_logmetrics import log_metrics_paths
    from logwarden.api.openapi_oidc import oidc_paths
    from logwarden.api.openapi_patterns import patterns_paths
    from logwarden.api.openapi_rules import rules_paths
    from logwarden.api.openapi_search import search_paths
    from logwarden.api.openapi_silences import silences_paths
    from logwarden.auth.openapi import auth_paths

    return {
        **search_paths(),
        **rules_paths(),
        **alerting_paths(),
        **auth_paths(),
        **oidc_paths(),
        **silences_paths(),
        **log_metrics_paths(),
        **patterns_paths(),
        **dashboards_paths(),
        "/api/v1/saved-searches": {
            "get": {
                "summary": "The tenant's saved searches, by name",
                "tags": ["saved searches"],
                "parameters": [_TENANT],
                "responses": _responses(
                    {
                        "type": "object",
                        "properties": {"saved_searches": {"type": "array", "items": _ref("SavedSearch")}},
                    },
                    400,
                    503,
                ),
            },
            "post": {
                "summary": "Save a search",
                "tags": ["saved searches"],
                "parameters": [_TENANT],
                "requestBody": {"required": True, "content": _json(_ref("SavedSearchInput"))},
                "responses": _responses(_ref("SavedSearch"), 400, 409, 503, ok_status="201", description="Created"),
            },
        },
        "/api/v1/saved-searches/{search_id}": {
            "parameters": [_path_param("search_id", "The saved search's id."), _TENANT],
            "get": {
                "summary": "One saved search",
                "tags": ["saved searches"],
                "responses": _responses(_ref("SavedSearch"), 400, 404, 503),
            },
            "put": {
                "summary": "Replace a saved search",
                "tags": ["saved searches"],
                "requestBody": {"required": True, "content": _json(_ref("SavedSearchInput"))},
                "responses": _responses(_ref("SavedSearch"), 400, 404, 409, 503),
            },
            "delete": {
                "summary": "Delete a saved search",
                "tags": ["saved searches"],
                "responses": _responses(None, 400, 404, 503, ok_status="204", description="Deleted"),
            },
        },
        "/api/v1/ingest": {
            "post": _ingest_operation(
                "Native ingest: NDJSON or a JSON array of objects",
                "Acknowledged only once durable; lines that cannot be decoded go to the dead-letter stream.",
                {
                    "application/x-ndjson": _bytes("One JSON object per line."),
                    "application/json": {"schema": {"type": "array", "items": {"type": "object"}}},
                    "text/plain": _bytes("One JSON object per line."),
                },
                _query_param("service", "Service for lines that name none."),
                _query_param("host", "Host for lines that name none."),
            )
        },
        "/_bulk": {
            "post": _ingest_operation(
                "Elasticsearch _bulk emulation",
                "Action and document lines as Elasticsearch clients and shippers send them.",
                {"application/x-ndjson": _bytes("Action and document lines."), "application/json": _bytes("NDJSON")},
            ),
            "put": _ingest_operation(
                "Elasticsearch _bulk emulation (PUT)",
                "Same as POST.",
                {"application/x-ndjson": _bytes("Action and document lines.")},
            ),
        },
        "/{index}/_bulk": {
            "post": _ingest_operation(
                "Elasticsearch _bulk with a default index",
                "The index names the stream of documents without `_index`.",
                {"application/x-ndjson": _bytes("Action and document lines.")},
                _path_param("index", "Default index name."),
            ),
            "put": _ingest_operation(
                "Elasticsearch _bulk with a default index (PUT)",
                "Same as POST.",
                {"application/x-ndjson": _bytes("Action and document lines.")},
                _path_param("index", "Default index name."),
            ),
        },
        "/loki/api/v1/push": {
            "post": _ingest_operation(
                "Loki push API",
                "JSON streams, or snappy-compressed protobuf (`application/x-protobuf`).",
                {
                    "application/json": {
                        "schema": {
                            "type": "object",
                            "properties": {"streams": {"type": "array", "items": {"type": "object"}}},
                        }
                    },
                    "application/x-protobuf": _bytes("Snappy-compressed logproto.PushRequest."),
                },
            )
        },
        "/v1/logs": {
            "post": _ingest_operation(
                "OpenTelemetry OTLP/HTTP logs",
                "ExportLogsServiceRequest as JSON or protobuf.",
                {
                    "application/json": {
                        "schema": {
                            "type": "object",
                            "properties": {"resourceLogs": {"type": "array", "items": {"type": "object"}}},
                        }
                    },
                    "application/x-protobuf": _bytes("ExportLogsServiceRequest."),
                },
            )
        },
        "/healthz": {
            "get": {
                "summary": "Liveness: the process serves HTTP",
                "tags": ["operations"],
                "responses": _responses({"type": "object", "properties": {"status": {"const": "ok"}}}),
            }
        },
        "/readyz": {
            "get": {
                "summary": "Readiness: the store is open and accepting writes",
                "tags": ["operations"],
                "responses": {
                    "200": {"description": "Ready.", "content": _json({"type": "object"})},
                    "503": {"description": "Starting or stopping.", "content": _json({"type": "object"})},
                },
            }
        },
        "/metrics": {
            "get": {
                "summary": "Prometheus metrics of logwarden itself",
                "tags": ["operations"],
                "responses": {
                    "200": {"description": "Prometheus text format.", "content": {"text/plain": {"schema": _STR}}}
                },
            }
        },
        OPENAPI_PATH: {
            "get": {
                "summary": "This document",
                "tags": ["operations"],
                "responses": _responses({"type": "object"}),
            }
        },
    }


def _with_role_timeouts(paths: Schema) -> Schema:
    """Each read route's 408: past its role's `limits.roles.<role>.query_timeout` (auth/querylimits.py)."""
    from logwarden.auth.querylimits import READ_ROUTES

    for path, item in paths.items():
        if path in READ_ROUTES:
            for operation in item.values():
                if isinstance(operation, dict) and "responses" in operation:
                    operation["responses"].setdefault(
                        "408",
                        {
                            "description": "The query ran past the caller's role's query_timeout.",
                            "content": _json(_ref("Error")),
                        },
                    )
    return paths


def build_document() -> Schema:
    """The OpenAPI 3.1 document as a dict."""
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "logwarden",
            "version": __version__,
            "description": "Log ingest (native, Elasticsearch _bulk, Loki, OTLP), search, SQL and live tail.",
        },
        "paths": _with_role_timeouts(_paths()),
        "components": {
            "schemas": {
                "Error": _ERROR,
                "Line": _LINE,
                "IngestResult": _INGEST_RESULT,
                "SavedSearch": _SAVED_SEARCH,
                "SavedSearchInput": _SAVED_SEARCH_INPUT,
            },
            "parameters": {
                "Tenant": {
                    "name": TENANT_HEADER,
                    "in": "header",
                    "required": False,
                    "description": "The tenant: 1-64 letters, digits, '_', '.', '-' (default: ingest.default_tenant).",
                    "schema": _STR,
                },
                "Start": _query_param("start", f"Start of the time range (inclusive). {_TIME_HELP}"),
                "End": _query_param("end", f"End of the time range (exclusive). {_TIME_HELP}"),
                "ContentEncoding": {
                    "name": "Content-Encoding",
                    "in": "header",
                    "required": False,
                    "description": "gzip, zstd, deflate, or snappy (Loki protobuf).",
                    "schema": _STR,
                },
            },
        },
    }


@functools.cache
def document_bytes() -> bytes:
    """The document as JSON, built once per process."""
    return orjson.dumps(build_document())


async def openapi_json(request: Request) -> Response:
    """GET /api/v1/openapi.json: the OpenAPI 3.1 document of this API."""
    return Response(document_bytes(), media_type="application/json")
