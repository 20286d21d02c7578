"""The OpenAPI paths of alert rules and alerts (`/api/v1/rules*`, `/api/v1/alerts*`), beside the rest of the
document in api/openapi.py (which merges them)."""

from __future__ import annotations

from logwarden.api.openapi import (
    _STR,
    _TENANT,
    _TIME_HELP,
    Schema,
    _json,
    _path_param,
    _query_param,
    _responses,
)

_RULE_INPUT: Schema = {
    "type": "object",
    "required": ["rule"],
    "properties": {
        "group": {"type": "string", "minLength": 1, "maxLength": 200, "description": "The rule's group (default api)."},
        "interval": {"type": ["string", "null"], "description": "The group's interval: how often scheduled rules run."},
        "rule": {"type": "object", "description": "One rule, as in a rule file (`name`, `type`, its settings)."},
    },
}
_RULE: Schema = {
    "type": "object",
    "properties": {
        "name": {"type": "string"},
        "source": {"type": "string", "enum": ["file", "api"]},
        "group": {"type": "string"},
        "interval": {"type": ["string", "null"]},
        "type": {"type": "string"},
        "enabled": {"type": "boolean"},
        "rule": {"type": "object"},
        "file": {"type": "string", "description": "The rule file (file rules)."},
        "line": {"type": ["integer", "null"], "description": "The rule's line in its file (file rules)."},
        "id": {"type": "string", "description": "API rules."},
        "created": {"type": "string"},
        "updated": {"type": "string"},
        "shadowed_by": {"type": "string", "description": "The file rule that took this API rule's name."},
    },
}


