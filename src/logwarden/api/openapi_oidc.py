"""The OpenAPI paths of the OIDC login (`/api/v1/auth/oidc`, `/login`, `/callback`), merged by api/openapi.py."""

from __future__ import annotations

from logwarden.api.openapi import _STR, Schema, _query_param, _responses

_REDIRECT: Schema = {
    "description": "A redirect (Location): to the provider, to `next`, or to /login?error=<reason>.",
    "headers": {"Location": {"schema": _STR}},
}


def oidc_paths() -> dict[str, Schema]:
    """The three public routes of an OpenID Connect login (docs/security.md, "OIDC")."""
    info: Schema = {
        "type": "object",
        "properties": {"enabled": {"type": "boolean"}, "name": _STR, "login_url": _STR},
    }
    return {
        "/api/v1/auth/oidc": {
            "get": {
                "summary": "Whether a login through an OpenID Connect provider is offered (auth.oidc)",
                "tags": ["auth"],
                "responses": _responses(info),
            }
        },
        "/api/v1/auth/oidc/login": {
            "get": {
                "summary": "Go to the provider (authorization code with state, nonce and PKCE S256)",
                "tags": ["auth"],
                "parameters": [_query_param("next", "Where to go after the login: a path on this server.")],
                "responses": {"302": _REDIRECT, "303": _REDIRECT, **_responses(None, 404)},
            }
        },
        "/api/v1/auth/oidc/callback": {
            "get": {
                "summary": "Back from the provider: the code is exchanged, the ID token checked, a session opened",
                "tags": ["auth"],
                "parameters": [
                    _query_param("code", "The provider's authorization code."),
                    _query_param("state", "The state of the login (must match the browser's cookie)."),
                    _query_param("error", "The provider's error code, when it refused."),
                ],
                "responses": {"303": _REDIRECT, **_responses(None, 404, 503)},
            }
        },
    }
