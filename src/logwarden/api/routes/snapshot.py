"""Helpers shared by the read routes (SQL, context, trace): time ranges, bounded integers, JSON lines."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import orjson
from starlette.requests import Request
from starlette.responses import Response

from logwarden.api.errors import ApiError
from logwarden.api.runtime import Runtime
from logwarden.query.timerange import TimeRangeError, parse_range, shown


def retained_range(rt: Runtime, tenant: str, start: str | None, end: str | None) -> tuple[datetime, datetime]:
    """[start, end) from optional parameters; by default everything the tenant's retention keeps."""
    try:
        return parse_range(start, end, default_span=timedelta(days=rt.config.retention_days_for(tenant)))
    except TimeRangeError as exc:
        raise ApiError(400, str(exc)) from None


def int_param(request: Request, name: str, default: int, low: int, high: int) -> int:
    """A bounded integer query parameter; 400 with the allowed range otherwise."""
    raw = request.query_params.get(name)
    if raw is None or raw == "":
        return default
    # isascii: str.isdigit() is also true for '²', which int() refuses; the length keeps int() cheap.
    if not (raw.isascii() and raw.isdigit()) or len(raw) > 18 or not low <= int(raw) <= high:
        raise ApiError(400, f"invalid {name} {shown(raw)}: use an integer from {low} to {high}")
    return int(raw)


def json_default(value: Any) -> Any:
    """orjson fallback for values it does not know: decimals as numbers, anything else as text.

    SQL rows arrive as JSON already (the store converts them); lines hold only core-schema values."""
    if isinstance(value, Decimal):
        return float(value)
    return str(value)


def json_response(payload: Any, status: int = 200) -> Response:
    """JSON with timestamps as RFC 3339 in UTC (`Z`) and DuckDB values made JSON-friendly."""
    body = orjson.dumps(
        payload, default=json_default, option=orjson.OPT_UTC_Z | orjson.OPT_NAIVE_UTC | orjson.OPT_NON_STR_KEYS
    )
    return Response(body, status_code=status, media_type="application/json")


def line_json(row: dict[str, Any]) -> dict[str, Any]:
    """A stored line as the API shows it: attrs as an object, timestamps as UTC datetimes."""
    attrs = row.get("attrs")
    row["attrs"] = orjson.loads(attrs) if attrs else {}
    for key in ("ts", "observed_ts"):
        value = row.get(key)
        if isinstance(value, datetime):
            row[key] = value.astimezone(UTC)
    return row
