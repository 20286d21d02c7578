"""The OpenAPI paths of reading the stored lines (`/api/v1/search`, `/export`, `/stats/count`, `/query`,
`/histogram`, `/fields`, `/pipelines`, `/sql`, `/context`, `/trace`, `/tail`), merged by api/openapi.py."""

from __future__ import annotations

from logwarden.api.openapi import (
    _END,
    _START,
    _STR,
    _TENANT,
    _TIME_HELP,
    Schema,
    _json,
    _path_param,
    _query_param,
    _ref,
    _responses,
)
from logwarden.query.durations import MAX_DURATION_DAYS
from logwarden.query.parser import PIPE_NAMES

_Q = _query_param("q", "A query in the search language (docs/query.md).")
_FILTERS = [
    _query_param(name, f"Only lines whose {name} is one of these comma-separated values.")
    for name in ("service", "host", "level", "source")
]


def _limit(maximum: int, default: int) -> Schema:
    return _query_param(
        "limit",
        f"At most this many rows (default {default}).",
        {"type": "integer", "minimum": 1, "maximum": maximum},
    )


def _query_body() -> Schema:
    return {
        "type": "object",
        "properties": {
            "q": {"type": "string"},
            "start": {"type": "string", "description": _TIME_HELP},
            "end": {"type": "string", "description": _TIME_HELP},
            "limit": {"type": "integer", "minimum": 1, "maximum": 10_000},
        },
    }


