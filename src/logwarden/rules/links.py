"""What an alert carries besides its lines: the threshold and window it was judged by, and the search that
reproduces it — the rule's query narrowed to the alert's group, over the window that made it fire — as the
console link (`/?q=…&start=…&end=…`) and the API request (`/api/v1/search?…`)."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import urlencode

from logwarden.model.units import format_duration


def _quoted(value: str) -> str:
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def group_query(spec: Any, labels: Mapping[str, str]) -> str:
    """The rule's query narrowed to one group: `(level:error) AND service:"api"` (a missing field: `-field:*`)."""
    query = str(spec.query)
    if "|" in query or getattr(spec, "type", None) == "scheduled":
        return query  # a query with pipes (scheduled rules) is shown as written
    fields: list[str] = []
    for names in (getattr(spec, "group_by", ()), getattr(spec, "by", ()), getattr(spec, "fields", ())):
        fields += [n for n in names or () if n != "tenant" and n not in fields]
    parts = [f"({query})"] if query.strip() not in ("", "*") else []
    for name in fields:
        if name not in labels:
            continue
        value = labels[name]
        parts.append(f"{name}:{_quoted(value)}" if value != "" else f"-{name}:*")
    return " AND ".join(parts) or "*"


def search_link(spec: Any, labels: Mapping[str, str], end: datetime) -> dict[str, str]:
    """The search that shows the lines behind an alert: its group's lines in the window ending at `end`."""
    window = getattr(spec, "range", None) or getattr(spec, "window", None) or timedelta(minutes=5)
    start = end - window
    params = {"q": group_query(spec, labels), "start": start.isoformat(), "end": end.isoformat()}
    return {**params, "url": "/?" + urlencode(params), "api": "/api/v1/search?" + urlencode(params)}


def judged_by(spec: Any) -> dict[str, Any]:
    """The threshold (and recovery level) and window an alert was judged by."""
    out: dict[str, Any] = {}
    for name in ("threshold", "resolve_below", "resolve_above", "resolve_at", "factor", "resolve_factor", "op", "fn"):
        value = getattr(spec, name, None)
        if value is not None:
            out[name] = value
    window = getattr(spec, "window", None)
    if isinstance(window, timedelta):
        out["window"] = format_duration(window)
    return out
