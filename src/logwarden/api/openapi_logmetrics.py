"""The OpenAPI paths of the log metrics (`/api/v1/metrics/*`, `/metrics/logs`), merged by api/openapi.py."""

from __future__ import annotations

from logwarden.api.openapi import _END, _START, _STR, _TENANT, Schema, _query_param, _responses
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
        "tier": {"type": "string", "enum": ["10s", "1m", "5m", "1h"]},
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


def log_metrics_paths() -> dict[str, Schema]:
    """The paths, keyed as in the document."""
    return {
        "/api/v1/metrics/query_range": {
            "get": {
                "summary": "A log metric over a time range",
                "description": (
                    "`fn` of the metric per `step`, one series per combination of the `by` labels, read from the "
                    "coarsest tier (10s, 1m, 5m, 1h) whose width divides the step and that still holds `start` "
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
