"""Loki stream labels: the Prometheus text form `{app="api", host="web-1"}` and what each label means.

Protobuf pushes carry a stream's labels as that string, with Go string escapes inside the quotes
(`\\"`, `\\\\`, `\\n`, `\\xHH`, `\\uHHHH` …). Streams repeat across pushes, so parses are cached.
"""

from __future__ import annotations

import functools
import re

_PAIR = re.compile(r'\s*([A-Za-z_][A-Za-z0-9_.]*)\s*=\s*"((?:[^"\\]|\\.)*)"\s*(,|\Z)', re.DOTALL)
_ESCAPE = re.compile(r"\\(?:x[0-9A-Fa-f]{2}|u[0-9A-Fa-f]{4}|U[0-9A-Fa-f]{8}|[0-7]{3}|.)", re.DOTALL)
_SIMPLE_ESCAPES = {
    "a": "\a",
    "b": "\b",
    "f": "\f",
    "n": "\n",
    "r": "\r",
    "t": "\t",
    "v": "\v",
    "\\": "\\",
    '"': '"',
    "'": "'",
}

# Labels that name a core field, in priority order; a label used for a core field leaves attrs.
SERVICE_LABELS = ("service_name", "service", "app", "job")
HOST_LABELS = ("host", "hostname", "instance")
LEVEL_LABELS = ("level", "detected_level")
TRACE_ID_LABELS = ("trace_id", "traceID", "traceId")
SPAN_ID_LABELS = ("span_id", "spanID", "spanId")
# Loki fills service_name with this when it found nothing better: it names no service.
_NO_SERVICE = "unknown_service"


class LabelSyntaxError(ValueError):
    """A label string that is not `{name="value", ...}`."""


def _unescape_one(match: re.Match[str]) -> str:
    code = match.group(0)[1:]
    if code[0] in "xuU":
        return chr(int(code[1:], 16))
    if code[0] in "01234567" and len(code) == 3:
        return chr(int(code, 8))
    # An escape Go would refuse is kept as written rather than failing the whole push.
    return _SIMPLE_ESCAPES.get(code, match.group(0))


def _unescape(value: str) -> str:
    return _ESCAPE.sub(_unescape_one, value) if "\\" in value else value


@functools.lru_cache(maxsize=4096)
def parse_labels(text: str) -> tuple[tuple[str, str], ...]:
    """The (name, value) pairs of a Prometheus label string, in order; LabelSyntaxError if malformed."""
    body = text.strip()
    if not (body.startswith("{") and body.endswith("}")):
        raise LabelSyntaxError(f'labels must look like {{name="value", ...}}, got {text[:200]!r}')
    inner = body[1:-1]
    pairs: list[tuple[str, str]] = []
    pos = 0
    while pos < len(inner):
        if not inner[pos:].strip():
            break
        match = _PAIR.match(inner, pos)
        if match is None:
            raise LabelSyntaxError(f"malformed labels near {inner[pos : pos + 60]!r} in {text[:200]!r}")
        pairs.append((match.group(1), _unescape(match.group(2))))
        pos = match.end()
        if match.group(3) == "" and pos < len(inner):
            raise LabelSyntaxError(f"expected ',' between labels in {text[:200]!r}")
    return tuple(pairs)


def _first(labels: dict[str, str], names: tuple[str, ...]) -> str | None:
    for name in names:
        value = labels.get(name)
        if value:
            del labels[name]
            return value
    return None


class CoreLabels:
    """What a set of labels says about the core fields, and the labels left over for attrs."""

    __slots__ = ("host", "level", "rest", "service", "span_id", "trace_id")

    def __init__(self, labels: dict[str, str]) -> None:
        rest = dict(labels)
        if rest.get("service_name") == _NO_SERVICE and any(rest.get(n) for n in SERVICE_LABELS[1:]):
            del rest["service_name"]
        self.service = _first(rest, SERVICE_LABELS)
        self.host = _first(rest, HOST_LABELS)
        self.level = _first(rest, LEVEL_LABELS)
        self.trace_id = _first(rest, TRACE_ID_LABELS)
        self.span_id = _first(rest, SPAN_ID_LABELS)
        self.rest = rest

    def overlaid(self, metadata: dict[str, str]) -> CoreLabels:
        """These labels with an entry's structured metadata on top (metadata wins name by name)."""
        merged = CoreLabels(metadata)
        merged.service = merged.service or self.service
        merged.host = merged.host or self.host
        merged.level = merged.level or self.level
        merged.trace_id = merged.trace_id or self.trace_id
        merged.span_id = merged.span_id or self.span_id
        merged.rest = {**self.rest, **merged.rest}
        return merged
