"""Alert annotation templates: Jinja2 in a sandbox, compiled when the rule loads, never failing at runtime.

A template sees `labels` (the alert's labels), `value`, `threshold`, `window` (as `1m`, `5m30s`) and
`evidence` (sample lines). Names it does not know render as empty strings, even chained (`{{ a.b.c }}`).

The sandbox (model/sandbox.py) refuses private attributes and unsafe calls and bounds every rendering in steps,
time and size; only harmless filters exist. A template that fails when it renders (`{{ 1 / 0 }}`, a bound
reached) yields a short error text in place of that annotation — rendering never raises.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Mapping
from datetime import timedelta
from typing import Any, TypedDict

from jinja2 import Template, TemplateSyntaxError

from logwarden.model.sandbox import MAX_OUTPUT_CHARS, BoundedEnvironment, TemplateBudgetError

__all__ = ["MAX_OUTPUT_CHARS", "AnnotationTemplateError", "TemplateBudgetError", "compile_template", "render"]

log = logging.getLogger(__name__)


class TemplateContext(TypedDict, total=False):
    """What an annotation template sees."""

    labels: Mapping[str, str]
    value: float | int | None
    threshold: float | int | None
    window: timedelta | str | None
    evidence: list[str]


class AnnotationTemplateError(ValueError):
    """An annotation that does not compile: `key` names it, the message says what and on which line."""

    def __init__(self, key: str, message: str) -> None:
        super().__init__(message)
        self.key = key


_ENV = BoundedEnvironment()


@functools.lru_cache(maxsize=4096)
def compile_template(source: str) -> Template:
    """The compiled template for `source` (cached: rules compile at load, render from the cache)."""
    return _ENV.compile_bounded(source)


def compile_annotations(templates: Mapping[str, str]) -> None:
    """Compile every annotation; the first that does not compile raises AnnotationTemplateError."""
    for key, source in templates.items():
        try:
            compile_template(source)
        except TemplateSyntaxError as exc:
            raise AnnotationTemplateError(key, f"line {exc.lineno}: {exc.message}") from None


def render(templates: Mapping[str, str], context: TemplateContext | Mapping[str, Any]) -> dict[str, str]:
    """Each annotation rendered over `context`; never raises (a failing one becomes a short error text)."""
    shown = _displayed(context)
    rendered = {}
    for key, source in templates.items():
        try:
            rendered[key] = _ENV.render_bounded(compile_template(source), shown)
        except Exception as exc:  # a template must never break alert evaluation
            log.warning("annotation %r failed to render: %s: %s", key, type(exc).__name__, exc)
            rendered[key] = f"[annotation {key} failed: {type(exc).__name__}: {exc}]"
    return rendered


def format_duration(value: timedelta) -> str:
    """`1m`, `1h30m`, `500ms`: durations the way rule files write them."""
    ms = round(value.total_seconds() * 1000)
    if ms == 0:
        return "0s"
    sign, ms = ("-", -ms) if ms < 0 else ("", ms)
    parts = []
    for unit, size in (("d", 86_400_000), ("h", 3_600_000), ("m", 60_000), ("s", 1000), ("ms", 1)):
        if ms >= size:
            parts.append(f"{ms // size}{unit}")
            ms %= size
    return sign + "".join(parts)


def _displayed(context: Mapping[str, Any]) -> dict[str, Any]:
    """Numbers as people write them (120, not 120.0), durations as rule files do (1m, not 0:01:00)."""
    shown: dict[str, Any] = {}
    for name, value in context.items():
        if isinstance(value, float) and value.is_integer():
            shown[name] = int(value)
        elif isinstance(value, timedelta):
            shown[name] = format_duration(value)
        elif isinstance(value, list):
            shown[name] = tuple(value)  # read-only: a template cannot grow the engine's evidence
        else:
            shown[name] = value
    return shown
