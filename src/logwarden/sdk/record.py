"""A logging.LogRecord → the JSON object logwarden's ingest API expects (standardized fields)."""

from __future__ import annotations

import json
import logging
import traceback
from datetime import UTC, datetime
from typing import Any

# Attributes every LogRecord has; anything else on a record came from `extra=` (or structlog).
_RECORD_ATTRS = frozenset(
    vars(logging.LogRecord("x", logging.INFO, "x", 0, "x", None, None)).keys() | {"message", "asctime", "taskName"}
)
_LEVELS = {logging.DEBUG: "DEBUG", logging.INFO: "INFO", logging.WARNING: "WARN", logging.ERROR: "ERROR",
           logging.CRITICAL: "FATAL"}  # fmt: skip


def current_trace() -> tuple[str | None, str | None]:
    """(trace_id, span_id) of the active OpenTelemetry span, when opentelemetry is installed and one is active."""
    try:
        from opentelemetry import trace
    except ImportError:
        return None, None
    ctx = trace.get_current_span().get_span_context()
    if not ctx.is_valid:
        return None, None
    return f"{ctx.trace_id:032x}", f"{ctx.span_id:016x}"


def level_name(levelno: int) -> str:
    if levelno in _LEVELS:
        return _LEVELS[levelno]
    if levelno < logging.DEBUG:
        return "TRACE"
    for threshold, name in ((logging.CRITICAL, "FATAL"), (logging.ERROR, "ERROR"), (logging.WARNING, "WARN")):
        if levelno >= threshold:
            return name
    return "INFO" if levelno >= logging.INFO else "DEBUG"


def to_json_line(record: logging.LogRecord, message: str, static: dict[str, Any]) -> bytes:
    """One NDJSON line for `record`; `static` holds service, version, component, node_id, … for every line."""
    doc: dict[str, Any] = {
        "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="microseconds"),
        "level": level_name(record.levelno),
        "msg": message,
        "logger": record.name,
        "source_location": {"file": record.pathname, "line": record.lineno, "function": record.funcName},
        "thread": record.threadName,
        "pid": record.process,
    }
    doc.update(static)
    trace_id, span_id = current_trace()
    if trace_id:
        doc["trace_id"], doc["span_id"] = trace_id, span_id
    context: dict[str, Any] = {}
    for key, value in vars(record).items():
        if key in _RECORD_ATTRS or key.startswith("_"):
            continue
        if key in ("trace_id", "span_id", "service", "version", "component", "node_id", "log_id"):
            doc[key] = value
        else:
            context[key] = value
    if context:
        doc["context"] = context
    if record.exc_info and record.exc_info[0] is not None:
        doc["error"] = {
            "type": record.exc_info[0].__name__,
            "message": str(record.exc_info[1]),
            "stack": "".join(traceback.format_exception(*record.exc_info)),
        }
    if record.stack_info:
        doc["stack_info"] = record.stack_info
    return json.dumps(doc, default=str, separators=(",", ":"), ensure_ascii=False).encode()
