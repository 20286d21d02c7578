"""Alert rules: GET/POST /api/v1/rules and GET/PUT/DELETE /api/v1/rules/{name}.

A rule is sent as in a rule file — a group name (and the group's `interval`, for scheduled rules) and the rule
mapping: `{"group": "api", "rule": {"name": "error-burst", "type": "threshold", …}}` — and checked with the same
models (400 naming the field). Rules made here belong to the request's tenant, are stored in the metadata
database and apply to the running engine at once. The list also shows the rule files' rules (`source: file`,
read-only here: 409). Names are unique across the files and every tenant's rules (409).
"""

from __future__ import annotations

import asyncio
from typing import Any

import orjson
from starlette.requests import Request
from starlette.responses import Response

from logwarden.api.errors import ApiError
from logwarden.api.routes.snapshot import json_response
from logwarden.api.runtime import Runtime, runtime_of
from logwarden.auth.audit import audit
from logwarden.rules.loader import RuleEntry
from logwarden.rules.service import RuleInputError, RulesService, check_api_rule, interval_text, where
from logwarden.rules.statestore import ApiRule, ApiRuleRepository, RuleNameTakenError
from logwarden.rules.types.aggregate import AggregateRule
from logwarden.rules.types.metric_source import metric_rule_problem


def _service(rt: Runtime) -> tuple[RulesService, ApiRuleRepository]:
    service = rt.rule_service
    if service is None or service.repository is None or rt.meta is None:
        raise ApiError(503, "logwarden is starting or stopping; retry shortly", {"Retry-After": "1"})
    return service, service.repository


async def _body(request: Request) -> Any:
    try:
        return orjson.loads(await request.body())
    except orjson.JSONDecodeError as exc:
        raise ApiError(400, f"request body is not valid JSON: {exc}") from None


def file_view(entry: RuleEntry) -> dict[str, Any]:
    rule = entry.rule.model_dump(mode="json", by_alias=True, exclude_defaults=True)
    return {
        "name": entry.rule.name,
        "source": "file",
        "file": entry.file,
        "line": entry.line,
        "group": entry.group,
        "interval": interval_text(entry.interval),
        "type": entry.rule.type,
        "enabled": entry.rule.enabled,
        "rule": {"name": entry.rule.name, "type": entry.rule.type, **rule},
    }


def api_view(rule: ApiRule, service: RulesService) -> dict[str, Any]:
    view = {
        "name": rule.name,
        "source": "api",
        "id": rule.id,
        "group": rule.group,
        "interval": rule.interval,
        "type": rule.rule.get("type"),
        "enabled": rule.rule.get("enabled", True) is not False,
        "rule": rule.rule,
        "created": rule.created,
        "updated": rule.updated,
    }
    if rule.name in service.shadowed:
        view["shadowed_by"] = service.shadowed[rule.name]
    return view


def _with_evaluation(views: list[dict[str, Any]], status: list[dict[str, Any]], service: RulesService) -> None:
    """Add what this server's engine knows of each rule: `last_evaluated` (RFC 3339, null before its first
    evaluation or when the rule is not evaluated here: disabled or shadowed) and `matched` lines since start; for
    rules run on a schedule (`scheduled`, `aggregate` over a metric) also `runs`, `failures` and `last_error`
    (why the last run failed; null once a run succeeds)."""
    by_name = {s["rule"]: s for s in status}
    scheduled = {rule.name: rule for _, rule in service.engine.scheduled()}
    for view in views:
        found = by_name.get(view["name"])
        at = found.get("last_evaluated") if found is not None else None
        view["last_evaluated"] = at.isoformat() if at is not None else None
        view["matched"] = found["matched"] if found is not None else None
        rule = scheduled.get(view["name"])
        if rule is not None:
            view.update(runs=rule.runs, failures=rule.failures, last_error=rule.last_error)


def _read_only(entry: RuleEntry) -> ApiError:
    return ApiError(409, f"rule {entry.rule.name!r} comes from the rule file {where(entry)}: edit the file instead")


