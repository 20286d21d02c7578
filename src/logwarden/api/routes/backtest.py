"""POST /api/v1/rules/backtest: what a rule would have alerted on over the tenant's stored lines (an `aggregate`
rule over a log metric: over the tenant's series of it, rules/backtest_metric.py).

Body: `{"rule": {…a rule as in a rule file…}, "since": "now-7d", "until": "now", "max_lines": 5000000}`
(`since` defaults to a day back, `until` to now; times as the search API takes them). The rule is replayed
through a fresh evaluator (rules/backtest.py), never the running engine's. The answer is the JSON result; with
`Accept: application/x-ndjson` it is a stream of `{"progress": {"lines": …, "at": …, "done": 0.42}}` lines, then one
`{"result": {…}}` (or `{"error": "…"}`) line, for clients that show progress.

At most `MAX_RUNNING` backtests run at once per server (429 otherwise); each reads at most `max_lines` lines.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson
from starlette.requests import Request
from starlette.responses import Response, StreamingResponse

from logwarden.api.errors import ApiError
from logwarden.api.routes.snapshot import json_response
from logwarden.api.runtime import runtime_of
from logwarden.plan.errors import QuerySyntaxError
from logwarden.query.timerange import TimeRangeError, parse_time
from logwarden.rules.backtest import MAX_LINES, BacktestError, BacktestResult, backtest, parse_rule
from logwarden.rules.backtest_metric import backtest_metric_rule
from logwarden.rules.history import StoreHistory
from logwarden.rules.types.aggregate import AggregateRule
from logwarden.store.base import StoreClosedError, StoreError

log = logging.getLogger(__name__)

MAX_RUNNING = 2
PROGRESS_EVERY = 0.25  # seconds between progress lines
_running = threading.BoundedSemaphore(MAX_RUNNING)


class _ClientGoneError(Exception):
    """The client of a streamed backtest went away: the replay stops at its next page."""


async def _json_body(request: Request) -> dict[str, Any]:
    try:
        body = orjson.loads(await request.body())
    except orjson.JSONDecodeError as exc:
        raise ApiError(400, f"request body is not valid JSON: {exc}") from None
    if not isinstance(body, dict):
        raise ApiError(400, 'request body must be a JSON object like {"rule": {…}, "since": "now-7d"}')
    return body


def _times(body: dict[str, Any], now: datetime) -> tuple[datetime, datetime]:
    values = {}
    for name in ("since", "until"):
        raw = body.get(name)
        if raw is not None and not isinstance(raw, str):
            raise ApiError(400, f"invalid {name!r}: expected a time such as now-7d or 2026-03-01T00:00:00Z")
        values[name] = raw
    try:
        since = parse_time(values["since"], now, default=now - timedelta(days=1), name="since")
        until = parse_time(values["until"], now, default=now, name="until")
    except TimeRangeError as exc:
        raise ApiError(400, str(exc)) from None
    if since >= until:
        raise ApiError(400, f"since ({since.isoformat()}) must be before until ({until.isoformat()})")
    return since, until


def _max_lines(body: dict[str, Any]) -> int:
    raw = body.get("max_lines", MAX_LINES)
    if not isinstance(raw, int) or isinstance(raw, bool) or not 1 <= raw <= MAX_LINES:
        raise ApiError(400, f"invalid 'max_lines': use an integer from 1 to {MAX_LINES}")
    return raw


def _failure(exc: BaseException) -> ApiError:
    if isinstance(exc, BacktestError):
        return ApiError(400, str(exc))
    if isinstance(exc, QuerySyntaxError):
        return ApiError(400, f"rule.query: {exc}")
    if isinstance(exc, StoreClosedError):
        return ApiError(503, "logwarden is stopping; retry shortly", {"Retry-After": "1"})
    if isinstance(exc, StoreError | TimeoutError):
        return ApiError(503, f"reading stored lines failed: {exc}; retry later", {"Retry-After": "5"})
    raise exc


async def backtest_rule(request: Request) -> Response:
    """Replay a rule over the tenant's stored lines of [since, until)."""
    rt = runtime_of(request)
    store = rt.require_store()
    tenant = rt.tenant(request)
    body = await _json_body(request)
    if "rule" not in body:
        raise ApiError(400, 'missing "rule": send {"rule": {"name": …, "type": "threshold", …}, "since": "now-7d"}')
    try:
        spec = parse_rule(body["rule"])
    except BacktestError as exc:
        raise ApiError(400, str(exc)) from None
    now = datetime.now(UTC)
    since, until = _times(body, now)
    if isinstance(spec, AggregateRule) and spec.metric is not None:
        return await _metric_backtest(request, spec, tenant, since, until, now)
    max_lines = _max_lines(body)
    loop = asyncio.get_running_loop()
    history = StoreHistory(store, loop, tenant=tenant)
    streaming = "application/x-ndjson" in request.headers.get("accept", "")
    if not _running.acquire(blocking=False):
        raise ApiError(429, f"{MAX_RUNNING} backtests are running; retry when one is done", {"Retry-After": "5"})
    gone = threading.Event()
    updates: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
    last_update = 0.0

    def progress(lines: int, at: datetime) -> None:
        nonlocal last_update
        if gone.is_set():
            raise _ClientGoneError
        if streaming and time.monotonic() - last_update >= PROGRESS_EVERY:
            last_update = time.monotonic()
            done = round(min(max((at - since) / (until - since), 0.0), 1.0), 4)
            line = {"progress": {"lines": lines, "at": at.isoformat(), "done": done}}
            loop.call_soon_threadsafe(updates.put_nowait, line)

    def run() -> BacktestResult:
        return backtest(
            spec,
            history.pages(spec.query, since, until, tenant),
            tenant=tenant,
            since=since,
            until=until,
            max_lines=max_lines,
            history=history,
            progress=progress,
        )

    try:
        future = loop.run_in_executor(None, run)
    except BaseException:
        _running.release()
        raise
    future.add_done_callback(lambda _: _running.release())  # the slot is free once the replay has stopped
    if not streaming:
        try:
            result = await future
        except Exception as exc:
            raise _failure(exc) from None
        return json_response(result.to_json())
    return StreamingResponse(_stream(future, updates, gone), media_type="application/x-ndjson")


