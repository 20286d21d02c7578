"""The OpenAPI paths of alert routing (`/api/v1/alerts/{fingerprint}/ack`, `/api/v1/alerts/groups`,
`/api/v1/receivers`, `/api/v1/alerting/config`), merged into the document by api/openapi.py."""

from __future__ import annotations

from logwarden.api.openapi import _STR, _TENANT, Schema, _json, _path_param, _query_param, _responses

_CONFIG: Schema = {
    "type": "object",
    "description": "The tenant-owned keys of the `alerting:` section (docs/alerting.md).",
    "properties": {
        "route": {"type": "object"},
        "receivers": {"type": "array", "items": {"type": "object"}},
        "inhibit_rules": {"type": "array", "items": {"type": "object"}},
        "time_intervals": {"type": "array", "items": {"type": "object"}},
    },
}
_CHANGES: Schema = {
    "type": "object",
    "properties": {
        "tenant": _STR,
        "fallback": {"type": "boolean"},
        "version": {"type": "integer"},
        "receivers_added": {"type": "array", "items": _STR},
        "receivers_removed": {"type": "array", "items": _STR},
        "receivers_changed": {"type": "array", "items": _STR},
    },
}

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
                "summary": "The tenant's receivers and their integrations",
                "description": (
                    "The tenant's effective receivers (its own alerting config's, else the config file's): where "
                    "each integration sends (without secrets) and the tenant's notifications by state."
                ),
                "tags": ["alerts"],
                "parameters": [_TENANT],
                "responses": _responses(
                    {"type": "object", "properties": {"receivers": {"type": "array", "items": {"type": "object"}}}}
                ),
            }
        },
        "/api/v1/alerting/config": {
            "get": {
                "summary": "The tenant's effective alerting config",
                "description": (
                    "Route, receivers, inhibition rules and time intervals the tenant's alerts go by, secrets shown "
                    "as `**********`; `fallback` is true when the tenant has no config of its own and uses the "
                    "config file's `alerting:` section."
                ),
                "tags": ["alerts"],
                "parameters": [_TENANT],
                "responses": _responses(
                    {
                        "type": "object",
                        "properties": {
                            "tenant": _STR,
                            "fallback": {"type": "boolean"},
                            "config": _CONFIG,
                            "version": {"type": "integer"},
                            "updated_by": _STR,
                            "updated_at": _STR,
                        },
                    },
                    503,
                ),
            },
            "put": {
                "summary": "Set the tenant's own alerting config",
                "description": (
                    "YAML or JSON with `route`, `receivers`, `inhibit_rules`, `time_intervals`, validated like the "
                    "config file's `alerting:` section (400 naming the field); applied at once, without a restart; "
                    "audited as `alerting.config.update` with the receivers added, removed and changed. Needs "
                    "`receivers.write` (admins). A `**********` sent back keeps the stored secret at that place "
                    "(same receiver, channel, position and key, destination unchanged). Receivers' URLs must be "
                    "http(s) and may not reach loopback, private, link-local or other internal addresses unless "
                    "the operator allows them (`alerting.tenant_configs.allow_hosts`); checked again on the "
                    "resolved address at every connection."
                ),
                "tags": ["alerts"],
                "parameters": [_TENANT],
                "requestBody": {
                    "required": True,
                    "content": {
                        "application/json": {"schema": _CONFIG},
                        "application/yaml": {"schema": {"type": "string"}},
                    },
                },
                "responses": _responses(_CHANGES, 400, 503),
            },
            "delete": {
                "summary": "Remove the tenant's own alerting config",
                "description": (
                    "The tenant's alerts go by the config file's `alerting:` section again; audited as "
                    "`alerting.config.delete`. 404 when the tenant has no config of its own."
                ),
                "tags": ["alerts"],
                "parameters": [_TENANT],
                "responses": _responses(_CHANGES, 404, 503),
            },
        },
        "/api/v1/receivers/{name}/test": {
            "post": {
                "summary": "Send a test notification through a receiver",
                "description": (
                    "A sample firing alert (labelled with the caller's tenant) through every integration of one of "
                    "the tenant's effective receivers, now (not queued, not retried), with each channel's answer. "
                    "Audited as `receiver.test`. Needs `receivers.write` (admins). 404 for an unknown receiver."
                ),
                "tags": ["alerts"],
                "parameters": [_TENANT, _path_param("name", "The receiver's name.")],
                "responses": _responses(
                    {
                        "type": "object",
                        "properties": {
                            "receiver": _STR,
                            "results": {
                                "type": "array",
                                "items": {
                                    "type": "object",
                                    "properties": {
                                        "integration": _STR,
                                        "target": _STR,
                                        "outcome": _STR,
                                        "status": {"type": ["integer", "null"]},
                                        "answer": _STR,
                                    },
                                },
                            },
                        },
                    },
                    404,
                    503,
                ),
            }
        },
    }