def _checked(body: Any, tenant: str, name: str | None = None) -> Any:
    if name is not None and isinstance(body, dict) and isinstance(body.get("rule"), dict):
        given = body["rule"].get("name", name)
        if given != name:
            raise ApiError(
                400, f"rule.name: {given!r} differs from the rule in the path ({name!r}); names do not change"
            )
        body = {**body, "rule": {**body["rule"], "name": name}}
    try:
        return check_api_rule(body, tenant)
    except RuleInputError as exc:
        raise ApiError(400, "; ".join(exc.problems)) from None


def _check_metric(service: RulesService, made: Any) -> None:
    """An `aggregate` rule over a metric names one in force, with what it can answer (400 naming the field)."""
    if isinstance(made.rule, AggregateRule):
        problem = metric_rule_problem(made.rule, service.scheduler.series if service.scheduler is not None else None)
        if problem is not None:
            raise ApiError(400, problem)


async def _apply(service: RulesService) -> None:
    # The engine takes the new rule set at once (it may wait for the batch it is evaluating).
    await asyncio.get_running_loop().run_in_executor(None, service.reload_api)


async def list_or_create(request: Request) -> Response:
    """GET: the rule files' rules and the tenant's own, by name, with when each was last evaluated and the rule
    directory's status; POST: make a rule (201; 409 when the name is taken)."""
    rt = runtime_of(request)
    tenant = rt.tenant(request)
    service, repo = _service(rt)
    assert rt.meta is not None
    if request.method == "GET":
        mine = await rt.meta.run(repo.list, tenant)
        views = [file_view(e) for e in service.file_rules.entries] + [api_view(r, service) for r in mine]
        views.sort(key=lambda v: v["name"])
        # The engine's lock may be held by a batch: ask off the event loop.
        status = await asyncio.get_running_loop().run_in_executor(None, service.engine.status)
        _with_evaluation(views, status, service)
        directory = service.watcher.status.as_dict() if service.watcher is not None else None
        return json_response({"rules": views, "directory": directory})
    made = _checked(await _body(request), tenant)
    _check_metric(service, made)
    name = made.rule.name
    entry = service.file_rule(name)
    if entry is not None:
        raise ApiError(409, f"rule name {name!r} is already used in {where(entry)}")
    try:
        created = await rt.meta.run(repo.create, tenant, made.group, made.interval, made.mapping)
    except RuleNameTakenError:
        raise ApiError(409, f"rule name {name!r} is already used") from None
    await _apply(service)
    await audit(request, "rule.create", name, tenant=tenant)
    return json_response(api_view(created, service), status=201)


async def item(request: Request) -> Response:
    """GET, PUT (replace the group and the rule; its name stays) or DELETE one rule; 404 when the tenant has
    no such rule, 409 for a rule file's rule."""
    rt = runtime_of(request)
    tenant = rt.tenant(request)
    service, repo = _service(rt)
    assert rt.meta is not None
    name = request.path_params["name"]
    entry = service.file_rule(name)
    missing = ApiError(404, f"no rule named {name!r}")
    if request.method == "GET":
        if entry is not None:
            view = file_view(entry)
        else:
            found = await rt.meta.run(repo.get, tenant, name)
            if found is None:
                raise missing
            view = api_view(found, service)
        status = await asyncio.get_running_loop().run_in_executor(None, service.engine.status)
        _with_evaluation([view], status, service)
        return json_response(view)
    if entry is not None:
        raise _read_only(entry)
    if request.method == "DELETE":
        if not await rt.meta.run(repo.delete, tenant, name):
            raise missing
        await _apply(service)
        await audit(request, "rule.delete", name, tenant=tenant)
        return Response(status_code=204)
    made = _checked(await _body(request), tenant, name)
    _check_metric(service, made)
    replaced = await rt.meta.run(repo.replace, tenant, name, made.group, made.interval, made.mapping)
    if replaced is None:
        raise missing
    await _apply(service)
    await audit(request, "rule.update", name, tenant=tenant)
    return json_response(api_view(replaced, service))
