"""Dashboards CRUD: /api/v1/dashboards and /api/v1/dashboards/{dashboard_id}, per tenant.

The built-in Overview (id `overview`) is listed first and readable like any other; changing or deleting it is
a 400 (save a copy under another name instead).
"""

from __future__ import annotations

import re
from typing import Any

from logwarden.api.errors import ApiError
from logwarden.api.routes.tenant_crud import TenantCollection
from logwarden.logmetrics.query import FUNCTIONS
from logwarden.meta.dashboards import (
    OVERVIEW_ID,
    DashboardFields,
    DashboardNameTakenError,
    DashboardRepository,
    overview,
)
from logwarden.query.errors import QuerySyntaxError
from logwarden.query.parser import parse

MAX_NAME = 200
MAX_DESCRIPTION = 2_000
MAX_QUERY = 10_000
MAX_PANELS = 48
MAX_TITLE = 200
VIZ = ("timeseries", "bar", "table", "stat", "pie")
SOURCES = ("query", "metric", "alerts", "self")
FIGURES = ("ingest_rate", "applier_lag")
TRANSFORMS = ("error_percent",)
REFRESH = ("5s", "10s", "30s", "1m", "5m", "15m", "1h")
_NAME = re.compile(r"[a-zA-Z_][a-zA-Z0-9_]*")
_FIELDS = frozenset({"name", "description", "panels", "refresh"})
_READ_ONLY = frozenset({"id", "builtin", "created", "updated"})
# Keys each source allows beyond title, viz, source and width.
_SOURCE_KEYS = {
    "query": {"query"},
    "metric": {"metric", "fn", "by", "transform"},
    "alerts": set(),
    "self": {"figure"},
}


def validate_fields(body: Any) -> DashboardFields:
    """A dashboard from a JSON body; ApiError 400 saying which field (which panel) is wrong and why."""
    if not isinstance(body, dict):
        raise ApiError(400, 'request body must be a JSON object like {"name": "checkout", "panels": [...]}')
    unknown = sorted(set(body) - _FIELDS - _READ_ONLY)
    if unknown:
        raise ApiError(400, f"unknown field {unknown[0]!r}: a dashboard has name, description, panels and refresh")
    name = body.get("name")
    if not isinstance(name, str) or not name.strip():
        raise ApiError(400, "'name' is required: a non-empty string")
    name = name.strip()
    if len(name) > MAX_NAME:
        raise ApiError(400, f"'name' is too long ({len(name)} characters; at most {MAX_NAME})")
    description = body.get("description") or ""
    if not isinstance(description, str) or len(description) > MAX_DESCRIPTION:
        raise ApiError(400, f"'description' must be a string of at most {MAX_DESCRIPTION} characters")
    panels = body.get("panels", [])
    if not isinstance(panels, list):
        raise ApiError(400, "'panels' must be a list of panels")
    if len(panels) > MAX_PANELS:
        raise ApiError(400, f"too many panels ({len(panels)}; at most {MAX_PANELS})")
    refresh = body.get("refresh")
    if refresh is not None and refresh not in REFRESH:
        raise ApiError(400, f"invalid 'refresh' {refresh!r}: use null (off) or one of {', '.join(REFRESH)}")
    checked = tuple(_panel(p, i) for i, p in enumerate(panels))
    return DashboardFields(name, description, checked, refresh)


def _panel(panel: Any, index: int) -> dict[str, Any]:
    where = f"panels[{index}]"
    if not isinstance(panel, dict):
        raise ApiError(400, f"{where} must be an object with title, viz and a query")
    source = panel.get("source", "query")
    if source not in SOURCES:
        raise ApiError(400, f"{where}.source {source!r} is unknown: use one of {', '.join(SOURCES)}")
    allowed = {"title", "viz", "source", "width"} | _SOURCE_KEYS[source]
    unknown = sorted(set(panel) - allowed)
    if unknown:
        raise ApiError(400, f"{where}: unknown key {unknown[0]!r} for a {source} panel")
    title = panel.get("title")
    if not isinstance(title, str) or not title.strip() or len(title) > MAX_TITLE:
        raise ApiError(400, f"{where}.title is required: a non-empty string of at most {MAX_TITLE} characters")
    viz = panel.get("viz")
    if viz not in VIZ:
        raise ApiError(400, f"{where}.viz {viz!r} is unknown: use one of {', '.join(VIZ)}")
    width = panel.get("width", 1)
    if not isinstance(width, int) or isinstance(width, bool) or not 1 <= width <= 3:
        raise ApiError(400, f"{where}.width must be 1, 2 or 3 (grid columns)")
    out: dict[str, Any] = {"title": title.strip(), "viz": viz, "source": source, "width": width}
    if source == "query":
        out["query"] = _query(panel.get("query"), where)
    elif source == "metric":
        out.update(_metric(panel, where))
    elif source == "self":
        figure = panel.get("figure")
        if figure not in FIGURES:
            raise ApiError(400, f"{where}.figure {figure!r} is unknown: use one of {', '.join(FIGURES)}")
        out["figure"] = figure
    return out


def _query(query: Any, where: str) -> str:
    if not isinstance(query, str):
        raise ApiError(400, f"{where}.query is required: a string in the search language")
    if len(query) > MAX_QUERY:
        raise ApiError(400, f"{where}.query is too long ({len(query)} characters; at most {MAX_QUERY})")
    try:
        parse(query)
    except QuerySyntaxError as exc:
        raise ApiError(400, f"invalid {where}.query: {exc}") from None
    return query


def _metric(panel: dict[str, Any], where: str) -> dict[str, Any]:
    # The metric itself is checked when the panel is drawn (definitions may change with a restart).
    metric = panel.get("metric")
    if not isinstance(metric, str) or not _NAME.fullmatch(metric):
        raise ApiError(400, f"{where}.metric is required: a metric name like logs_total")
    fn = panel.get("fn", "rate")
    if fn not in FUNCTIONS:
        raise ApiError(400, f"{where}.fn {fn!r} is unknown: use one of {', '.join(FUNCTIONS)}")
    by = panel.get("by", [])
    if not isinstance(by, list) or not all(isinstance(b, str) and _NAME.fullmatch(b) for b in by):
        raise ApiError(400, f"{where}.by must be a list of label names")
    out: dict[str, Any] = {"metric": metric, "fn": fn, "by": by}
    transform = panel.get("transform")
    if transform is not None:
        if transform not in TRANSFORMS:
            raise ApiError(400, f"{where}.transform {transform!r} is unknown: use one of {', '.join(TRANSFORMS)}")
        if "level" not in by:
            raise ApiError(400, f"{where}.transform {transform} needs the series by level (add 'level' to by)")
        out["transform"] = transform
    return out


def _not_overview(fields: DashboardFields) -> None:
    if fields.name.casefold() == "overview":
        raise ApiError(409, "'Overview' is the built-in dashboard's name: choose another")


DASHBOARDS = TenantCollection[DashboardFields](
    noun="dashboard",
    list_key="dashboards",
    path_param="dashboard_id",
    repository=DashboardRepository,
    validate=validate_fields,
    name_taken=DashboardNameTakenError,
    name_of=lambda fields: fields.name,
    check=_not_overview,
    builtins=lambda tenant: [overview(tenant)],
    builtin_id=OVERVIEW_ID,
    builtin_refusal="the built-in Overview cannot be changed or deleted: save a copy under another name",
)
list_or_create = DASHBOARDS.list_or_create
item = DASHBOARDS.item
