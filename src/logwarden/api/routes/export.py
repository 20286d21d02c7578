"""GET /api/v1/export: the answer of a query (the language of /api/v1/query) as a download, NDJSON or CSV.

Lines are streamed: the time range is cut into slices of about `BATCH_ROWS` matching lines (newest first) from a
histogram of the query's filter, and each slice is read from the store and written out before the next is read, so
memory holds one slice whatever the export's size. A `| sort` export is one store answer (top `limit` rows), and
a stats/top/rare/timechart export is its result table. The export is audited (`search.export`) before its body.
"""

from __future__ import annotations

import asyncio
import dataclasses
import re
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pa_csv
from starlette.requests import Request
from starlette.responses import Response, StreamingResponse

from logwarden.api.errors import ApiError
from logwarden.api.routes.query import syntax_error_response
from logwarden.api.row_caps import capped_rows
from logwarden.api.runtime import runtime_of
from logwarden.auth.audit import audit
from logwarden.auth.querylimits import query_timeout
from logwarden.patterns.store import PatternStore
from logwarden.plan.nodes import HistogramPlan, SearchPlan
from logwarden.query.engine import add_templates, execute
from logwarden.query.errors import QuerySyntaxError
from logwarden.query.parser import parse
from logwarden.query.planner import QueryPlan, check_span, pick_span, plan
from logwarden.query.timerange import TimeRangeError, parse_range, shown
from logwarden.store.base import Store

DEFAULT_LIMIT = 100_000
MAX_LIMIT = 1_000_000
CSV_COLUMNS = ("ts", "level", "service", "host", "message")
BATCH_ROWS = 5_000  # matching lines per slice of the range: bounded memory per step, few steps
SLICE_BUCKETS = 64  # histogram buckets a range (or a crowded bucket) is cut into to plan its slices
_MEDIA = {"ndjson": "application/x-ndjson", "csv": "text/csv; charset=utf-8"}
_UNSAFE = re.compile(r"[^A-Za-z0-9._-]")
_JSON_OPTS = orjson.OPT_NON_STR_KEYS | orjson.OPT_UTC_Z


class ExportTimeoutError(Exception):
    """The role's query timeout ran out between two slices: the file is cut (the connection closes early)."""


def _format(request: Request) -> str:
    raw = request.query_params.get("format") or "ndjson"
    if raw not in _MEDIA:
        raise ApiError(400, f"invalid format {shown(raw)}: use ndjson or csv")
    return raw


def _limit(request: Request) -> int:
    raw = request.query_params.get("limit")
    if raw is None or raw == "":
        return capped_rows(request, DEFAULT_LIMIT, explicit=False)
    if not (raw.isascii() and raw.isdigit()) or len(raw) > 18 or not 1 <= int(raw) <= MAX_LIMIT:
        raise ApiError(400, f"invalid limit {shown(raw)}: use an integer from 1 to {MAX_LIMIT}")
    return capped_rows(request, int(raw), explicit=True)


def _fields(request: Request) -> tuple[str, ...]:
    """Extra CSV columns of lines: attribute names from `fields=a,b` (values as they were written)."""
    names = tuple(f.strip() for f in request.query_params.get("fields", "").split(",") if f.strip())
    for name in names:
        if name in CSV_COLUMNS or name in ("attrs", "tenant", "observed_ts", "log_id"):
            raise ApiError(400, f"field {name!r} is not an attribute: {', '.join(CSV_COLUMNS)} are always exported")
    return names


def _range(request: Request) -> tuple[datetime, datetime]:
    try:
        return parse_range(request.query_params.get("start"), request.query_params.get("end"))
    except TimeRangeError as exc:
        raise ApiError(400, str(exc)) from None


def filename(tenant: str, start: datetime, fmt: str) -> str:
    """`logwarden-<tenant>-<start>.<fmt>`, safe in a Content-Disposition header."""
    return f"logwarden-{_UNSAFE.sub('_', tenant)}-{start.strftime('%Y%m%dT%H%M%SZ')}.{fmt}"


# --- reading: slices of the range, newest first ---------------------------------------------------


