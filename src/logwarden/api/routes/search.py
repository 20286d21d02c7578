"""GET /api/v1/search and GET /api/v1/stats/count (the minimal search; the full language comes later)."""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any

import orjson
import pyarrow as pa
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from logwarden.api.errors import ApiError
from logwarden.api.row_caps import capped_rows
from logwarden.api.runtime import runtime_of
from logwarden.model.levels import normalize_level_text
from logwarden.plan.filter import terms_filter
from logwarden.plan.nodes import META_TOTAL, CountPlan, SearchPlan, meta_int
from logwarden.query.timerange import TimeRangeError, parse_range, shown

MAX_LIMIT = 10_000
_TERM_RE = re.compile(r'"([^"]*)"|(\S+)')
_FILTER_PARAMS = ("service", "host", "level", "source")


def parse_terms(q: str | None) -> tuple[str, ...]:
    """Whitespace-separated words and "quoted phrases"; each must occur in the message."""
    if not q:
        return ()
    return tuple(t for phrase, word in _TERM_RE.findall(q) if (t := phrase or word))


def _range(request: Request) -> tuple[datetime, datetime]:
    try:
        return parse_range(request.query_params.get("start"), request.query_params.get("end"))
    except TimeRangeError as exc:
        raise ApiError(400, str(exc)) from None


def _limit(request: Request, default: int) -> int:
    raw = request.query_params.get("limit")
    if raw is None or raw == "":
        return capped_rows(request, default, explicit=False)
    if not (raw.isascii() and raw.isdigit()) or len(raw) > 18 or not 1 <= int(raw) <= MAX_LIMIT:
        raise ApiError(400, f"invalid limit {shown(raw)}: use an integer from 1 to {MAX_LIMIT}")
    return capped_rows(request, int(raw), explicit=True)


def _filters(request: Request) -> dict[str, tuple[str, ...]]:
    equals: dict[str, tuple[str, ...]] = {}
    for name in _FILTER_PARAMS:
        raw = request.query_params.get(name)
        if not raw:
            continue
        values = tuple(v.strip() for v in raw.split(",") if v.strip())
        if not values:
            continue  # only blanks and commas: no filter, as if the parameter were absent
        if name == "level":
            normalized = normalize_level_text(pa.array(values, pa.string())).to_pylist()
            bad = [v for v, n in zip(values, normalized, strict=True) if n is None]
            if bad:
                raise ApiError(400, f"unknown level {bad[0]!r}: use trace, debug, info, warn, error or fatal")
            values = tuple(normalized)
        equals[name] = values
    return equals


def _hit_json(hit: dict[str, Any]) -> dict[str, Any]:
    for key in ("ts", "observed_ts"):
        value = hit.get(key)
        if isinstance(value, datetime):
            hit[key] = value.isoformat().replace("+00:00", "Z")
    return hit


async def search(request: Request) -> Response:
    rt = runtime_of(request)
    store = rt.require_store()
    start, end = _range(request)
    plan = SearchPlan(
        rt.tenant(request),
        start,
        end,
        terms_filter(parse_terms(request.query_params.get("q")), _filters(request)),
        limit=_limit(request, 100),
    )
    table = await store.execute(plan)
    hits = table.to_pylist()
    for hit in hits:
        attrs = hit.get("attrs")
        hit["attrs"] = orjson.loads(attrs) if attrs else {}
    return JSONResponse({"total": meta_int(table, META_TOTAL), "hits": [_hit_json(h) for h in hits]})


async def count(request: Request) -> Response:
    rt = runtime_of(request)
    store = rt.require_store()
    start, end = _range(request)
    by = tuple(f.strip() for f in request.query_params.get("by", "").split(",") if f.strip())
    for name in by:
        if name in ("ts", "observed_ts", "message", "attrs", "tenant", "log_id") or name == "attrs.":
            raise ApiError(400, f"cannot group by {name!r}: use service, host, level, source or an attrs field")
    plan = CountPlan(
        rt.tenant(request),
        start,
        end,
        terms_filter(parse_terms(request.query_params.get("q")), _filters(request)),
        by=by,
        limit=_limit(request, 1000),
    )
    table = await store.execute(plan)
    return JSONResponse({"by": list(by), "counts": table.to_pylist(), "total": meta_int(table, META_TOTAL)})
