"""POST /api/v1/admin/delete: GDPR delete of a tenant's lines matching a filter (admins only).

Body `{"where": "user_id:42", "tenant"?: "acme", "dry_run"?: false, "compact"?: false}`; `compact` then rewrites
the hot database file without free blocks, so the removed rows' bytes are gone from it too. The tenant defaults
to the request's (an admin names another with `tenant` or `X-Scope-OrgID`). The answer counts the lines found
(dry run) or removed, per hot table and per archive file. The delete runs within the request (seconds per
rewritten day or file); every call, dry run or not, is recorded in the audit log as `lines.delete` with the
filter and the counts.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, Protocol, runtime_checkable

import orjson
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from logwarden.api.errors import ApiError
from logwarden.api.routes.query import syntax_error_response
from logwarden.api.runtime import runtime_of
from logwarden.auth.audit import audit
from logwarden.auth.principal import principal_of
from logwarden.auth.roles import Role
from logwarden.auth.tenants import TenantRefusedError, request_tenant
from logwarden.model.tenants import TENANT_RULE, is_tenant
from logwarden.plan.filter import MatchAll, Node
from logwarden.query.errors import QuerySyntaxError
from logwarden.query.parser import parse_filter
from logwarden.query.planner import resolve_range

PATH = "/api/v1/admin/delete"
MAX_WHERE_CHARS = 4096
# The range a filter without `_time` covers: every stored line.
EARLIEST = datetime(1, 1, 2, tzinfo=UTC)
LATEST = datetime(9999, 12, 30, tzinfo=UTC)


def parse_delete_filter(where: str, now: datetime) -> tuple[Node, datetime, datetime]:
    """The filter and time range of a delete (`_time` in the text limits it); QuerySyntaxError with the column for
    a filter the user has to fix, pipes, or an empty filter."""
    query = parse_filter(where)
    if isinstance(query.filter, MatchAll):
        raise QuerySyntaxError("a delete needs a filter (like user_id:42); an empty one would match every line", 1)
    start, end = resolve_range(query, EARLIEST, LATEST, now)
    return query.filter, start, end


class DeleteReport(Protocol):
    """What a delete found or removed, as the store reports it."""

    hot_lines: int
    archive_lines: int

    def to_json(self) -> dict[str, Any]: ...


@runtime_checkable
class LineDeleter(Protocol):
    """A store that can delete lines by filter (the embedded DuckDB store)."""

    async def delete_lines(
        self,
        tenant: str,
        node: Node,
        start: datetime,
        end: datetime,
        *,
        where: str = "",
        dry_run: bool = False,
        compact: bool = False,
    ) -> Any: ...


def _body(raw: bytes) -> tuple[str, str | None, bool, bool]:
    try:
        body = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise ApiError(400, f"request body is not valid JSON: {exc}") from None
    if not isinstance(body, dict):
        raise ApiError(400, 'send {"where": "<filter>", "tenant"?: "<tenant>", "dry_run"?: true|false}')
    where, tenant, dry_run = body.get("where"), body.get("tenant"), body.get("dry_run", False)
    compact = body.get("compact", False)
    if not isinstance(where, str) or not where.strip():
        raise ApiError(400, "where: required, a filter in the search language (like user_id:42)")
    if len(where) > MAX_WHERE_CHARS:
        raise ApiError(400, f"where: longer than {MAX_WHERE_CHARS} characters")
    if tenant is not None and (not isinstance(tenant, str) or not is_tenant(tenant)):
        raise ApiError(400, f"tenant: {TENANT_RULE}")
    if not isinstance(dry_run, bool):
        raise ApiError(400, "dry_run: true or false")
    if not isinstance(compact, bool):
        raise ApiError(400, "compact: true or false")
    return where, tenant, dry_run, compact


async def delete_lines(request: Request) -> Response:
    """Count (dry run) or remove the tenant's lines matching `where` in the hot store and the archive."""
    runtime = runtime_of(request)
    store = runtime.require_store()
    where, named, dry_run, compact = _body(await request.body())
    try:
        tenant = request_tenant(request, runtime.config)
    except TenantRefusedError as exc:
        raise ApiError(exc.status, exc.message) from None
    principal = principal_of(request)
    if named is not None and named != tenant:
        if principal is not None and principal.role != Role.ADMIN:
            raise ApiError(403, f"this credential cannot act in tenant {named!r}")
        tenant = named
    if not isinstance(store, LineDeleter):
        raise ApiError(501, "this store backend cannot delete lines by filter")
    try:
        node, start, end = parse_delete_filter(where, datetime.now(UTC))
        report = await store.delete_lines(tenant, node, start, end, where=where, dry_run=dry_run, compact=compact)
    except QuerySyntaxError as exc:
        return syntax_error_response(exc)
    except Exception:
        await audit(request, "lines.delete", tenant, outcome="failed", tenant=tenant, where=where, dry_run=dry_run)
        raise
    body = report.to_json()
    await audit(
        request,
        "lines.delete",
        tenant,
        tenant=tenant,
        where=where,
        dry_run=dry_run,
        hot_lines=body["hot_lines"],
        archive_lines=body["archive_lines"],
        archive_files=len(body["archive_files"]),
    )
    return JSONResponse(body)


def routes() -> list[BaseRoute]:
    """The delete route (admin only: `users.admin` in auth/permissions.py)."""
    return [Route(PATH, delete_lines, methods=["POST"])]