class StoreBudget:
    """The role's query timeout spent over every store read of one export (sending time is not counted)."""

    def __init__(self, seconds: float | None) -> None:
        self.left = seconds

    async def execute(self, store: Store, node: Any) -> pa.Table:
        """`store.execute(node)` within what is left; ExportTimeoutError when nothing is."""
        if self.left is None:
            return await store.execute(node)
        if self.left <= 0:
            raise ExportTimeoutError("the export ran out of its role's query_timeout")
        began = time.perf_counter()
        try:
            async with asyncio.timeout(self.left):
                return await store.execute(node)
        except TimeoutError:
            raise ExportTimeoutError("the export ran out of its role's query_timeout") from None
        finally:
            self.left -= time.perf_counter() - began


@dataclass(slots=True)
class LineSlices:
    """Read a line query slice by slice: [start, end) cut where a histogram of its filter says ~BATCH_ROWS lines."""

    store: Store
    search: SearchPlan
    budget: StoreBudget
    batch_rows: int = BATCH_ROWS
    matched: int | None = None  # lines the filter matches over the whole range (known after the first histogram)

    async def _counts(self, start: datetime, end: datetime) -> list[tuple[datetime, datetime, int]]:
        """(slice start, slice end, lines) per histogram bucket of [start, end), newest first, clipped to it."""
        span = pick_span(start, end, SLICE_BUCKETS)
        try:
            check_span(start, end, span)
        except QuerySyntaxError:
            return [(start, end, self.batch_rows)]  # a range at the edge of time: one slice
        node = HistogramPlan(self.search.tenant, start, end, span, self.search.filter)
        table = await self.budget.execute(self.store, node)
        width = timedelta(seconds=span)
        out = []
        for row in table.to_pylist():  # one row per non-empty bucket: at most SLICE_BUCKETS
            lo = row["bucket"].astimezone(UTC)
            out.append((max(lo, start), min(lo + width, end), int(row["count"])))
        out.sort(key=lambda r: r[0], reverse=True)
        return out

    async def ranges(
        self, start: datetime, end: datetime, top: bool = False
    ) -> AsyncIterator[tuple[datetime, datetime]]:
        """Contiguous sub-ranges of [start, end), newest first, each holding about `batch_rows` matching lines."""
        if start >= end:  # a `_time` clause outside the request's range: nothing to read
            if top:
                self.matched = 0
            return
        buckets = await self._counts(start, end)
        if top:
            self.matched = sum(c for _, _, c in buckets)
        hi, held = end, 0
        for lo, b_hi, count in buckets:
            if count > 4 * self.batch_rows and b_hi - lo > timedelta(seconds=1):
                if hi > b_hi:  # what is gathered so far, then the crowded bucket cut finer
                    yield b_hi, hi
                async for sub in self.ranges(lo, b_hi):
                    yield sub
                hi, held = lo, 0
                continue
            if held and held + count > self.batch_rows:  # this bucket would overfill the slice: close it first
                yield b_hi, hi
                hi, held = b_hi, 0
            held += count
            if held >= self.batch_rows:
                yield lo, hi
                hi, held = lo, 0
        if hi > start:
            yield start, hi  # the rest (lines written after the histogram are read too)

    async def tables(self) -> AsyncIterator[pa.Table]:
        """The answer of each slice in order, at most `limit` lines in all."""
        left = self.search.limit
        async for lo, hi in self.ranges(self.search.start, self.search.end, top=True):
            if left <= 0:
                return
            table = await self.budget.execute(
                self.store, dataclasses.replace(self.search, start=lo, end=hi, limit=left)
            )
            left -= table.num_rows
            if table.num_rows:
                yield table


# --- writing --------------------------------------------------------------------------------------


def _decoded(table: pa.RecordBatch, the_plan: QueryPlan, raw: bool = False) -> list[dict[str, Any]]:
    """Hits as /api/v1/query shapes them: attrs and extracted/projected attribute values decoded from JSON, or
    with `raw` left as JSON fragments that orjson writes as they are (no parse and re-serialize per line)."""
    hits: list[dict[str, Any]] = table.to_pylist()
    search = the_plan.plan
    assert isinstance(search, SearchPlan)
    decode = [n for n, is_json in the_plan.projected if is_json] if the_plan.projected else list(search.extracted)
    read = orjson.Fragment if raw else orjson.loads
    empty = orjson.Fragment(b"{}") if raw else None
    for hit in hits:
        if not the_plan.projected:
            attrs = hit.get("attrs")
            hit["attrs"] = read(attrs) if attrs else (empty if raw else {})
        for name in decode:
            value = hit.get(name)
            hit[name] = read(value) if value is not None else None
    return hits


