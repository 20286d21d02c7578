"""HTTP routes of the log metrics: range queries, the definitions in force (and those made through the API),
and the Prometheus exposition."""

from __future__ import annotations

from datetime import UTC, datetime

import orjson
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from logwarden.api.errors import ApiError
from logwarden.api.runtime import TENANT_HEADER, runtime_of
from logwarden.auth.principal import principal_of
from logwarden.auth.roles import Role
from logwarden.config.logmetrics import DefinitionError, MetricDefinition, check_unique, parse_definitions
from logwarden.logmetrics.aggregate import CompiledMetric
from logwarden.logmetrics.exposition import CONTENT_TYPE, render
from logwarden.logmetrics.query import MetricQueryError, RangeQuery, query_range
from logwarden.logmetrics.subscriber import LogMetricsSubscriber
from logwarden.model.units import parse_duration
from logwarden.query.timerange import TimeRangeError, parse_range, shown


def subscriber_of(request: Request) -> LogMetricsSubscriber:
    """The server's log metrics, or 503 while it starts or stops (404 when turned off)."""
    found = getattr(request.app.state, "log_metrics", None)
    if found is None:
        if not runtime_of(request).config.metrics.enabled:
            raise ApiError(404, "log metrics are turned off (metrics.enabled: false)")
        raise ApiError(503, "logwarden is starting or stopping; retry shortly", {"Retry-After": "1"})
    assert isinstance(found, LogMetricsSubscriber)
    return found


def _step(text: str | None) -> int | None:
    if text is None or text.strip() == "":
        return None
    try:
        seconds = parse_duration(float(text) if text.replace(".", "", 1).isdigit() else text).total_seconds()
    except ValueError:
        raise ApiError(400, f"invalid step {shown(text)}: use seconds or a duration such as 10s, 1m, 1h") from None
    if seconds < 10 or seconds % 10:
        raise ApiError(400, f"invalid step {shown(text)}: a whole multiple of 10s (the finest tier)")
    return int(seconds)


async def query_range_route(request: Request) -> Response:
    """GET /api/v1/metrics/query_range?metric=&by=&fn=&start=&end=&step= (docs/metrics.md)."""
    sub = subscriber_of(request)
    tenant = runtime_of(request).tenant(request)
    params = request.query_params
    name = params.get("metric", "")
    if not name:
        raise ApiError(400, "metric is required: the name of a log metric (GET /api/v1/metrics/definitions)")
    definition = sub.definitions.get(name)
    if definition is None:
        raise ApiError(404, f"no log metric named {shown(name)}")
    now = datetime.now(UTC)
    try:
        start, end = parse_range(params.get("start"), params.get("end"), now)
    except TimeRangeError as exc:
        raise ApiError(400, str(exc)) from None
    by = tuple(b.strip() for b in params.get("by", "").split(",") if b.strip())
    q = RangeQuery(
        name, params.get("fn", "rate"), int(start.timestamp()), int(end.timestamp()), _step(params.get("step")), by
    )
    try:
        body = await run_in_threadpool(query_range, sub.store, definition, tenant, q, now)
    except MetricQueryError as exc:
        raise ApiError(400, str(exc)) from None
    return Response(orjson.dumps(body, option=orjson.OPT_SERIALIZE_NUMPY), media_type="application/json")


async def definitions_route(request: Request) -> Response:
    """GET /api/v1/metrics/definitions: every metric in force."""
    sub = subscriber_of(request)
    return JSONResponse({"metrics": [d.model_dump(mode="json") for d in sub.definitions.values()]})


def _change(sub: LogMetricsSubscriber, name: str, new: MetricDefinition | None) -> None:
    """Put (or with None remove) the API definition `name`: the file rewritten, the subscriber switched."""
    user = sub.user_definitions
    if user is None:
        raise ApiError(409, "this server keeps no definitions made through the API")
    with user.lock:
        mine = user.load()
        mine_names = {d.name for d in mine}
        if name in sub.definitions and name not in mine_names:
            raise ApiError(409, f"metric {shown(name)} is built in or defined in the config: change it there")
        if new is None and name not in mine_names:
            raise ApiError(404, f"no log metric named {shown(name)} was made through the API")
        kept = [d for d in mine if d.name != name]
        changed = [*kept, new] if new is not None else kept
        fixed = [d for d in sub.definitions.values() if d.name not in mine_names]
        everything = [*fixed, *changed]
        try:
            check_unique(everything)
            for d in changed:
                CompiledMetric(d, "definition")
        except DefinitionError as exc:
            raise ApiError(400, str(exc)) from None
        user.save(changed)
        sub.replace_definitions(everything)


async def definition_route(request: Request) -> Response:
    """GET, PUT (create or replace; JSON body, `name` optional) and DELETE /api/v1/metrics/definitions/{name}:
    a definition made through the API. It applies from the next stored batch on, with no restart."""
    sub = subscriber_of(request)
    name = request.path_params["name"]
    if request.method == "GET":
        found = sub.definitions.get(name)
        if found is None:
            raise ApiError(404, f"no log metric named {shown(name)}")
        return JSONResponse(found.model_dump(mode="json"))
    new: MetricDefinition | None = None
    if request.method == "PUT":
        try:
            body = orjson.loads(await request.body())
        except orjson.JSONDecodeError as exc:
            raise ApiError(400, f"the body is not JSON: {exc}") from None
        if not isinstance(body, dict):
            raise ApiError(400, "the body must be a JSON object: a metric definition (docs/metrics.md)")
        if body.setdefault("name", name) != name:
            raise ApiError(400, f"the body's name {shown(str(body['name']))} is not the path's {shown(name)}")
        try:
            (new,) = parse_definitions([body], "definition")
        except DefinitionError as exc:
            raise ApiError(400, str(exc)) from None
    await run_in_threadpool(_change, sub, name, new)
    if new is None:
        return Response(status_code=204)
    return JSONResponse(new.model_dump(mode="json"))


async def exposition_route(request: Request) -> Response:
    """GET /metrics/logs: current values for Prometheus (the caller's tenant; an admin's without X-Scope-OrgID: every
    tenant's)."""
    sub = subscriber_of(request)
    # Every tenant's series only for an admin who names none; anyone else sees their own tenant's.
    principal = principal_of(request)
    every = principal is None or principal.role == Role.ADMIN
    tenant = None if every and not request.headers.get(TENANT_HEADER) else runtime_of(request).tenant(request)
    text = await run_in_threadpool(lambda: render(sub.definitions, sub.snapshot(), tenant))
    return Response(text, media_type=CONTENT_TYPE)


def routes() -> list[Route]:
    """The routes the app factory mounts."""
    return [
        Route("/api/v1/metrics/query_range", query_range_route, methods=["GET"]),
        Route("/api/v1/metrics/definitions", definitions_route, methods=["GET"]),
        Route("/api/v1/metrics/definitions/{name}", definition_route, methods=["GET", "PUT", "DELETE"]),
        Route("/metrics/logs", exposition_route, methods=["GET"]),
    ]