def search_paths() -> Schema:
    """The paths of the search and read routes."""
    query_result: Schema = {
        "type": "object",
        "required": ["kind", "start", "end"],
        "properties": {
            "kind": {"type": "string", "enum": ["hits", "table"]},
            "start": {"type": "string", "format": "date-time"},
            "end": {"type": "string", "format": "date-time"},
            "total": {"type": "integer"},
            "hits": {"type": "array", "items": _ref("Line")},
            "columns": {"type": "array", "items": {"type": "object"}},
            "rows": {"type": "array", "items": {"type": "array"}},
            "took_ms": {"type": "number"},
        },
    }
    query_params = [_TENANT, _Q, _START, _END, _limit(10_000, 100)]
    pipes = ", ".join(PIPE_NAMES)
    return {
        "/api/v1/search": {
            "get": {
                "summary": "Lines whose message holds every word of q",
                "tags": ["search"],
                "parameters": [_TENANT, _Q, _START, _END, _limit(10_000, 100), *_FILTERS],
                "responses": _responses(
                    {
                        "type": "object",
                        "properties": {"total": {"type": "integer"}, "hits": {"type": "array", "items": _ref("Line")}},
                    },
                    400,
                    503,
                ),
            }
        },
        "/api/v1/export": {
            "get": {
                "summary": "The answer of a query as an NDJSON or CSV download, streamed (audited: search.export)",
                "description": "The query of /api/v1/query: lines (filters and line pipes) or, after an "
                "aggregation, its table. A bad query is a 400 with the column.",
                "tags": ["search"],
                "parameters": [
                    _TENANT,
                    _Q,
                    _START,
                    _END,
                    _limit(1_000_000, 100_000),
                    _query_param("format", "ndjson (default) or csv.", {"type": "string", "enum": ["ndjson", "csv"]}),
                    _query_param("fields", "CSV of lines: comma-separated attribute names, columns after message."),
                ],
                "responses": {
                    **_responses(None, 400, 408, 503),
                    "200": {
                        "description": "A file (Content-Disposition: attachment).",
                        "content": {
                            "application/x-ndjson": {"schema": _STR},
                            "text/csv": {"schema": _STR},
                        },
                    },
                },
            }
        },
        "/api/v1/stats/count": {
            "get": {
                "summary": "Line counts, optionally grouped by fields",
                "tags": ["search"],
                "parameters": [
                    _TENANT,
                    _Q,
                    _START,
                    _END,
                    _limit(10_000, 1000),
                    _query_param("by", "Comma-separated fields to group by (service, host, level, source, attrs)."),
                    *_FILTERS,
                ],
                "responses": _responses(
                    {
                        "type": "object",
                        "properties": {
                            "by": {"type": "array", "items": _STR},
                            "counts": {"type": "array", "items": {"type": "object"}},
                            "total": {"type": "integer"},
                        },
                    },
                    400,
                    503,
                ),
            }
        },
        "/api/v1/query": {
            "get": {
                "summary": "Run a query in the search language",
                "description": f"Hits, or a table after one of the pipes {pipes}.",
                "tags": ["query"],
                "parameters": query_params,
                "responses": _responses(query_result, 400, 503),
            },
            "post": {
                "summary": "Run a query in the search language (parameters in a JSON body)",
                "tags": ["query"],
                "parameters": [_TENANT],
                "requestBody": {"required": True, "content": _json(_query_body())},
                "responses": _responses(query_result, 400, 503),
            },
        },
        "/api/v1/histogram": {
            "get": {
                "summary": "Zero-filled line counts per time bucket",
                "tags": ["query"],
                "parameters": [
                    _TENANT,
                    _Q,
                    _START,
                    _END,
                    _query_param("buckets", "About this many buckets (default 60).", {"type": "integer", "minimum": 1}),
                    _query_param("interval", f"A fixed bucket width: 10s, 5m, 1h, 1d; at most {MAX_DURATION_DAYS}d."),
                    _query_param("by", "Split the counts by the values of this field."),
                ],
                "responses": _responses(
                    {
                        "type": "object",
                        "properties": {
                            "start": {"type": "string", "format": "date-time"},
                            "end": {"type": "string", "format": "date-time"},
                            "interval_seconds": {"type": "number"},
                            "total": {"type": "integer"},
                            "buckets": {"type": "array", "items": {"type": "object"}},
                            "by": {"type": "string"},
                            "series": {"type": "array", "items": {"type": "object"}},
                            "took_ms": {"type": "number"},
                        },
                    },
                    400,
                    503,
                ),
            }
        },
        "/api/v1/fields": {
            "get": {
                "summary": "The fields of the newest matching lines, with top values",
                "tags": ["query"],
                "parameters": [_TENANT, _Q, _START, _END],
                "responses": _responses({"type": "object"}, 400, 503),
            }
        },
        "/api/v1/pipelines": {
            "get": {
                "summary": "The running pipeline version and the last refused reload",
                "tags": ["pipelines"],
                "responses": _responses({"type": "object"}),
            }
        },
        "/api/v1/sql": {
            "post": {
                "summary": "One read-only SELECT over the tenant's `logs` view",
                "tags": ["sql"],
                "parameters": [_TENANT],
                "requestBody": {
                    "required": True,
                    "content": _json(
                        {
                            "type": "object",
                            "required": ["sql"],
                            "properties": {
                                "sql": {"type": "string"},
                                "start": {"type": "string", "description": _TIME_HELP},
                                "end": {"type": "string", "description": _TIME_HELP},
                                "limit": {"type": "integer", "minimum": 1},
                                "timeout": {"type": "number", "exclusiveMinimum": 0},
                            },
                        }
                    ),
                },
                "responses": _responses(
                    {
                        "type": "object",
                        "properties": {
                            "columns": {"type": "array"},
                            "rows": {"type": "array", "items": {"type": "array"}},
                            "row_count": {"type": "integer"},
                            "truncated": {"type": "boolean"},
                            "limit": {"type": "integer"},
                            "start": {"type": "string", "format": "date-time"},
                            "end": {"type": "string", "format": "date-time"},
                            "took_ms": {"type": "number"},
                        },
                    },
                    400,
                    408,
                    503,
                ),
            }
        },
        "/api/v1/context/{log_id}": {
            "get": {
                "summary": "The lines before and after one line, from the same host and service",
                "tags": ["read"],
                "parameters": [
                    _path_param("log_id", "The line's log_id."),
                    _TENANT,
                    _query_param("before", "Lines before (default 20).", {"type": "integer", "minimum": 0}),
                    _query_param("after", "Lines after (default 20).", {"type": "integer", "minimum": 0}),
                    _START,
                    _END,
                ],
                "responses": _responses(
                    {
                        "type": "object",
                        "properties": {
                            "log_id": _STR,
                            "host": {"type": ["string", "null"]},
                            "service": {"type": ["string", "null"]},
                            "lines": {"type": "array", "items": _ref("Line")},
                        },
                    },
                    400,
                    404,
                    503,
                ),
            }
        },
        "/api/v1/trace/{trace_id}": {
            "get": {
                "summary": "Every line of one trace, oldest first, with a summary",
                "tags": ["read"],
                "parameters": [
                    _path_param("trace_id", "The trace id."),
                    _TENANT,
                    _query_param("limit", "At most this many lines.", {"type": "integer", "minimum": 1}),
                    _START,
                    _END,
                ],
                "responses": _responses(
                    {
                        "type": "object",
                        "properties": {
                            "trace_id": _STR,
                            "summary": {"type": "object"},
                            "truncated": {"type": "boolean"},
                            "lines": {"type": "array", "items": _ref("Line")},
                        },
                    },
                    400,
                    404,
                    503,
                ),
            }
        },
        "/api/v1/tail": {
            "get": {
                "summary": "Live tail: new matching lines as Server-Sent Events",
                "description": "One `data:` event per line (JSON); `event: dropped` when the client reads too slowly.",
                "tags": ["read"],
                "parameters": [_TENANT, _query_param("q", "A filter in the search language (no pipes).")],
                "responses": {
                    "200": {
                        "description": "An endless event stream.",
                        "content": {"text/event-stream": {"schema": _STR}},
                    },
                    **_responses(None, 400, 503),
                },
            }
        },
    }