def _json_default(value: Any) -> Any:
    return str(value)


def ndjson(rows: list[dict[str, Any]]) -> bytes:
    """One JSON object per line, timestamps as RFC 3339 with Z (as /api/v1/query writes them)."""
    return b"".join(orjson.dumps(r, default=_json_default, option=_JSON_OPTS) + b"\n" for r in rows)


def _text(value: Any) -> str | None:
    """A CSV cell: text as is, times as RFC 3339, anything else as JSON."""
    if value is None or isinstance(value, str):
        return value
    if isinstance(value, datetime):
        return orjson.dumps(value, option=orjson.OPT_UTC_Z).decode()[1:-1]
    return orjson.dumps(value, default=_json_default, option=_JSON_OPTS).decode()


def _column(table: pa.RecordBatch, name: str) -> pa.Array:
    """One CSV column of stored hits: core columns cast in Arrow, attribute values from their JSON text."""
    if name not in table.schema.names:
        return pa.nulls(table.num_rows, pa.string())
    col = table.column(name)
    if pa.types.is_timestamp(col.type):
        return pc.strftime(col, "%Y-%m-%dT%H:%M:%SZ")
    if pa.types.is_string(col.type) or pa.types.is_integer(col.type) or pa.types.is_dictionary(col.type):
        return col.cast(pa.string())
    return pa.array([_text(v) for v in col.to_pylist()], pa.string())


def _attr(hits: list[dict[str, Any]], name: str) -> pa.Array:
    return pa.array([_text(h.get(name)) for h in hits], pa.string())


def csv_bytes(columns: list[str], arrays: list[pa.Array], header: bool) -> bytes:
    """Vectorized CSV of text columns; the header only on the file's first chunk."""
    sink = pa.BufferOutputStream()
    batch = pa.RecordBatch.from_arrays(arrays, names=columns)
    pa_csv.write_csv(batch, sink, pa_csv.WriteOptions(include_header=header, quoting_style="needed"))
    return bytes(sink.getvalue().to_pybytes())


def csv_header(columns: list[str]) -> bytes:
    """The header alone (an empty export)."""
    return (",".join('"' + c.replace('"', '""') + '"' for c in columns) + "\n").encode()


def hit_columns(the_plan: QueryPlan, fields: tuple[str, ...]) -> list[str]:
    """CSV columns of a line export: `| fields` as written, else the core columns, extracted names, `fields=`."""
    if the_plan.projected:
        return [name for name, _ in the_plan.projected]
    search = the_plan.plan
    assert isinstance(search, SearchPlan)
    return list(dict.fromkeys([*CSV_COLUMNS, *search.extracted, *fields]))


def hit_chunks(table: pa.Table, the_plan: QueryPlan, fmt: str, columns: list[str], first: bool) -> Iterator[bytes]:
    """One store answer of lines as file chunks of at most BATCH_ROWS lines."""
    stored = set(CSV_COLUMNS) if not the_plan.projected else {n for n, is_json in the_plan.projected if not is_json}
    for i, batch in enumerate(table.to_batches(max_chunksize=BATCH_ROWS)):
        if fmt == "ndjson":
            yield ndjson(_decoded(batch, the_plan, raw=True))
            continue
        # Lines are decoded only for columns that are not stored ones (attributes, extracted fields).
        hits = _decoded(batch, the_plan) if any(n not in stored for n in columns) else []
        arrays = [_column(batch, n) if n in stored else _attr(_attrs_of(hits, n, the_plan), n) for n in columns]
        yield csv_bytes(columns, arrays, header=first and i == 0)


def _attrs_of(hits: list[dict[str, Any]], name: str, the_plan: QueryPlan) -> list[dict[str, Any]]:
    """Where `name`'s value is: the hit itself (projected or extracted), else its attrs."""
    search = the_plan.plan
    if the_plan.projected or (isinstance(search, SearchPlan) and name in search.extracted):
        return hits
    return [h["attrs"] for h in hits]


