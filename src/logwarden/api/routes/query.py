"""POST/GET /api/v1/query, GET /api/v1/histogram, GET /api/v1/fields: the search language over the store."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import orjson
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from logwarden.api.errors import ApiError
from logwarden.api.row_caps import capped_rows
from logwarden.api.runtime import runtime_of
from logwarden.patterns.store import PatternStore
from logwarden.query.durations import parse_duration
from logwarden.query.engine import field_summary, histogram, run_query
from logwarden.query.errors import QuerySyntaxError
from logwarden.query.planner import check_span, pick_span
from logwarden.query.timerange import TimeRangeError, parse_range, shown

MAX_LIMIT = 10_000
DEFAULT_LIMIT = 100
MAX_BUCKETS = 1_000


def routes() -> list[Route]:
    """The query routes, to mount before the ingest catch-alls."""
    return [
        Route("/api/v1/query", query, methods=["GET", "POST"]),
        Route("/api/v1/histogram", histogram_route, methods=["GET"]),
        Route("/api/v1/fields", fields_route, methods=["GET"]),
    ]


def syntax_error_response(exc: QuerySyntaxError) -> Response:
    """400 with the message and the 1-based column of the problem."""
    return JSONResponse({"error": exc.message, "column": exc.column, "text": exc.text}, status_code=400)


def iso(value: datetime) -> str:
    return value.isoformat().replace("+00:00", "Z")


def _json_default(value: Any) -> Any:
    if isinstance(value, datetime):
        return iso(value)
    return str(value)


def _json(body: dict[str, Any]) -> Response:
    # orjson formats datetimes and Decimals itself; anything else falls back to text.
    content = orjson.dumps(body, default=_json_default, option=orjson.OPT_NON_STR_KEYS | orjson.OPT_UTC_Z)
    return Response(content, media_type="application/json")


def _range(start: str | None, end: str | None) -> tuple[datetime, datetime]:
    try:
        return parse_range(start, end)
    except TimeRangeError as exc:
        raise ApiError(400, str(exc)) from None


def _int(raw: Any, name: str, default: int, maximum: int) -> int:
    if raw is None or raw == "":
        return default
    wrong = ApiError(400, f"invalid {name} {shown(str(raw))}: use an integer from 1 to {maximum}")
    # isascii: str.isdigit() is also true for '²', which int() refuses; the length keeps int() cheap.
    is_digits = isinstance(raw, str) and raw.isascii() and raw.isdigit() and len(raw) <= 18
    if isinstance(raw, bool) or not (isinstance(raw, int) or is_digits):
        raise wrong
    value = int(raw)
    if not 1 <= value <= maximum:
        raise wrong
    return value


async def _params(request: Request) -> dict[str, Any]:
    if request.method == "POST":
        try:
            body = orjson.loads(await request.body())
        except orjson.JSONDecodeError:
            raise ApiError(400, 'the body must be a JSON object like {"q": "level:error", "start": "now-1h"}') from None
        if not isinstance(body, dict):
            raise ApiError(400, 'the body must be a JSON object like {"q": "level:error", "start": "now-1h"}')
        return body
    return dict(request.query_params)


def _text(params: dict[str, Any], name: str) -> str | None:
    value = params.get(name)
    if value is None:
        return None
    if not isinstance(value, str | int | float):
        raise ApiError(400, f"{name} must be a string")
    return str(value)


async def query(request: Request) -> Response:
    """Run a query: `{"kind": "hits", …}` or, for stats/top/rare/timechart, `{"kind": "table", …}`."""
    rt = runtime_of(request)
    store = rt.require_store()
    params = await _params(request)
    q = _text(params, "q") or ""
    start, end = _range(_text(params, "start"), _text(params, "end"))
    limit = _int(params.get("limit"), "limit", DEFAULT_LIMIT, MAX_LIMIT)
    limit = capped_rows(request, limit, explicit=params.get("limit") not in (None, ""))
    try:
        templates = PatternStore(rt.meta.engine).templates if rt.meta is not None else None
        result = await run_query(
            store, q, tenant=rt.tenant(request), start=start, end=end, limit=limit, templates=templates
        )
    except QuerySyntaxError as exc:
        return syntax_error_response(exc)
    body: dict[str, Any] = {"kind": result.kind, "start": iso(result.start), "end": iso(result.end)}
    if result.kind == "hits":
        body.update(total=result.total, hits=result.hits)
    else:
        body.update(columns=result.columns, rows=result.rows)
    body["took_ms"] = result.took_ms
    return _json(body)


def _interval(raw: str | None) -> float | None:
    if raw is None or raw == "":
        return None
    try:
        return parse_duration(raw, name="interval")
    except QuerySyntaxError as exc:
        raise ApiError(400, exc.message) from None


async def histogram_route(request: Request) -> Response:
    """Zero-filled bucket counts over [start, end): `buckets` (default 60) or a fixed `interval`, `by` a field."""
    rt = runtime_of(request)
    store = rt.require_store()
    qp = request.query_params
    start, end = _range(qp.get("start"), qp.get("end"))
    buckets = _int(qp.get("buckets"), "buckets", 60, MAX_BUCKETS)
    interval = _interval(qp.get("interval"))
    try:
        # On the request's range: a `_time` clause only narrows it, and a narrower range never picks a wider bucket.
        check_span(start, end, interval or pick_span(start, end, buckets), name="interval")
        result = await histogram(
            store,
            qp.get("q") or "",
            tenant=rt.tenant(request),
            start=start,
            end=end,
            buckets=buckets,
            interval=interval,
            by=qp.get("by") or None,
        )
    except QuerySyntaxError as exc:
        return syntax_error_response(exc)
    body: dict[str, Any] = {
        "start": iso(result.start),
        "end": iso(result.end),
        "interval_seconds": result.interval,
        "total": result.total,
        "buckets": [{"ts": iso(b), "count": c} for b, c in zip(result.buckets, result.counts, strict=True)],
    }
    if qp.get("by"):
        body["by"] = qp.get("by")
        body["series"] = [{"value": k, "counts": v, "total": sum(v)} for k, v in result.series.items()]
    body["took_ms"] = result.took_ms
    return _json(body)


async def fields_route(request: Request) -> Response:
    """Fields of the newest matching rows (a sample): name, type, count, distinct values and top values."""
    rt = runtime_of(request)
    store = rt.require_store()
    qp = request.query_params
    start, end = _range(qp.get("start"), qp.get("end"))
    try:
        body = await field_summary(store, qp.get("q") or "", tenant=rt.tenant(request), start=start, end=end)
    except QuerySyntaxError as exc:
        return syntax_error_response(exc)
    return _json(body)