def rules_paths() -> Schema:
    """The paths of rules, alerts and backtests."""
    return {
        "/api/v1/rules": {
            "get": {
                "summary": "Alert rules: the rule files' and the tenant's own",
                "description": (
                    "Every rule of the rule files (`source: file`, read-only here) and the rules the tenant made "
                    "through this API (`source: api`), by name; `directory` is the rule directory's load status."
                ),
                "tags": ["alerts"],
                "parameters": [_TENANT],
                "responses": _responses(
                    {
                        "type": "object",
                        "properties": {
                            "rules": {"type": "array", "items": _RULE},
                            "directory": {"type": ["object", "null"]},
                        },
                    },
                    400,
                    503,
                ),
            },
            "post": {
                "summary": "Make a rule (applies at once)",
                "description": (
                    "A group name and one rule as in a rule file (docs/rules.md), checked with the same models; "
                    "400 names the field. Names are unique across the rule files and every tenant (409). The "
                    "rule reads only the tenant's lines."
                ),
                "tags": ["alerts"],
                "parameters": [_TENANT],
                "requestBody": {"required": True, "content": _json(_RULE_INPUT)},
                "responses": _responses(_RULE, 400, 409, 503, ok_status="201", description="Created"),
            },
        },
        "/api/v1/rules/{name}": {
            "parameters": [_path_param("name", "The rule's name."), _TENANT],
            "get": {
                "summary": "One rule (of the rule files, or the tenant's own)",
                "tags": ["alerts"],
                "responses": _responses(_RULE, 400, 404, 503),
            },
            "put": {
                "summary": "Replace a rule made through the API (its name stays; applies at once)",
                "description": "409 for a rule of the rule files: edit the file instead.",
                "tags": ["alerts"],
                "requestBody": {"required": True, "content": _json(_RULE_INPUT)},
                "responses": _responses(_RULE, 400, 404, 409, 503),
            },
            "delete": {
                "summary": "Delete a rule made through the API (its alerts end)",
                "description": "409 for a rule of the rule files: edit the file instead.",
                "tags": ["alerts"],
                "responses": _responses(None, 400, 404, 409, 503, ok_status="204", description="Deleted"),
            },
        },
        "/api/v1/alerts": {
            "get": {
                "summary": "Pending and firing alerts, with evidence",
                "description": (
                    "The tenant's alerts as of the rules engine's last commit (at most a second old; docs/rules.md), "
                    "firing first; `rules` names the rules the tenant sees."
                ),
                "tags": ["alerts"],
                "parameters": [_TENANT, _query_param("rule", "Only this rule's alerts.")],
                "responses": _responses(
                    {
                        "type": "object",
                        "properties": {
                            "alerts": {"type": "array", "items": {"type": "object"}},
                            "rules": {"type": "array", "items": _STR},
                        },
                    },
                    400,
                ),
            }
        },
        "/api/v1/alerts/history": {
            "get": {
                "summary": "Alert history: state changes and notification delivery attempts, newest first",
                "description": (
                    "`transitions`: firing, resolved, acknowledged, unacknowledged. `deliveries`: every attempt to "
                    "deliver a notification (receiver, integration, outcome, the channel's status and answer, "
                    "latency). A filter of one list (rule/status/fingerprint, or receiver/channel/outcome) selects "
                    "that list; `kind` selects explicitly; filters of both lists cannot be combined."
                ),
                "tags": ["alerts"],
                "parameters": [
                    _TENANT,
                    {
                        "name": "limit",
                        "in": "query",
                        "required": False,
                        "description": "How many entries per list (1-1000, default 100).",
                        "schema": {"type": "integer", "minimum": 1, "maximum": 1000},
                    },
                    _query_param(
                        "kind", "Which list.", {"type": "string", "enum": ["all", "transitions", "deliveries"]}
                    ),
                    _query_param("rule", "Only this rule's transitions."),
                    _query_param(
                        "status",
                        "Only transitions to this status.",
                        {"type": "string", "enum": ["firing", "resolved", "acknowledged", "unacknowledged"]},
                    ),
                    _query_param("fingerprint", "Only this alert's transitions."),
                    _query_param("receiver", "Only deliveries to this receiver."),
                    _query_param("channel", "Only deliveries through this kind of integration (webhook, slack, …)."),
                    _query_param(
                        "outcome",
                        "Only deliveries with this outcome.",
                        {"type": "string", "enum": ["delivered", "retriable", "rejected", "expired"]},
                    ),
                    _query_param("since", "Entries at or after this time. " + _TIME_HELP),
                    _query_param("until", "Entries before this time. " + _TIME_HELP),
                ],
                "responses": _responses(
                    {
                        "type": "object",
                        "properties": {
                            "transitions": {"type": "array", "items": {"type": "object"}},
                            "deliveries": {"type": "array", "items": {"type": "object"}},
                        },
                    },
                    400,
                ),
            }
        },
        "/api/v1/rules/backtest": {
            "post": {
                "summary": "Replay a rule over stored lines: the alerts it would have raised",
                "description": (
                    "The rule (a mapping as in a rule file) runs on a fresh evaluator over the tenant's lines of "
                    "[since, until) (docs/rules.md, Backtesting). With `Accept: application/x-ndjson` the answer "
                    'is a stream of `{"progress": {"lines", "at"}}` lines and a last `{"result": …}` or '
                    '`{"error": …}` line. 429 while two backtests run. An `aggregate` rule over a log metric '
                    "(`metric:`) is replayed over the tenant's series instead, run by run every `every` "
                    "(docs/metrics.md, Backtests); a range older than the series' retention is a 400 naming `since`."
                ),
                "tags": ["alerts"],
                "parameters": [_TENANT],
                "requestBody": {
                    "required": True,
                    "content": _json(
                        {
                            "type": "object",
                            "required": ["rule"],
                            "properties": {
                                "rule": {"type": "object", "description": "One rule, as in a rule file."},
                                "since": {"type": "string", "description": _TIME_HELP + " Default: now-1d."},
                                "until": {"type": "string", "description": _TIME_HELP + " Default: now."},
                                "max_lines": {"type": "integer", "minimum": 1, "maximum": 5_000_000},
                            },
                        }
                    ),
                },
                "responses": _responses(
                    {
                        "type": "object",
                        "properties": {
                            "rule": _STR,
                            "tenant": _STR,
                            "since": {"type": "string", "format": "date-time"},
                            "until": {"type": "string", "format": "date-time"},
                            "replayed_until": {"type": "string", "format": "date-time"},
                            "resolution_seconds": {"type": "number"},
                            "alerts_total": {"type": "integer"},
                            "alerts_listed": {"type": "integer"},
                            "alerts": {"type": "array", "items": {"type": "object"}},
                            "lines_scanned": {"type": "integer"},
                            "lines_matched": {"type": "integer"},
                            "late_lines": {"type": "integer"},
                            "evaluations": {"type": "integer"},
                            "capped": {"type": "boolean"},
                            "took_seconds": {"type": "number"},
                            "series": {
                                "type": "object",
                                "description": "The rule's value per step for each group (docs/rules.md#backtesting):"
                                " point i ends at start + step_seconds × (i + 1).",
                                "properties": {
                                    "start": {"type": "string", "format": "date-time"},
                                    "step_seconds": {"type": "number"},
                                    "points": {"type": "integer"},
                                    "threshold": {"type": "number"},
                                    "recover": {"type": ["number", "null"]},
                                    "above": {"type": "boolean"},
                                    "complete": {"type": "boolean"},
                                    "groups_total": {"type": "integer"},
                                    "groups": {"type": "array", "items": {"type": "object"}},
                                },
                            },
                        },
                    },
                    400,
                    429,
                    503,
                ),
            }
        },
    }
