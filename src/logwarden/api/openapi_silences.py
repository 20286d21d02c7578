"""The OpenAPI paths of silences (`/api/v1/silences*`), beside the rest of the document in api/openapi.py (which
merges them)."""

from __future__ import annotations

from logwarden.api.openapi import _TENANT, _TIME_HELP, Schema, _json, _path_param, _query_param, _ref, _responses

_MATCHER: Schema = {
    "type": "object",
    "required": ["name", "type", "value"],
    "properties": {
        "name": {"type": "string", "description": "The label."},
        "type": {"type": "string", "enum": ["=", "!=", "=~", "!~"]},
        "value": {"type": "string", "description": "The value, or a regular expression anchored at both ends."},
    },
}
_MATCHERS_HELP = (
    'Label matchers, all of which an alert must match: texts (`["service=\\"api\\"", "host!=\\"web-1\\""]`), one '
    'text (`{service="api", severity="warning"}`), or objects `{name, type, value}` (Alertmanager\'s '
    "`{name, value, isRegex, isEqual}` too). At least one must need a value: matchers that also match alerts "
    'without their labels (`a=~".*"`, `a!="x"`) would mute everything and are refused.'
)
_INPUT: Schema = {
    "type": "object",
    "properties": {
        "matchers": {
            "description": _MATCHERS_HELP,
            "oneOf": [
                {"type": "string"},
                {"type": "array", "items": {"oneOf": [{"type": "string"}, {"type": "object"}]}},
            ],
        },
        "starts_at": {"type": "string", "description": "When it starts (default and earliest: now). " + _TIME_HELP},
        "ends_at": {"type": "string", "description": "When it ends (or give `duration`). " + _TIME_HELP},
        "duration": {
            "type": ["string", "number"],
            "description": "How long from `starts_at`: `2h`, `30m`, `1d12h`, or seconds.",
        },
        "created_by": {"type": "string", "minLength": 1, "maxLength": 200, "description": "Who makes it."},
        "comment": {"type": "string", "minLength": 1, "maxLength": 10_000, "description": "Why."},
    },
}
_SILENCE: Schema = {
    "type": "object",
    "properties": {
        "id": {"type": "string"},
        "matchers": {"type": "array", "items": _MATCHER},
        "starts_at": {"type": "string", "format": "date-time"},
        "ends_at": {"type": "string", "format": "date-time"},
        "created_by": {"type": "string"},
        "comment": {"type": "string"},
        "created": {"type": "string", "format": "date-time"},
        "updated": {"type": "string", "format": "date-time"},
        "state": {"type": "string", "enum": ["pending", "active", "expired"]},
    },
}


def silences_paths() -> Schema:
    """The paths of silences."""
    expired = {"description": "The silence has expired: make a new one.", "content": _json(_ref("Error"))}
    return {
        "/api/v1/silences": {
            "get": {
                "summary": "The tenant's silences: active (by end), pending (by start), expired (latest first)",
                "description": "Expired silences stay listed for `alerting.silence_retention`.",
                "tags": ["alerts"],
                "parameters": [
                    _TENANT,
                    _query_param(
                        "state",
                        "Only silences in this state now.",
                        {"type": "string", "enum": ["active", "pending", "expired"]},
                    ),
                ],
                "responses": _responses(
                    {"type": "object", "properties": {"silences": {"type": "array", "items": _SILENCE}}}, 400, 503
                ),
            },
            "post": {
                "summary": "Make a silence (mutes at once)",
                "description": (
                    "`matchers`, `created_by`, `comment` and `ends_at` or `duration` are required; 400 names the "
                    "field. It mutes only the tenant's alerts (their `tenant` label)."
                ),
                "tags": ["alerts"],
                "parameters": [_TENANT],
                "requestBody": {"required": True, "content": _json({**_INPUT, "required": ["matchers"]})},
                "responses": _responses(_SILENCE, 400, 503, ok_status="201", description="Created"),
            },
        },
        "/api/v1/silences/{silence_id}": {
            "parameters": [_path_param("silence_id", "The silence's id."), _TENANT],
            "get": {
                "summary": "One silence",
                "tags": ["alerts"],
                "responses": _responses(_SILENCE, 400, 404, 503),
            },
            "put": {
                "summary": "Change a silence (the fields given; the others stay)",
                "description": (
                    "A pending silence changes in place; an active one too when only its end, comment or author "
                    "change, but new matchers or a new start expire it and make a new silence (the answer has "
                    "the new id), as Alertmanager does. 409 for an expired silence."
                ),
                "tags": ["alerts"],
                "requestBody": {"required": True, "content": _json(_INPUT)},
                "responses": {**_responses(_SILENCE, 400, 404, 503), "409": expired},
            },
            "delete": {
                "summary": "Expire a silence (it stays listed as expired)",
                "description": "Ends it now; a pending silence never starts. The answer is the expired silence.",
                "tags": ["alerts"],
                "responses": _responses(_SILENCE, 400, 404, 503),
            },
        },
    }
