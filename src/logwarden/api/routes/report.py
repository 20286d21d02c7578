"""GET /api/v1/report?since=1h&end=: a markdown summary of the tenant's recent logs (patterns/report.py), as JSON
with its sections and the rendered `markdown`; `format=markdown` returns the markdown alone."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import orjson
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Route

from logwarden.api.errors import ApiError
from logwarden.api.runtime import runtime_of
from logwarden.patterns.report import build_report
from logwarden.query.durations import parse_duration
from logwarden.query.engine import QueryResult, run_query
from logwarden.query.errors import QuerySyntaxError
from logwarden.query.timerange import TimeRangeError, parse_time

MAX_SINCE = timedelta(days=31)


def routes() -> list[Route]:
    """The report route."""
    return [Route("/api/v1/report", report_route, methods=["GET"])]


async def report_route(request: Request) -> Response:
    """GET /api/v1/report?since=1h&end=&format=json|markdown (docs/patterns.md)."""
    rt = runtime_of(request)
    tenant = rt.tenant(request)
    params = request.query_params
    try:
        since = timedelta(seconds=parse_duration(params.get("since") or "1h", name="since"))
    except QuerySyntaxError as exc:
        raise ApiError(400, exc.message) from None
    if not timedelta(0) < since <= MAX_SINCE:
        raise ApiError(400, "since must be a duration from 1s to 31d, such as 1h")
    fmt = params.get("format") or "json"
    if fmt not in ("json", "markdown"):
        raise ApiError(400, f"invalid format {fmt!r}: use json or markdown")
    now = datetime.now(UTC)
    try:
        end = parse_time(params.get("end"), now, default=now, name="end")
    except TimeRangeError as exc:
        raise ApiError(400, str(exc)) from None
    store = rt.require_store()

    async def run(text: str, start: datetime, stop: datetime, rows: int) -> QueryResult:
        return await run_query(store, text, tenant=tenant, start=start, end=stop, limit=rows, now=now)

    engine = rt.meta.engine if rt.meta is not None else None
    try:
        report = await build_report(run, engine, tenant, end, since, in_thread=run_in_threadpool)
    except OverflowError:
        raise ApiError(400, "since reaches before the year 1: use a later end") from None
    if fmt == "markdown":
        return PlainTextResponse(report["markdown"], media_type="text/markdown; charset=utf-8")
    return Response(orjson.dumps(report), media_type="application/json")
