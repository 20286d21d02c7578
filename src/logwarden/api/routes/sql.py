"""POST /api/v1/sql: one read-only SELECT over the caller's `logs` (hot store, archive and unapplied rows).

The statement is validated by `logwarden.query.sql` (an allow-list of functions, `logs` the only table)
and runs in a sandboxed worker process (`logwarden.query.sql_sandbox`) over the caller's rows in
[start, end) read from one store snapshot. It returns at most `limit` rows (and says when it cut the
result), is killed after `timeout` seconds (408), and is refused with 400 when it needs more memory than
`sql.max_memory`. Values JSON cannot hold (out-of-range dates, infinity, NaN, huge numbers) come back as
strings.
"""

from __future__ import annotations

import time
from typing import Any

import duckdb
import orjson
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response

from logwarden.api.errors import ApiError
from logwarden.api.routes.snapshot import json_response, read_snapshot, retained_range
from logwarden.api.runtime import runtime_of
from logwarden.config.model import SqlConfig
from logwarden.query.sql import SqlError, parse_read_only
from logwarden.query.sql_sandbox import (
    SandboxBusyError,
    SandboxUnavailableError,
    SqlFailedError,
    SqlMemoryError,
    SqlSandbox,
    SqlTimeoutError,
)

DEFAULT_LIMIT = 1000
MAX_LIMIT = 10_000
BUSY_RETRY_AFTER_SECONDS = 1


def sandbox_of(request: Request, config: SqlConfig) -> SqlSandbox:
    """The app's SQL sandbox, made on first use (it holds the worker slots shared by every request)."""
    sandbox: SqlSandbox | None = getattr(request.app.state, "sql_sandbox", None)
    if sandbox is None:
        sandbox = SqlSandbox(config)
        request.app.state.sql_sandbox = sandbox
    return sandbox


def close_sandbox(app: Starlette) -> None:
    """Stop the app's spare SQL workers (at shutdown)."""
    sandbox: SqlSandbox | None = getattr(app.state, "sql_sandbox", None)
    if sandbox is not None:
        sandbox.close()


def _body_field(body: dict[str, Any], name: str, kind: type | tuple[type, ...], what: str) -> Any:
    value = body.get(name)
    if value is not None and (not isinstance(value, kind) or isinstance(value, bool)):
        raise ApiError(400, f"invalid {name!r}: expected {what}")
    return value


async def _json_body(request: Request) -> dict[str, Any]:
    try:
        body = orjson.loads(await request.body())
    except orjson.JSONDecodeError as exc:
        raise ApiError(400, f"request body is not valid JSON: {exc}") from None
    if not isinstance(body, dict):
        raise ApiError(400, 'request body must be a JSON object like {"sql": "SELECT count(*) FROM logs"}')
    return body


def _duckdb_message(exc: duckdb.Error) -> str:
    """DuckDB's message without the echo of the rewritten SQL (which the user never wrote)."""
    text = str(exc)
    return text.split("\n\nLINE ", maxsplit=1)[0].split("\nLINE ", maxsplit=1)[0].strip()


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
    limit = DEFAULT_LIMIT if limit is None else limit
    if not 1 <= limit <= MAX_LIMIT:
        raise ApiError(400, f"invalid 'limit' {limit}: use an integer from 1 to {MAX_LIMIT}")
    max_timeout = config.max_timeout.total_seconds()
    timeout = _body_field(body, "timeout", (int, float), f"seconds, more than 0 and at most {max_timeout:g}")
    timeout = config.default_timeout.total_seconds() if timeout is None else float(timeout)
    if not 0 < timeout <= max_timeout:
        raise ApiError(400, f"invalid 'timeout' {timeout:g}: use seconds, more than 0 and at most {max_timeout:g}")
    try:
        query = parse_read_only(text)
    except SqlError as exc:
        return json_response({"error": str(exc), "line": exc.line, "column": exc.column}, status=400)

    async def read_rows(fn: Any) -> None:
        await read_snapshot(store, tenant, start, end, fn)

    began = time.perf_counter()
    try:
        result = await sandbox_of(request, config).run(
            query, read_rows, start=start, end=end, limit=limit, timeout=timeout
        )
    except SqlTimeoutError as exc:
        raise ApiError(408, exc.message) from None
    except (SqlMemoryError, SqlFailedError) as exc:
        raise ApiError(400, exc.message) from None
    except (SandboxBusyError, SandboxUnavailableError) as exc:
        raise ApiError(503, exc.message, {"Retry-After": str(BUSY_RETRY_AFTER_SECONDS)}) from None
    except (duckdb.OutOfMemoryException, duckdb.IOException, duckdb.InterruptException) as exc:
        # Reading the snapshot itself failed: the server's trouble, and worth a retry.
        raise ApiError(
            503, f"the query could not read its rows: {_duckdb_message(exc)}", {"Retry-After": "5"}
        ) from None
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
