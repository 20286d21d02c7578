"""The OpenAPI paths of dashboards (`/api/v1/dashboards*`), beside the rest of the document in api/openapi.py
(which merges them)."""

from __future__ import annotations

from logwarden.api.openapi import _TENANT, Schema, _json, _path_param, _responses
from logwarden.api.routes.dashboards import FIGURES, REFRESH, SOURCES, TRANSFORMS, VIZ

_PANEL: Schema = {
    "type": "object",
    "required": ["title", "viz"],
    "properties": {
        "title": {"type": "string", "minLength": 1, "maxLength": 200},
        "viz": {"type": "string", "enum": list(VIZ)},
        "source": {
            "type": "string",
            "enum": list(SOURCES),
            "description": "What the panel reads (default `query`): a search-language `query`, a log-metric series "
            "(`metric`, `fn`, `by`), the tenant's `alerts` by severity, or one of logwarden's own figures (`self`).",
        },
        "width": {"type": "integer", "minimum": 1, "maximum": 3, "description": "Grid columns it spans."},
        "query": {"type": "string", "maxLength": 10_000, "description": "source query: the search."},
        "metric": {"type": "string", "description": "source metric: the metric's name (docs/metrics.md)."},
        "fn": {"type": "string", "description": "source metric: rate (default), sum, avg, max, p50, p95, p99."},
        "by": {"type": "array", "items": {"type": "string"}, "description": "source metric: labels."},
        "transform": {"type": "string", "enum": list(TRANSFORMS), "description": "source metric, by level."},
        "figure": {"type": "string", "enum": list(FIGURES), "description": "source self: which figure."},
    },
}
_INPUT: Schema = {
    "type": "object",
    "required": ["name"],
    "properties": {
        "name": {"type": "string", "minLength": 1, "maxLength": 200},
        "description": {"type": "string", "maxLength": 2_000},
        "panels": {"type": "array", "maxItems": 48, "items": _PANEL},
        "refresh": {"type": ["string", "null"], "enum": [*REFRESH, None], "description": "Auto-refresh; null: off."},
    },
}
_DASHBOARD: Schema = {
    "type": "object",
    "properties": {
        "id": {"type": "string"},
        "name": {"type": "string"},
        "description": {"type": "string"},
        "panels": {"type": "array", "items": _PANEL},
        "refresh": {"type": ["string", "null"]},
        "builtin": {"type": "boolean", "description": "The built-in Overview (id `overview`): read-only."},
        "created": {"type": ["string", "null"]},
        "updated": {"type": ["string", "null"]},
    },
}


def dashboards_paths() -> Schema:
    """The paths of dashboards."""
    return {
        "/api/v1/dashboards": {
            "get": {
                "summary": "The built-in Overview, then the tenant's dashboards by name",
                "tags": ["dashboards"],
                "parameters": [_TENANT],
                "responses": _responses(
                    {"type": "object", "properties": {"dashboards": {"type": "array", "items": _DASHBOARD}}}, 400, 503
                ),
            },
            "post": {
                "summary": "Save a dashboard",
                "description": "400 names the field or panel that is wrong; 409 when the name is taken.",
                "tags": ["dashboards"],
                "parameters": [_TENANT],
                "requestBody": {"required": True, "content": _json(_INPUT)},
                "responses": _responses(_DASHBOARD, 400, 409, 503, ok_status="201", description="Created"),
            },
        },
        "/api/v1/dashboards/{dashboard_id}": {
            "parameters": [_path_param("dashboard_id", "The dashboard's id (`overview`: the built-in one)."), _TENANT],
            "get": {
                "summary": "One dashboard",
                "tags": ["dashboards"],
                "responses": _responses(_DASHBOARD, 400, 404, 503),
            },
            "put": {
                "summary": "Replace a dashboard (not the Overview: 400)",
                "tags": ["dashboards"],
                "requestBody": {"required": True, "content": _json(_INPUT)},
                "responses": _responses(_DASHBOARD, 400, 404, 409, 503),
            },
            "delete": {
                "summary": "Delete a dashboard (not the Overview: 400)",
                "tags": ["dashboards"],
                "responses": _responses(None, 400, 404, 503, ok_status="204", description="Deleted"),
            },
        },
    }
