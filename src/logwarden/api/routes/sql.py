"""POST /api/v1/sql: one read-only SELECT over the caller's `logs` (hot store, archive and unapplied rows).

The store runs it through its SqlCapability (store/base.py; the DuckDB backend validates it against an
allow-list of functions with `logs` the only table, and runs it in a sandboxed worker process over the
caller's rows in [start, end) read from one store snapshot). It returns at most `limit` rows (and says when it cut the
result), is killed after `timeout` seconds (408), and is refused with 400 when it needs more memory than
`sql.max_memory`. Values JSON cannot hold (out-of-range dates, infinity, NaN, huge numbers) come back as
strings.
"""

from __future__ import annotations

import time
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response

from logwarden.api.errors import ApiError
from logwarden.api.routes.snapshot import json_response, retained_range
from logwarden.api.routes.tenant_crud import json_body
from logwarden.api.row_caps import capped_rows
from logwarden.api.runtime import Runtime, runtime_of
from logwarden.auth.audit import audit
from logwarden.auth.querylimits import query_timeout
from logwarden.store.base import (
    SandboxBusyError,
    SandboxUnavailableError,
    SqlCapability,
    SqlError,
    SqlFailedError,
    SqlMemoryError,
    SqlReadError,
    SqlRequest,
    SqlTimeoutError,
    Store,
)

DEFAULT_LIMIT = 1000
MAX_LIMIT = 10_000
BUSY_RETRY_AFTER_SECONDS = 1


def close_sandbox(app: Starlette) -> None:
    """Stop the store's spare SQL workers (at shutdown)."""
    rt = getattr(app.state, "runtime", None)
    if isinstance(rt, Runtime) and rt.store is not None:
        _close_sql(rt.store)


def _close_sql(store: Store) -> None:
    if isinstance(store, SqlCapability):
        store.close_sql()


def _body_field(body: dict[str, Any], name: str, kind: type | tuple[type, ...], what: str) -> Any:
    value = body.get(name)
    if value is not None and (not isinstance(value, kind) or isinstance(value, bool)):
        raise ApiError(400, f"invalid {name!r}: expected {what}")
    return value


async def _json_body(request: Request) -> dict[str, Any]:
    body = await json_body(request)
    if not isinstance(body, dict):
        raise ApiError(400, 'request body must be a JSON object like {"sql": "SELECT count(*) FROM logs"}')
    return body


async def sql(request: Request) -> Response:
    """Run one read-only SELECT over `logs` for the caller's tenant."""
    rt = runtime_of(request)
    store = rt.require_store()
    tenant = rt.tenant(request)
    config = rt.config.sql
    body = await _json_body(request)
    text = _body_field(body, "sql", str, "a string with one SELECT statement")
    if text is None:
        raise ApiError(400, 'missing "sql": send {"sql": "SELECT count(*) FROM logs"}')
    start, end = retained_range(
        rt, tenant, _body_field(body, "start", str, "a time string"), _body_field(body, "end", str, "a time string")
    )
    limit = _body_field(body, "limit", int, f"an integer from 1 to {MAX_LIMIT}")
    explicit = limit is not None
    limit = DEFAULT_LIMIT if limit is None else limit
    if not 1 <= limit <= MAX_LIMIT:
        raise ApiError(400, f"invalid 'limit' {limit}: use an integer from 1 to {MAX_LIMIT}")
    limit = capped_rows(request, limit, explicit=explicit)
    max_timeout = config.max_timeout.total_seconds()
    timeout = _body_field(body, "timeout", (int, float), f"seconds, more than 0 and at most {max_timeout:g}")
    timeout = config.default_timeout.total_seconds() if timeout is None else float(timeout)
    if not 0 < timeout <= max_timeout:
        raise ApiError(400, f"invalid 'timeout' {timeout:g}: use seconds, more than 0 and at most {max_timeout:g}")
    # The role's query timeout caps the statement's own (its worker is killed at it: 408).
    role_timeout = query_timeout(request)
    timeout = timeout if role_timeout is None else min(timeout, role_timeout)
    if not isinstance(store, SqlCapability):
        raise ApiError(501, "this store has no SQL: use /api/v1/query")
    await audit(request, "sql.run", text, tenant=tenant, start=start, end=end)
    began = time.perf_counter()
    try:
        result = await store.run_sql(SqlRequest(tenant, start, end, text, limit, timeout))
    except SqlError as exc:
        return json_response({"error": str(exc), "line": exc.line, "column": exc.column}, status=400)
    except SqlTimeoutError as exc:
        raise ApiError(408, exc.message) from None
    except (SqlMemoryError, SqlFailedError) as exc:
        raise ApiError(400, exc.message) from None
    except (SandboxBusyError, SandboxUnavailableError) as exc:
        raise ApiError(503, exc.message, {"Retry-After": str(BUSY_RETRY_AFTER_SECONDS)}) from None
    except SqlReadError as exc:
        raise ApiError(503, exc.message, {"Retry-After": "5"}) from None
    took_ms = round((time.perf_counter() - began) * 1000, 1)
    return json_response(
        {
            "columns": result.columns,
            "rows": result.rows,
            "row_count": result.row_count,
            "truncated": result.truncated,
            "limit": limit,
            "start": start,
            "end": end,
            "took_ms": took_ms,
        }
    )
