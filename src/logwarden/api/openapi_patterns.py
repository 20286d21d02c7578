"""The OpenAPI paths of the log patterns (`/api/v1/patterns`, `/api/v1/explain`, `/api/v1/report`), merged by
api/openapi.py."""

from __future__ import annotations

from logwarden.api.openapi import _END, _START, _STR, _TENANT, Schema, _query_param, _responses

_PATTERN: Schema = {
    "type": "object",
    "properties": {
        "pattern_id": {"type": "string", "description": "16 hex digits; the `pattern_id` of the lines."},
        "service": _STR,
        "template": {"type": "string", "description": "Variable parts as <num>, <ip>, ... or <*>."},
        "window_lines": {"type": "integer", "description": "Lines in [start, end)."},
        "trend": {
            "type": "array",
            "items": {"type": "integer"},
            "description": "Lines in each of `buckets` equal slices of the range (a sparkline).",
        },
        "lines": {"type": "integer", "description": "Lines ever counted."},
        "levels": {"type": "object", "additionalProperties": {"type": "integer"}, "description": "Level mix."},
        "samples": {"type": "array", "items": _STR, "description": "The first few messages seen."},
        "first_seen": {"type": "string", "format": "date-time"},
        "last_seen": {"type": "string", "format": "date-time"},
    },
}


_EXPLANATION: Schema = {
    "type": "object",
    "properties": {
        "field": _STR,
        "value": _STR,
        "window_lines": {"type": "integer"},
        "baseline_lines": {"type": "integer"},
        "window_share": {"type": "number"},
        "baseline_share": {"type": "number"},
        "score": {"type": "number", "description": "Two-proportion z-score; above 3 is unlikely to be chance."},
        "p_value": {"type": "number"},
        "template": {"type": "string", "description": "For a pattern_id: its template."},
    },
}


def patterns_paths() -> Schema:
    """`/api/v1/patterns`, `/api/v1/explain` and `/api/v1/report`."""
    return {
        "/api/v1/patterns": {
            "get": {
                "summary": "The tenant's log patterns in a time range, most lines first",
                "description": "Templates with their line counts in the range, a trend, samples, level mix and "
                "first seen (docs/patterns.md).",
                "tags": ["patterns"],
                "parameters": [
                    _TENANT,
                    _START,
                    _END,
                    _query_param("service", "Only the patterns of this service."),
                    _query_param(
                        "limit",
                        "At most this many patterns (default 100).",
                        {"type": "integer", "minimum": 1, "maximum": 1000},
                    ),
                    _query_param(
                        "buckets",
                        "Slices of the trend (default 30).",
                        {"type": "integer", "minimum": 1, "maximum": 500},
                    ),
                ],
                "responses": _responses(
                    {
                        "type": "object",
                        "properties": {
                            "start": {"type": "string", "format": "date-time"},
                            "end": {"type": "string", "format": "date-time"},
                            "bucket_seconds": {"type": "number"},
                            "mining": {"type": "boolean", "description": "Whether pattern mining is on."},
                            "patterns": {"type": "array", "items": _PATTERN},
                        },
                    },
                    400,
                    503,
                ),
            }
        },
        "/api/v1/explain": {
            "get": {
                "summary": "Field values and patterns over-represented in a spike window against a baseline",
                "description": "Each value of the chosen fields among the lines matching q gets a two-proportion "
                "z-score of its share in [end - window, end) against [end - window - baseline, end - window); "
                "the most significant over-represented values first (docs/patterns.md).",
                "tags": ["patterns"],
                "parameters": [
                    _TENANT,
                    _query_param("q", "A filter in the search language, without pipes (default: every line)."),
                    _query_param("window", "The spike window: a duration such as 15m (default 15m)."),
                    _query_param("baseline", "The baseline window just before it (default 1h)."),
                    _query_param("end", "The end of the spike window (default now; now-1h, RFC 3339)."),
                    _query_param(
                        "fields", "Comma-separated fields (default service, host, level, source, pattern_id)."
                    ),
                    _query_param(
                        "limit", "At most this many explanations (default 20).", {"type": "integer", "minimum": 1}
                    ),
                ],
                "responses": _responses(
                    {
                        "type": "object",
                        "properties": {
                            "window": {"type": "object"},
                            "baseline": {"type": "object"},
                            "explanations": {"type": "array", "items": _EXPLANATION},
                        },
                    },
                    400,
                    503,
                ),
            }
        },
        "/api/v1/report": {
            "get": {
                "summary": "A markdown summary of the tenant's recent logs",
                "description": "Over [end - since, end): errors and warnings by type (pattern) and service, "
                "component health scores, lines/s and latency percentiles, new patterns, pattern rate changes "
                "against the baseline before the window and the top explanations (docs/patterns.md, Reports).",
                "tags": ["patterns"],
                "parameters": [
                    _TENANT,
                    _query_param("since", "The window before end: a duration such as 1h (default 1h, at most 31d)."),
                    _query_param("end", "The end of the window (default now; now-1h, RFC 3339)."),
                    _query_param(
                        "format",
                        "json (default: the sections and `markdown`) or markdown (the text alone).",
                        {"type": "string", "enum": ["json", "markdown"]},
                    ),
                ],
                "responses": _responses(
                    {
                        "type": "object",
                        "properties": {
                            "start": {"type": "string", "format": "date-time"},
                            "end": {"type": "string", "format": "date-time"},
                            "lines": {"type": "integer"},
                            "levels": {"type": "object", "additionalProperties": {"type": "integer"}},
                            "error_types": {"type": "array", "items": {"type": "object"}},
                            "components": {"type": "array", "items": {"type": "object"}},
                            "new_patterns": {"type": "array", "items": {"type": "object"}},
                            "anomalies": {"type": "array", "items": {"type": "object"}},
                            "explanations": {"type": "array", "items": _EXPLANATION},
                            "markdown": _STR,
                        },
                    },
                    400,
                    503,
                ),
            }
        },
    }
