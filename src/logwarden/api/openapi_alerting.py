"""The OpenAPI paths of alert routing (`/api/v1/alerts/{fingerprint}/ack`, `/api/v1/alerts/groups`,
`/api/v1/receivers`), merged into the document by api/openapi.py."""

from __future__ import annotations

from logwarden.api.openapi import _STR, _TENANT, Schema, _json, _path_param, _query_param, _responses

_ACK: Schema = {
    "type": "object",
    "properties": {"by": _STR, "at": _STR, "comment": _STR},
}


def alerting_paths() -> dict[str, Schema]:
    fingerprint = _path_param("fingerprint", "The alert's fingerprint (GET /api/v1/alerts).")
    return {
        "/api/v1/alerts/{fingerprint}/ack": {
            "post": {
                "summary": "Acknowledge a firing alert",
                "description": (
                    "Stops repeat notifications about the alert until it resolves (a new alert in its group still "
                    "notifies); recorded in the history. 404 when the alert is not firing."
                ),
                "tags": ["alerts"],
                "parameters": [_TENANT, fingerprint],
                "requestBody": {
                    "required": True,
                    "content": _json(
                        {
                            "type": "object",
                            "required": ["by"],
                            "properties": {
                                "by": {"type": "string", "minLength": 1, "maxLength": 2000},
                                "comment": {"type": "string", "maxLength": 2000},
                            },
                        }
                    ),
                },
                "responses": _responses(
                    {"type": "object", "properties": {"fingerprint": _STR, "acked": _ACK}}, 400, 404, 503
                ),
            },
            "delete": {
                "summary": "Withdraw an acknowledgement",
                "tags": ["alerts"],
                "parameters": [_TENANT, fingerprint, _query_param("by", "Who withdraws it.")],
                "responses": _responses({"type": "object"}, 404, 503),
            },
        },
        "/api/v1/alerts/groups": {
            "get": {
                "summary": "The router's aggregation groups",
                "description": "Per group: route, receiver, group key and labels, alerts' fingerprints, next flush.",
                "tags": ["alerts"],
                "parameters": [_TENANT],
                "responses": _responses(
                    {"type": "object", "properties": {"groups": {"type": "array", "items": {"type": "object"}}}}
                ),
            }
        },
        "/api/v1/receivers": {
            "get": {
                "summary": "Receivers and their integrations",
                "description": "Where each integration sends (without secrets) and its notifications by state.",
                "tags": ["alerts"],
                "responses": _responses(
                    {"type": "object", "properties": {"receivers": {"type": "array", "items": {"type": "object"}}}}
                ),
            }
        },
    }
