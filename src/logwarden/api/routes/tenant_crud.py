"""Create, read, update and delete of a tenant's named objects (saved searches, dashboards) over one shape of route.

Each collection gives its repository, its body validation and its name-taken error; this module gives the two
route handlers (`/api/v1/<things>` and `/api/v1/<things>/{id}`), the 404/409/503 answers and the JSON body
parsing, so the collections cannot drift apart in how they answer.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Generic, Protocol, TypeVar

import orjson
from sqlalchemy.engine import Engine
from starlette.requests import Request
from starlette.responses import Response

from logwarden.api.errors import ApiError
from logwarden.api.routes.snapshot import json_response
from logwarden.api.runtime import Runtime, runtime_of

F = TypeVar("F")
F_contra = TypeVar("F_contra", contravariant=True)


async def json_body(request: Request) -> Any:
    """The request body parsed as JSON; ApiError 400 with the decoder's message when it is not JSON."""
    try:
        return orjson.loads(await request.body())
    except orjson.JSONDecodeError as exc:
        raise ApiError(400, f"request body is not valid JSON: {exc}") from None


class Stored(Protocol):
    """A stored object the routes can answer with."""

    def to_json(self) -> dict[str, Any]: ...


class TenantRepository(Protocol[F_contra]):
    """The blocking repository calls the routes make; each is scoped to one tenant."""

    def list(self, tenant: str) -> Sequence[Stored]: ...

    def get(self, tenant: str, item_id: str, /) -> Stored | None: ...

    def create(self, tenant: str, fields: F_contra, /) -> Stored: ...

    def update(self, tenant: str, item_id: str, fields: F_contra, /) -> Stored | None: ...

    def delete(self, tenant: str, item_id: str, /) -> bool: ...


def _no_check(fields: Any) -> None:
    return None


def _no_builtins(tenant: str) -> list[Stored]:
    return []


@dataclass(frozen=True)
class TenantCollection(Generic[F]):
    """One collection of named per-tenant objects and its two route handlers."""

    noun: str
    """What one object is called in messages: "saved search", "dashboard"."""
    list_key: str
    """The key of the list in GET's answer: "saved_searches"."""
    path_param: str
    """The path parameter naming one object: "search_id"."""
    repository: Callable[[Engine], TenantRepository[F]]
    validate: Callable[[Any], F]
    """A body to fields, raising ApiError 400 saying which field is wrong."""
    name_taken: type[Exception]
    name_of: Callable[[F], str]
    check: Callable[[F], None] = _no_check
    """More checks on valid fields before a create or an update (ApiError)."""
    builtins: Callable[[str], list[Stored]] = field(default=_no_builtins)
    """Objects that are not stored (listed first, readable, never changed): a tenant's built-in dashboard."""
    builtin_id: str | None = None
    builtin_refusal: str = ""
    """The 400 message for a PUT or DELETE of the built-in object."""

    def _repo(self, rt: Runtime) -> TenantRepository[F]:
        if rt.meta is None:
            raise ApiError(503, "logwarden is starting or stopping; retry shortly", {"Retry-After": "1"})
        return self.repository(rt.meta.engine)

    async def _fields(self, request: Request) -> F:
        fields = self.validate(await json_body(request))
        self.check(fields)
        return fields

    def _taken(self, fields: F) -> ApiError:
        return ApiError(409, f"a {self.noun} named {self.name_of(fields)!r} already exists")

    async def list_or_create(self, request: Request) -> Response:
        """GET: the tenant's objects (built-ins first, then by name); POST: create one (201; 409 when the name is
        taken)."""
        rt = runtime_of(request)
        tenant = rt.tenant(request)
        repo = self._repo(rt)
        assert rt.meta is not None
        if request.method == "GET":
            stored = await rt.meta.run(repo.list, tenant)
            items = [*self.builtins(tenant), *stored]
            return json_response({self.list_key: [item.to_json() for item in items]})
        fields = await self._fields(request)
        try:
            created = await rt.meta.run(repo.create, tenant, fields)
        except self.name_taken:
            raise self._taken(fields) from None
        return json_response(created.to_json(), status=201)

    async def item(self, request: Request) -> Response:
        """GET, PUT (replace) or DELETE one object; 404 when the tenant has no such object."""
        rt = runtime_of(request)
        tenant = rt.tenant(request)
        repo = self._repo(rt)
        assert rt.meta is not None
        item_id = request.path_params[self.path_param]
        if self.builtin_id is not None and item_id == self.builtin_id:
            if request.method == "GET":
                return json_response(self.builtins(tenant)[0].to_json())
            raise ApiError(400, self.builtin_refusal)
        missing = ApiError(404, f"no {self.noun} with id {item_id!r}")
        if request.method == "GET":
            found = await rt.meta.run(repo.get, tenant, item_id)
            if found is None:
                raise missing
            return json_response(found.to_json())
        if request.method == "DELETE":
            if not await rt.meta.run(repo.delete, tenant, item_id):
                raise missing
            return Response(status_code=204)
        fields = await self._fields(request)
        try:
            updated = await rt.meta.run(repo.update, tenant, item_id, fields)
        except self.name_taken:
            raise self._taken(fields) from None
        if updated is None:
            raise missing
        return json_response(updated.to_json())
