"""GET /api/v1/patterns: the tenant's log patterns in a time range, with counts, a trend and samples (read from
the pattern store, patterns/store.py: the recorder commits every couple of seconds, so a pattern appears
there shortly after its first line is acknowledged). GET /api/v1/explain: the field values and patterns
over-represented in a spike window against a baseline (patterns/explain.py).
"""

from __future__ import annotations

import dataclasses
import re
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from logwarden.api.errors import ApiError
from logwarden.api.routes import report
from logwarden.api.row_caps import capped_rows
from logwarden.api.runtime import runtime_of
from logwarden.patterns.explain import DEFAULT_FIELDS, explain
from logwarden.patterns.store import PatternStore
from logwarden.query.durations import parse_duration
from logwarden.query.engine import QueryResult, run_query
from logwarden.query.errors import QuerySyntaxError
from logwarden.query.parser import parse
from logwarden.query.timerange import TimeRangeError, parse_range, parse_time, shown

FIELD_NAME = re.compile(r"[A-Za-z_@][A-Za-z0-9_.@\-]*")  # the query language's NAME
DEFAULT_LIMIT = 100
MAX_LIMIT = 1000
DEFAULT_BUCKETS = 30
MAX_BUCKETS = 500


def routes() -> list[Route]:
    """The pattern routes (the report's too: it is built from patterns)."""
    return [
        Route("/api/v1/patterns", patterns_route, methods=["GET"]),
        Route("/api/v1/explain", explain_route, methods=["GET"]),
        *report.routes(),
    ]


def pattern_store_of(request: Request) -> PatternStore:
    """The pattern store in the server's metadata database (503 while it starts or stops)."""
    meta = runtime_of(request).meta
    if meta is None:
        raise ApiError(503, "logwarden is starting or stopping; retry shortly", {"Retry-After": "1"})
    return PatternStore(meta.engine)


def _int(raw: str | None, name: str, default: int, maximum: int) -> int:
    if raw is None or raw == "":
        return default
    if not (raw.isascii() and raw.isdigit() and len(raw) <= 9) or not 1 <= int(raw) <= maximum:
        raise ApiError(400, f"invalid {name} {shown(raw)}: use an integer from 1 to {maximum}")
    return int(raw)


def _iso(value: datetime) -> str:
    return value.astimezone(UTC).isoformat().replace("+00:00", "Z")


async def patterns_route(request: Request) -> Response:
    """GET /api/v1/patterns?service=&start=&end=&limit=&buckets= (docs/patterns.md)."""
    rt = runtime_of(request)
    tenant = rt.tenant(request)
    params = request.query_params
    try:
        start, end = parse_range(params.get("start"), params.get("end"), datetime.now(UTC))
    except TimeRangeError as exc:
        raise ApiError(400, str(exc)) from None
    limit = _int(params.get("limit"), "limit", DEFAULT_LIMIT, MAX_LIMIT)
    limit = capped_rows(request, limit, explicit=params.get("limit", "") != "")
    buckets = _int(params.get("buckets"), "buckets", DEFAULT_BUCKETS, MAX_BUCKETS)
    service = params.get("service") or None
    store = pattern_store_of(request)
    found = await run_in_threadpool(store.window, tenant, start, end, service=service, limit=limit, buckets=buckets)
    step = max((end - start).total_seconds() / buckets, 1.0)  # as the store slices the window
    body: dict[str, Any] = {
        "start": _iso(start),
        "end": _iso(end),
        "bucket_seconds": step,
        "mining": rt.config.patterns.enabled,
        "patterns": [{**p, "first_seen": _iso(p["first_seen"]), "last_seen": _iso(p["last_seen"])} for p in found],
    }
    return Response(orjson.dumps(body), media_type="application/json")


def _seconds(raw: str | None, name: str, default: str) -> timedelta:
    try:
        return timedelta(seconds=parse_duration(raw or default, name=name))
    except QuerySyntaxError as exc:
        raise ApiError(400, exc.message) from None


async def explain_route(request: Request) -> Response:
    """GET /api/v1/explain?q=&window=15m&baseline=1h&end=&fields=&limit= (docs/patterns.md)."""
    rt = runtime_of(request)
    tenant = rt.tenant(request)
    params = request.query_params
    q = params.get("q", "")
    try:
        if parse(q).pipes:
            raise ApiError(400, "q is a filter here: no pipes (each field is counted by the explain itself)")
    except QuerySyntaxError as exc:
        return JSONResponse({"error": exc.message, "column": exc.column, "text": exc.text}, status_code=400)
    window = _seconds(params.get("window"), "window", "15m")
    baseline = _seconds(params.get("baseline"), "baseline", "1h")
    now = datetime.now(UTC)
    try:
        end = parse_time(params.get("end"), now, default=now, name="end")
    except TimeRangeError as exc:
        raise ApiError(400, str(exc)) from None
    fields = tuple(f.strip() for f in params.get("fields", "").split(",") if f.strip()) or DEFAULT_FIELDS
    for name in fields:
        if not FIELD_NAME.fullmatch(name):
            raise ApiError(400, f"invalid field {shown(name)} in fields: a field name such as host or attrs.region")
    limit = _int(params.get("limit"), "limit", 20, MAX_LIMIT)
    store = rt.require_store()

    async def run(text: str, start: datetime, stop: datetime, rows: int) -> QueryResult:
        return await run_query(store, text, tenant=tenant, start=start, end=stop, limit=rows, now=now)

    try:
        spike = (end - window, end)
        before = (end - window - baseline, end - window)
    except OverflowError:
        raise ApiError(400, "window and baseline reach before the year 1: use a later end or shorter windows") from None
    try:
        n_window, n_baseline, found = await explain(run, q, spike, before, fields, limit)
    except QuerySyntaxError as exc:  # a field name the language refuses
        return JSONResponse({"error": exc.message, "column": exc.column, "text": exc.text}, status_code=400)
    pattern_ids = [e.value for e in found if e.field == "pattern_id"]
    texts = await run_in_threadpool(pattern_store_of(request).templates, tenant, pattern_ids) if pattern_ids else {}
    body = {
        "window": {"start": _iso(spike[0]), "end": _iso(spike[1]), "lines": n_window},
        "baseline": {"start": _iso(before[0]), "end": _iso(before[1]), "lines": n_baseline},
        "explanations": [
            {**dataclasses.asdict(e), **({"template": texts.get(e.value)} if e.field == "pattern_id" else {})}
            for e in found
        ],
    }
    return Response(orjson.dumps(body), media_type="application/json")