async def _metric_backtest(
    request: Request, spec: AggregateRule, tenant: str, since: datetime, until: datetime, now: datetime
) -> Response:
    """A rule over a log metric: its scheduled runs over the tenant's series (rules/backtest_metric.py)."""
    source = getattr(request.app.state, "log_metrics", None)
    if not _running.acquire(blocking=False):
        raise ApiError(429, f"{MAX_RUNNING} backtests are running; retry when one is done", {"Retry-After": "5"})
    try:
        result = await asyncio.get_running_loop().run_in_executor(
            None,
            lambda: backtest_metric_rule(spec, source, tenant=tenant, since=since, until=until, now=now),
        )
    except Exception as exc:
        raise _failure(exc) from None
    finally:
        _running.release()
    if "application/x-ndjson" in request.headers.get("accept", ""):
        return Response(orjson.dumps({"result": result.to_json()}) + b"\n", media_type="application/x-ndjson")
    return json_response(result.to_json())


async def _stream(
    future: asyncio.Future[BacktestResult], updates: asyncio.Queue[dict[str, Any]], gone: threading.Event
) -> AsyncIterator[bytes]:
    try:
        while not future.done():
            waiter: asyncio.Future[Any] = asyncio.ensure_future(updates.get())
            await asyncio.wait([waiter, future], return_when=asyncio.FIRST_COMPLETED)
            if waiter.done():
                yield orjson.dumps(waiter.result()) + b"\n"
            else:
                waiter.cancel()
        try:
            line: dict[str, Any] = {"result": future.result()}
        except Exception as exc:
            try:
                failure = _failure(exc)
            except Exception:
                log.exception("backtest failed")
                failure = ApiError(500, "internal error; see the server log")
            line = {"error": failure.message, "status": failure.status}
        if "result" in line:
            line = {"result": line["result"].to_json()}
        yield orjson.dumps(line) + b"\n"
    finally:
        gone.set()
