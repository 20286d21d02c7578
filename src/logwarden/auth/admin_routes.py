"""Users and API keys over HTTP, for admins (`users.admin`), in the request's tenant.

`GET|POST /api/v1/keys`, `DELETE /api/v1/keys/{key_id}` (revoke: effective at once on this server),
`GET|POST /api/v1/users`, `PUT /api/v1/users/{name}` (`{"disabled": true}`, `{"role": "editor"}`). A new key's
text is in the POST answer only. Every change is audited.
"""

from __future__ import annotations

from typing import Any

import orjson
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from logwarden.auth.audit import audit
from logwarden.auth.roles import Role, parse_role
from logwarden.auth.routes import AuthState, error_response, request_context
from logwarden.auth.store import ApiKey, AuthStoreError, User
from logwarden.model.units import parse_duration


def _when(value: Any) -> str | None:
    return value.isoformat().replace("+00:00", "Z") if value is not None else None


def key_json(key: ApiKey) -> dict[str, Any]:
    """A key as the API shows it (never its secret)."""
    return {
        "id": key.id,
        "name": key.name,
        "tenant": key.tenant,
        "role": key.role.value,
        "created": _when(key.created),
        "created_by": key.created_by,
        "expires": _when(key.expires),
        "revoked": _when(key.revoked),
    }


def user_json(user: User) -> dict[str, Any]:
    """A user as the API shows it (never the password hash)."""
    return {
        "name": user.name,
        "tenant": user.tenant,
        "role": user.role.value,
        "disabled": user.disabled,
        "created": _when(user.created),
    }


async def _object(request: Request) -> dict[str, Any] | Response:
    try:
        body = orjson.loads(await request.body())
    except orjson.JSONDecodeError as exc:
        return error_response(400, f"request body is not valid JSON: {exc}")
    if not isinstance(body, dict):
        return error_response(400, "request body must be a JSON object")
    return body


def _text(body: dict[str, Any], name: str, default: str | None = None) -> str:
    value = body.get(name, default)
    if not isinstance(value, str):
        raise AuthStoreError(f"{name}: required, a string")
    return value


async def keys(request: Request) -> Response:
    """GET: the tenant's keys, newest first; POST `{"role", "name"?, "expires"?: "90d"}`: a new key (201)."""
    ctx = await request_context(request)
    if isinstance(ctx, Response):
        return ctx
    store, tenant, meta = ctx
    if request.method == "GET":
        found = await meta.run(store.keys, tenant)
        return JSONResponse({"keys": [key_json(k) for k in found]})
    body = await _object(request)
    if isinstance(body, Response):
        return body
    principal = request.scope["user"]
    try:
        role = parse_role(_text(body, "role"))
        name = _text(body, "name", "")
        expires = body.get("expires")
        if expires is not None and not isinstance(expires, str):
            raise AuthStoreError("expires: a duration like 90d")
        lifetime = parse_duration(expires) if expires else None
        until = store.clock() + lifetime if lifetime is not None else None
        key, text = await meta.run(
            lambda: store.create_key(
                tenant=tenant, role=role, name=name[:200], created_by=principal.identity, expires=until
            )
        )
    except (AuthStoreError, ValueError) as exc:
        return error_response(400, str(exc))
    await audit(request, "key.create", key.id, tenant=tenant, role=role.value, name=key.name)
    return JSONResponse({**key_json(key), "key": text}, status_code=201)


async def revoke_key(request: Request) -> Response:
    """Revoke one of the tenant's keys; it stops working at once on this server."""
    ctx = await request_context(request)
    if isinstance(ctx, Response):
        return ctx
    store, tenant, meta = ctx
    key_id = request.path_params["key_id"]
    mine = {k.id for k in await meta.run(store.keys, tenant)}
    if key_id not in mine:
        return error_response(404, f"no API key {key_id!r} in tenant {tenant!r}")
    key = await meta.run(store.revoke_key, key_id)
    state: AuthState = request.app.state.auth
    state.backend.keys.forget()
    await audit(request, "key.revoke", key.id, tenant=tenant)
    return JSONResponse(key_json(key))


async def users(request: Request) -> Response:
    """GET: the tenant's users; POST `{"name", "password", "role"}`: a new user of the tenant (201)."""
    ctx = await request_context(request)
    if isinstance(ctx, Response):
        return ctx
    store, tenant, meta = ctx
    if request.method == "GET":
        found = [u for u in await meta.run(store.users) if u.tenant == tenant]
        return JSONResponse({"users": [user_json(u) for u in found]})
    body = await _object(request)
    if isinstance(body, Response):
        return body
    try:
        role = parse_role(_text(body, "role", "viewer"))
        if role == Role.INGEST:
            raise AuthStoreError("role: a user is admin, editor or viewer (ingest is for API keys)")
        name, password = _text(body, "name"), _text(body, "password")
        user = await meta.run(lambda: store.add_user(name, password, tenant=tenant, role=role))
    except (AuthStoreError, ValueError) as exc:
        return error_response(400, str(exc))
    await audit(request, "user.add", user.name, tenant=tenant, role=role.value)
    return JSONResponse(user_json(user), status_code=201)


async def user_item(request: Request) -> Response:
    """PUT `{"disabled": true|false}` and/or `{"role": "editor"}`: disable (its sessions end at once) or enable one
    of the tenant's users, or give it another role."""
    ctx = await request_context(request)
    if isinstance(ctx, Response):
        return ctx
    store, tenant, meta = ctx
    name = request.path_params["name"]
    body = await _object(request)
    if isinstance(body, Response):
        return body
    disabled, role_text = body.get("disabled"), body.get("role")
    if (disabled is None and role_text is None) or not isinstance(disabled, bool | None):
        return error_response(400, 'send {"disabled": true|false} and/or {"role": "admin|editor|viewer"}')
    try:
        role = parse_role(role_text) if isinstance(role_text, str) else None
        if role_text is not None and role in (None, Role.INGEST):
            raise AuthStoreError("role: a user is admin, editor or viewer (ingest is for API keys)")
    except (AuthStoreError, ValueError) as exc:
        return error_response(400, str(exc))
    me = request.scope["user"]
    if me.kind == "user" and me.name == name and (role not in (None, me.role) or disabled):
        # The last admin could lock everyone out: another admin must do it.
        return error_response(400, "you cannot disable yourself or change your own role: ask another admin")
    found = await meta.run(store.user, name)
    if found is None or found.tenant != tenant:
        return error_response(404, f"no user {name!r} in tenant {tenant!r}")
    user = found
    if role is not None and role != found.role:
        user = await meta.run(store.set_role, name, role)
        await audit(request, "user.role", name, tenant=tenant, role=role.value, was=found.role.value)
    if disabled is not None:
        user = await meta.run(store.set_disabled, name, disabled)
        await audit(request, "user.disable" if disabled else "user.enable", name, tenant=tenant)
    return JSONResponse(user_json(user))


def routes() -> list[BaseRoute]:
    """The user and key management routes (permission `users.admin`, in auth/permissions.py)."""
    return [
        Route("/api/v1/keys", keys, methods=["GET", "POST"]),
        Route("/api/v1/keys/{key_id}", revoke_key, methods=["DELETE"]),
        Route("/api/v1/users", users, methods=["GET", "POST"]),
        Route("/api/v1/users/{name}", user_item, methods=["PUT"]),
    ]
