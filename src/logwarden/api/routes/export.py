"""GET /api/v1/export: the lines of a search as a download (NDJSON or CSV), capped and audited.

It runs the search of GET /api/v1/search (same `q`, `start`, `end` and filters, the caller's tenant) with a
larger limit, records the export in the audit log (`search.export`) and streams the file in batches.
"""

from __future__ import annotations

import io
import re
from collections.abc import AsyncIterator, Iterator
from datetime import datetime

import orjson
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pa_csv
from starlette.requests import Request
from starlette.responses import Response, StreamingResponse

from logwarden.api.errors import ApiError
from logwarden.api.routes.search import _filters, _hit_json, _range, parse_terms
from logwarden.api.row_caps import capped_rows
from logwarden.api.runtime import runtime_of
from logwarden.auth.audit import audit
from logwarden.plan.filter import terms_filter
from logwarden.plan.nodes import SearchPlan
from logwarden.query.timerange import shown

DEFAULT_LIMIT = 100_000
MAX_LIMIT = 1_000_000
CSV_COLUMNS = ("ts", "level", "service", "host", "message")
BATCH_ROWS = 5_000  # rows encoded per chunk of the body: bounded memory per step, few steps
_MEDIA = {"ndjson": "application/x-ndjson", "csv": "text/csv; charset=utf-8"}
_UNSAFE = re.compile(r"[^A-Za-z0-9._-]")


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
    """Extra CSV columns: attribute names from `fields=a,b` (values as they were written)."""
    names = tuple(f.strip() for f in request.query_params.get("fields", "").split(",") if f.strip())
    for name in names:
        if name in CSV_COLUMNS or name in ("attrs", "tenant", "observed_ts", "log_id"):
            raise ApiError(400, f"field {name!r} is not an attribute: {', '.join(CSV_COLUMNS)} are always exported")
    return names


def filename(tenant: str, start: datetime, fmt: str) -> str:
    """`logwarden-<tenant>-<start>.<fmt>`, safe in a Content-Disposition header."""
    return f"logwarden-{_UNSAFE.sub('_', tenant)}-{start.strftime('%Y%m%dT%H%M%SZ')}.{fmt}"


def _ndjson_chunks(table: pa.Table) -> Iterator[bytes]:
    for batch in _batches(table):
        yield b"".join(orjson.dumps(_line(h)) + b"\n" for h in batch.to_pylist())


def _line(hit: dict[str, object]) -> dict[str, object]:
    attrs = hit.get("attrs")
    hit["attrs"] = orjson.loads(attrs) if isinstance(attrs, str) and attrs else {}
    return _hit_json(hit)


def _batches(table: pa.Table) -> list[pa.RecordBatch]:
    batches: list[pa.RecordBatch] = table.to_batches(max_chunksize=BATCH_ROWS)
    return batches


def _attr_text(value: object) -> str | None:
    if value is None or isinstance(value, str):
        return value
    return orjson.dumps(value).decode()


def _attr_columns(batch: pa.RecordBatch, fields: tuple[str, ...]) -> list[pa.Array]:
    """The asked attributes of each line (strings as is, other values as JSON); only when `fields` is given."""
    parsed = [orjson.loads(a) if a else {} for a in batch.column("attrs").to_pylist()]
    return [pa.array([_attr_text(p.get(name)) for p in parsed], pa.string()) for name in fields]


def _csv_chunks(table: pa.Table, fields: tuple[str, ...]) -> Iterator[bytes]:
    names = [*CSV_COLUMNS, *fields]
    if table.num_rows == 0:  # an empty answer may have untyped columns: the header alone
        yield (",".join(f'"{n}"' for n in names) + "\n").encode()
        return
    for i, batch in enumerate(_batches(table)):
        ts = batch.column("ts")
        ts = pc.strftime(ts, "%Y-%m-%dT%H:%M:%SZ") if pa.types.is_timestamp(ts.type) else ts.cast(pa.string())
        core = [batch.column(n).cast(pa.string()) for n in CSV_COLUMNS[1:]]
        out = pa.RecordBatch.from_arrays([ts, *core, *_attr_columns(batch, fields)], names=names)
        sink = io.BytesIO()
        # Vectorized CSV writing; the header only on the first chunk.
        pa_csv.write_csv(out, sink, pa_csv.WriteOptions(include_header=i == 0, quoting_style="needed"))
        yield sink.getvalue()


async def _stream(chunks: Iterator[bytes]) -> AsyncIterator[bytes]:
    # Encoded one batch at a time as the client reads: memory holds the result and one chunk.
    for chunk in chunks:
        yield chunk


async def export(request: Request) -> Response:
    """Stream the caller's matching lines as NDJSON (one search hit per line) or CSV."""
    rt = runtime_of(request)
    store = rt.require_store()
    tenant = rt.tenant(request)
    start, end = _range(request)
    fmt = _format(request)
    fields = _fields(request) if fmt == "csv" else ()
    q = request.query_params.get("q") or ""
    limit = _limit(request)
    plan = SearchPlan(
        tenant,
        start,
        end,
        terms_filter(parse_terms(q), _filters(request)),
        limit=limit,
    )
    table = await store.execute(plan)
    chunks = _csv_chunks(table, fields) if fmt == "csv" else _ndjson_chunks(table)
    await audit(request, "search.export", q, tenant=tenant, format=fmt, rows=table.num_rows, start=start, end=end)
    name = filename(tenant, start, fmt)
    return StreamingResponse(
        _stream(chunks),
        media_type=_MEDIA[fmt],
        headers={"Content-Disposition": f'attachment; filename="{name}"', "X-Logwarden-Rows": str(table.num_rows)},
    )