def table_chunks(columns: list[str], rows: list[list[Any]], fmt: str) -> Iterator[bytes]:
    """A result table (stats, top, rare, timechart) as file chunks."""
    if fmt == "csv" and not rows:
        yield csv_header(columns)
        return
    for at in range(0, len(rows), BATCH_ROWS):
        part = rows[at : at + BATCH_ROWS]
        if fmt == "ndjson":
            yield ndjson([dict(zip(columns, row, strict=True)) for row in part])
        else:
            arrays = [pa.array([_text(row[i]) for row in part], pa.string()) for i in range(len(columns))]
            yield csv_bytes(columns, arrays, header=at == 0)


# --- the route ------------------------------------------------------------------------------------


async def _line_body(
    first: pa.Table | None, rest: AsyncIterator[pa.Table], the_plan: QueryPlan, fmt: str, columns: list[str]
) -> AsyncIterator[bytes]:
    """The file of a line export: the first answer (read before the response started), then each next one."""
    if first is None:
        if fmt == "csv":
            yield csv_header(columns)
        return
    for chunk in hit_chunks(first, the_plan, fmt, columns, first=True):
        yield chunk
    async for table in rest:
        for chunk in hit_chunks(table, the_plan, fmt, columns, first=False):
            yield chunk


async def _nothing() -> AsyncIterator[pa.Table]:
    return
    yield  # an async generator that yields nothing


async def _iterate(chunks: Iterator[bytes]) -> AsyncIterator[bytes]:
    for chunk in chunks:
        yield chunk


async def export(request: Request) -> Response:
    """Stream the answer of the caller's query as NDJSON (one hit or table row per line) or CSV."""
    rt = runtime_of(request)
    store = rt.require_store()
    tenant = rt.tenant(request)
    start, end = _range(request)
    fmt = _format(request)
    fields = _fields(request) if fmt == "csv" else ()
    q = request.query_params.get("q") or ""
    limit = _limit(request)
    budget = StoreBudget(query_timeout(request))
    try:
        the_plan = plan(parse(q), tenant=tenant, start=start, end=end, limit=limit)
        body, rows, kind = await _prepare(request, store, the_plan, budget, (fmt, fields, limit))
    except QuerySyntaxError as exc:
        return syntax_error_response(exc)
    except ExportTimeoutError as exc:
        raise TimeoutError(str(exc)) from None  # before the answer started: the role gate answers 408
    await audit(request, "search.export", q, tenant=tenant, format=fmt, kind=kind, rows=rows, start=start, end=end)
    headers = {"Content-Disposition": f'attachment; filename="{filename(tenant, the_plan.start, fmt)}"'}
    if rows is not None:
        headers["X-Logwarden-Rows"] = str(rows)
    return StreamingResponse(body, media_type=_MEDIA[fmt], headers=headers)


async def _prepare(
    request: Request,
    store: Store,
    the_plan: QueryPlan,
    budget: StoreBudget,
    options: tuple[str, tuple[str, ...], int],
) -> tuple[AsyncIterator[bytes], int | None, str]:
    """Read what must succeed before the first byte (a bad field is a 400, not a cut file): the body, its row
    count when known now, and the kind of export."""
    fmt, fields, limit = options
    search = the_plan.plan
    if not isinstance(search, SearchPlan):
        rt = runtime_of(request)
        result = await execute(store, the_plan)
        if rt.meta is not None:
            await add_templates(result, the_plan, PatternStore(rt.meta.engine).templates)
        rows = result.rows[:limit]
        return _iterate(table_chunks([c["name"] for c in result.columns], rows, fmt)), len(rows), "table"
    columns = hit_columns(the_plan, fields)
    if search.sort:
        # Sorted over the whole range: one answer of the top `limit` lines.
        table = await budget.execute(store, search)
        body = _line_body(table if table.num_rows else None, _nothing(), the_plan, fmt, columns)
        return body, table.num_rows, "lines"
    slices = LineSlices(store, search, budget, batch_rows=BATCH_ROWS)
    tables = slices.tables()
    try:
        first: pa.Table | None = await anext(tables)
    except StopAsyncIteration:
        first = None
    # Row pipes (`where`) drop lines the histogram counted: then the count is known only at the end.
    known = None if search.rows or slices.matched is None else min(slices.matched, search.limit)
    return _line_body(first, tables, the_plan, fmt, columns), known, "lines"
