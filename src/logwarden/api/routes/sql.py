"""POST /api/v1/sql: one read-only SELECT over the caller's `logs` (hot store, archive and unapplied rows).

The statement is validated and rewritten by `logwarden.query.sql`; it runs inside one store snapshot,
returns at most `limit` rows (and says when it cut the result), and is interrupted after `timeout`
seconds.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from datetime import datetime
from types import TracebackType
from typing import Any

import duckdb
import orjson
import pyarrow as pa
from starlette.requests import Request
from starlette.responses import Response

from logwarden.api.errors import ApiError
from logwarden.api.routes.snapshot import json_response, read_snapshot, retained_range
from logwarden.api.runtime import runtime_of
from logwarden.query.sql import ReadOnlyQuery, SqlError, bind_logs, logs_source, parse_read_only

DEFAULT_LIMIT = 1000
MAX_LIMIT = 10_000
DEFAULT_TIMEOUT = 30.0
MAX_TIMEOUT = 300.0
_BATCH_ROWS = 2048


@dataclass(slots=True)
class SqlResult:
    """Columns (name and DuckDB type), rows as lists, and whether rows were cut at the limit."""

    columns: list[dict[str, str]]
    rows: list[list[Any]]
    truncated: bool


class SqlTimeoutError(Exception):
    """The statement ran longer than its time limit and was interrupted."""


class Deadline:
    """Interrupt a DuckDB cursor from a timer thread once `seconds` have passed, unless finished first."""

    def __init__(self, cursor: duckdb.DuckDBPyConnection, seconds: float) -> None:
        self._cursor = cursor
        self._lock = threading.Lock()
        self._done = False
        self.fired = False
        self._timer = threading.Timer(seconds, self._fire)
        self._timer.daemon = True

    def _fire(self) -> None:
        with self._lock:
            # Only while the statement runs: an interrupt after it would hit the snapshot's ROLLBACK.
            if not self._done:
                self.fired = True
                self._cursor.interrupt()

    def __enter__(self) -> Deadline:
        self._timer.start()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        with self._lock:
            self._done = True
        self._timer.cancel()


def run_sql(
    cur: duckdb.DuckDBPyConnection,
    query: ReadOnlyQuery,
    from_sql: str | None,
    params: dict[str, Any],
    *,
    start: datetime,
    end: datetime,
    limit: int,
    timeout: float,
) -> SqlResult:
    """Bind `logs` to this snapshot's rows in [start, end) and run the statement within the limits."""
    source, source_sql = logs_source(from_sql, "lw_start", "lw_end")
    bound = bind_logs(query, source, source_sql)
    values = {**params, "lw_start": start, "lw_end": end}
    # DuckDB refuses values for parameters a statement does not use (a query that never reads logs).
    values = {k: v for k, v in values.items() if k in bound.parameters}
    # Unknown names must never resolve to Python objects of this process (DuckDB's replacement scans).
    cur.execute("SET python_enable_replacements = false")
    batches: list[pa.RecordBatch] = []
    count = 0
    with Deadline(cur, timeout) as deadline:
        try:
            relation = cur.sql(bound.sql, params=values)
            columns = [{"name": n, "type": str(t)} for n, t in zip(relation.columns, relation.types, strict=True)]
            reader = relation.to_arrow_reader(_BATCH_ROWS)
            for batch in reader:
                batches.append(batch)
                count += batch.num_rows
                if count > limit:
                    break
        except Exception:
            # Interrupted mid-statement or mid-fetch: the error class depends on where it landed.
            if deadline.fired:
                raise SqlTimeoutError from None
            raise
    table = pa.Table.from_batches(batches, schema=reader.schema)
    truncated = table.num_rows > limit
    table = table.slice(0, limit)
    cells = [col.to_pylist() for col in table.columns]
    return SqlResult(columns, [list(row) for row in zip(*cells, strict=True)] if cells else [], truncated)


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
    timeout = _body_field(body, "timeout", (int, float), f"seconds, more than 0 and at most {MAX_TIMEOUT:g}")
    timeout = DEFAULT_TIMEOUT if timeout is None else float(timeout)
    if not 0 < timeout <= MAX_TIMEOUT:
        raise ApiError(400, f"invalid 'timeout' {timeout:g}: use seconds, more than 0 and at most {MAX_TIMEOUT:g}")
    try:
        query = parse_read_only(text)
    except SqlError as exc:
        return json_response({"error": str(exc), "line": exc.line, "column": exc.column}, status=400)

    def run(cur: duckdb.DuckDBPyConnection, from_sql: str | None, params: dict[str, Any]) -> SqlResult:
        return run_sql(cur, query, from_sql, params, start=start, end=end, limit=limit, timeout=timeout)

    began = time.perf_counter()
    try:
        result = await read_snapshot(store, tenant, start, end, run)
    except SqlTimeoutError:
        raise ApiError(408, f"the query ran longer than its time limit of {timeout:g} s and was stopped") from None
    except SqlError as exc:
        raise ApiError(400, str(exc)) from None
    except duckdb.InterruptException:
        raise ApiError(503, "the query was interrupted; retry", {"Retry-After": "1"}) from None
    except (duckdb.OutOfMemoryException, duckdb.IOException) as exc:
        raise ApiError(503, f"the query could not run: {_duckdb_message(exc)}", {"Retry-After": "5"}) from None
    except duckdb.Error as exc:
        raise ApiError(400, f"query failed: {_duckdb_message(exc)}") from None
    took_ms = round((time.perf_counter() - began) * 1000, 1)
    return json_response(
        {
            "columns": result.columns,
            "rows": result.rows,
            "row_count": len(result.rows),
            "truncated": result.truncated,
            "limit": limit,
            "start": start,
            "end": end,
            "took_ms": took_ms,
        }
    )
