"""The OpenAPI paths of sessions and the audit log, merged into the document by api/openapi.py.

Plain dicts (no import of `api`: the api depends on auth); errors refer to the document's `Error` schema.
"""

from __future__ import annotations

from typing import Any

Schema = dict[str, Any]
_STR: Schema = {"type": "string"}
_ERROR: Schema = {"content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}}


def _error(description: str) -> Schema:
    return {"description": description, **_ERROR}


def _ok(schema: Schema, description: str = "Success") -> Schema:
    return {"description": description, "content": {"application/json": {"schema": schema}}}


_WHO: Schema = {
    "type": "object",
    "properties": {
        "name": _STR,
        "kind": {"type": "string", "enum": ["user", "key", "cert", "local"]},
        "tenant": _STR,
        "role": {"type": "string", "enum": ["admin", "editor", "viewer", "ingest"]},
        "permissions": {"type": "array", "items": _STR},
        "via": _STR,
        "auth_enabled": {"type": "boolean"},
    },
}
_ENTRY: Schema = {
    "type": "object",
    "properties": {
        "id": {"type": "integer"},
        "at": {"type": "string", "format": "date-time"},
        "tenant": _STR,
        "actor": _STR,
        "action": _STR,
        "target": _STR,
        "outcome": {"type": "string", "enum": ["ok", "denied", "failed"]},
        "client": _STR,
        "details": {"type": "object"},
    },
}


def _query(name: str, description: str) -> Schema:
    return {"name": name, "in": "query", "required": False, "description": description, "schema": _STR}


_KEY: Schema = {
    "type": "object",
    "properties": {
        "id": _STR,
        "name": _STR,
        "tenant": _STR,
        "role": _STR,
        "created": _STR,
        "created_by": _STR,
        "expires": {"type": ["string", "null"]},
        "revoked": {"type": ["string", "null"]},
    },
}
_USER: Schema = {
    "type": "object",
    "properties": {"name": _STR, "tenant": _STR, "role": _STR, "disabled": {"type": "boolean"}, "created": _STR},
}
_ADMIN_ERRORS: Schema = {
    "400": _error("A malformed body or parameter."),
    "401": _error("No credential."),
    "403": _error("The role lacks users.admin."),
}


def _body(schema: Schema) -> Schema:
    return {"required": True, "content": {"application/json": {"schema": schema}}}


def _path(name: str) -> Schema:
    return {"name": name, "in": "path", "required": True, "schema": _STR}


def admin_paths() -> dict[str, Schema]:
    """Users and API keys of the caller's tenant (admins)."""
    return {
        "/api/v1/keys": {
            "get": {
                "summary": "The tenant's API keys (never their secrets)",
                "tags": ["auth"],
                "responses": {
                    "200": _ok({"type": "object", "properties": {"keys": {"type": "array", "items": _KEY}}}),
                    **_ADMIN_ERRORS,
                },
            },
            "post": {
                "summary": "Create an API key; its text is in this answer only",
                "tags": ["auth"],
                "requestBody": _body(
                    {
                        "type": "object",
                        "required": ["role"],
                        "properties": {
                            "role": {"type": "string", "enum": ["admin", "editor", "viewer", "ingest"]},
                            "name": _STR,
                            "expires": {"type": "string", "description": "A lifetime like 90d."},
                        },
                    }
                ),
                "responses": {"201": _ok({**_KEY, "properties": {**_KEY["properties"], "key": _STR}}), **_ADMIN_ERRORS},
            },
        },
        "/api/v1/keys/{key_id}": {
            "delete": {
                "summary": "Revoke an API key (at once)",
                "tags": ["auth"],
                "parameters": [_path("key_id")],
                "responses": {"200": _ok(_KEY), **_ADMIN_ERRORS, "404": _error("No such key in the tenant.")},
            }
        },
        "/api/v1/users": {
            "get": {
                "summary": "The tenant's users",
                "tags": ["auth"],
                "responses": {
                    "200": _ok({"type": "object", "properties": {"users": {"type": "array", "items": _USER}}}),
                    **_ADMIN_ERRORS,
                },
            },
            "post": {
                "summary": "Add a user to the tenant",
                "tags": ["auth"],
                "requestBody": _body(
                    {
                        "type": "object",
                        "required": ["name", "password"],
                        "properties": {
                            "name": _STR,
                            "password": {"type": "string", "minLength": 8},
                            "role": {"type": "string", "enum": ["admin", "editor", "viewer"]},
                        },
                    }
                ),
                "responses": {"201": _ok(_USER), **_ADMIN_ERRORS},
            },
        },
        "/api/v1/users/{name}": {
            "put": {
                "summary": "Disable (its sessions end at once) or enable a user, or change its role",
                "description": "Send `disabled`, `role` or both; an admin cannot disable or re-role itself.",
                "tags": ["auth"],
                "parameters": [_path("name")],
                "requestBody": _body(
                    {
                        "type": "object",
                        "minProperties": 1,
                        "properties": {
                            "disabled": {"type": "boolean"},
                            "role": {"type": "string", "enum": ["admin", "editor", "viewer"]},
                        },
                    }
                ),
                "responses": {"200": _ok(_USER), **_ADMIN_ERRORS, "404": _error("No such user in the tenant.")},
            }
        },
    }


_DELETE_REPORT: Schema = {
    "type": "object",
    "properties": {
        "tenant": _STR,
        "where": _STR,
        "dry_run": {"type": "boolean"},
        "lines": {"type": "integer"},
        "hot_lines": {"type": "integer"},
        "archive_lines": {"type": "integer"},
        "hot_tables": {
            "type": "array",
            "items": {"type": "object", "properties": {"table": _STR, "lines": {"type": "integer"}}},
        },
        "archive_files": {
            "type": "array",
            "items": {"type": "object", "properties": {"path": _STR, "lines": {"type": "integer"}}},
        },
        "seconds": {"type": "number"},
        "compacted": {"type": "boolean"},
    },
}


def delete_paths() -> dict[str, Schema]:
    """GDPR delete of lines by filter (admins)."""
    return {
        "/api/v1/admin/delete": {
            "post": {
                "summary": "Delete (or count, with dry_run) a tenant's lines matching a filter",
                "description": (
                    "Removes the lines matching `where` (the search language, no pipes; `_time` limits the range) "
                    "from the hot store and rewrites the archive files holding any. The tenant defaults to the "
                    "caller's. Runs within the request; recorded in the audit log as `lines.delete`."
                ),
                "tags": ["admin"],
                "requestBody": _body(
                    {
                        "type": "object",
                        "required": ["where"],
                        "properties": {
                            "where": _STR,
                            "tenant": _STR,
                            "dry_run": {"type": "boolean"},
                            "compact": {"type": "boolean"},
                        },
                    }
                ),
                "responses": {
                    "200": _ok(_DELETE_REPORT),
                    **_ADMIN_ERRORS,
                    "501": _error("The store backend cannot delete lines by filter."),
                    "503": _error("Starting or stopping: retry after the Retry-After header."),
                },
            }
        },
    }


def auth_paths() -> dict[str, Schema]:
    """Login, logout, who am I, the audit log, users and keys."""
    return {
        **admin_paths(),
        **delete_paths(),
        "/api/v1/auth/login": {
            "post": {
                "summary": "Log in: a session cookie and a CSRF token",
                "description": (
                    "Sets the `lw_session` cookie (HttpOnly, SameSite=Lax, Secure over HTTPS) and `lw_csrf`; "
                    "state-changing requests made with the cookie send the CSRF token in `X-CSRF-Token`. Repeated "
                    "failures per user and per address are answered 429 with Retry-After."
                ),
                "tags": ["auth"],
                "requestBody": {
                    "required": True,
                    "content": {
                        "application/json": {
                            "schema": {
                                "type": "object",
                                "required": ["user", "password"],
                                "properties": {"user": _STR, "password": _STR},
                            }
                        }
                    },
                },
                "responses": {
                    "200": _ok(
                        {
                            "type": "object",
                            "properties": {
                                "user": _STR,
                                "tenant": _STR,
                                "role": _STR,
                                "csrf_token": _STR,
                                "expires": {"type": "string", "format": "date-time"},
                            },
                        }
                    ),
                    "400": _error("A malformed body."),
                    "401": _error("Wrong user name or password, or the user is disabled."),
                    "429": _error("Too many failed logins: retry after the Retry-After header."),
                    "503": _error("Starting or stopping: retry after the Retry-After header."),
                },
            }
        },
        "/api/v1/auth/logout": {
            "post": {
                "summary": "End the caller's session",
                "tags": ["auth"],
                "responses": {"204": {"description": "The session is over."}, "401": _error("No credential.")},
            }
        },
        "/api/v1/auth/me": {
            "get": {
                "summary": "Who the caller is: tenant, role and permissions",
                "tags": ["auth"],
                "responses": {"200": _ok(_WHO), "401": _error("No credential.")},
            }
        },
        "/api/v1/audit": {
            "get": {
                "summary": "The tenant's audit log, newest first",
                "description": "Logins, key and user changes, rule/silence/ack changes and SQL statements run.",
                "tags": ["auth"],
                "parameters": [
                    _query("actor", "Only this actor (`user:alice`, `key:lw_…`, `cli:root`)."),
                    _query("action", "Only this action; ending in `.` or `*`, a family (`rule.`)."),
                    _query("since", "Only entries at or after this time (RFC 3339 or relative like 24h)."),
                    {
                        "name": "limit",
                        "in": "query",
                        "required": False,
                        "schema": {"type": "integer", "minimum": 1, "maximum": 1000},
                    },
                    {
                        "name": "before",
                        "in": "query",
                        "required": False,
                        "description": "Only entries older than this id: the previous page's `next`.",
                        "schema": {"type": "integer", "minimum": 0},
                    },
                ],
                "responses": {
                    "200": _ok(
                        {
                            "type": "object",
                            "properties": {
                                "entries": {"type": "array", "items": _ENTRY},
                                "tenant": _STR,
                                "next": {
                                    "type": ["integer", "null"],
                                    "description": "A full page: `before=<next>` returns the older entries.",
                                },
                            },
                        }
                    ),
                    "400": _error("A malformed parameter."),
                    "401": _error("No credential."),
                    "403": _error("The role lacks audit.read."),
                },
            }
        },
    }
