"""The OpenAPI paths of the log metrics (`/api/v1/metrics/*`, `/metrics/logs`), merged by api/openapi.py."""

from __future__ import annotations

from logwarden.api.openapi import _END, _START, _STR, _TENANT, Schema, _json, _path_param, _query_param, _responses
from logwarden.logmetrics.query import FUNCTIONS

_SERIES: Schema = {
    "type": "object",
    "properties": {
        "metric": _STR,
        "type": _STR,
        "fn": _STR,
        "by": {"type": "array", "items": _STR},
        "start": {"type": "integer"},
        "end": {"type": "integer"},
        "step": {"type": "integer", "description": "Seconds per point (the grid starts at a multiple of it)."},
        "tier": {"type": "string", "enum": ["10s", "1m", "5m", "1h", "1d"]},
        "series": {
            "type": "array",
            "items": {
                "type": "object",
                "properties": {
                    "labels": {"type": "object", "additionalProperties": _STR},
                    "values": {
                        "type": "array",
                        "items": {"type": "array", "items": {"type": "number"}},
                        "description": "[epoch seconds, value] pairs.",
                    },
                },
            },
        },
    },
}


_DEFINITION: Schema = {
    "type": "object",
    "description": "A metric definition (docs/metrics.md): name, query, type, field, labels, max_series, buckets.",
    "properties": {
        "name": _STR,
        "query": _STR,
        "type": {"type": "string", "enum": ["counter", "sum", "histogram", "summary"]},
        "field": {"type": ["string", "null"]},
        "labels": {"type": "array", "items": _STR},
        "max_series": {"type": "integer", "minimum": 1},
        "buckets": {"type": "array", "items": {"type": "number"}},
        "description": _STR,
    },
}


def log_metrics_paths() -> dict[str, Schema]:
    """The paths, keyed as in the document."""
    return {
        "/api/v1/metrics/query_range": {
            "get": {
                "summary": "A log metric over a time range",
                "description": (
                    "`fn` of the metric per `step`, one series per combination of the `by` labels, read from the "
                    "coarsest tier (10s, 1m, 5m, 1h, 1d) whose width divides the step and that still holds `start` "
                    "(docs/metrics.md). `sum` and `rate` fill steps without lines with 0."
                ),
                "tags": ["metrics"],
                "parameters": [
                    _TENANT,
                    {**_query_param("metric", "The metric's name."), "required": True},
                    _query_param(
                        "fn", "What each point is (default rate).", {"type": "string", "enum": list(FUNCTIONS)}
                    ),
                    _query_param("by", "Comma-separated labels of the metric to group by (default: none, one series)."),
                    _START,
                    _END,
                    _query_param("step", "Seconds or a duration (`1m`), a multiple of 10s; default ~250 points."),
                ],
                "responses": _responses(_SERIES, 400, 404, 503),
            }
        },
        "/api/v1/metrics/definitions": {
            "get": {
                "summary": "The log metrics in force",
                "tags": ["metrics"],
                "responses": _responses(
                    {"type": "object", "properties": {"metrics": {"type": "array", "items": {"type": "object"}}}},
                    404,
                    503,
                ),
            }
        },
        "/api/v1/metrics/definitions/{name}": {
            "parameters": [_path_param("name", "The metric's name.")],
            "get": {
                "summary": "One log metric in force",
                "tags": ["metrics"],
                "responses": _responses(_DEFINITION, 404, 503),
            },
            "put": {
                "summary": "Create or replace a log metric (admins)",
                "description": (
                    "A definition made through the API (kept in `<data_dir>/logmetrics/definitions.yaml`), applied "
                    "from the next stored batch on, without a restart; 409 for a built-in metric or one defined "
                    "in the config."
                ),
                "tags": ["metrics"],
                "requestBody": {"required": True, "content": _json(_DEFINITION)},
                "responses": _responses(_DEFINITION, 400, 404, 409, 503),
            },
            "delete": {
                "summary": "Delete a log metric made through the API (admins)",
                "description": "Its stored series stay, unnamed by queries until a metric of that name exists again.",
                "tags": ["metrics"],
                "responses": _responses(None, 404, 409, 503, ok_status="204", description="Deleted"),
            },
        },
        "/metrics/logs": {
            "get": {
                "summary": "Log metrics for Prometheus",
                "description": (
                    "Current values in the Prometheus text format: running totals since the server started, "
                    "with a `tenant` label (only that tenant's with X-Scope-OrgID)."
                ),
                "tags": ["metrics"],
                "parameters": [_TENANT],
                "responses": {
                    "200": {"description": "Prometheus exposition", "content": {"text/plain": {"schema": _STR}}},
                    **_responses(None, 404, 503),
                },
            }
        },
    }
