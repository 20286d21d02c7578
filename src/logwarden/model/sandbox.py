"""A bounded Jinja2 sandbox for user templates (alert annotations, notification messages).

Jinja's immutable sandbox refuses private attributes (`__class__`, `_x`) and unsafe calls. On top of it, one
rendering is bounded: every loop iteration, call and output chunk spends a step (at most MAX_STEPS) and is
checked against a deadline (MAX_SECONDS); output (at most the environment's `max_output`), string repetition and
padding cannot grow past their bounds; only harmless filters exist.
"""

from __future__ import annotations

import operator
import re
import threading
import time
from collections.abc import Iterable, Iterator, Mapping
from typing import Any

from jinja2 import ChainableUndefined, Template, nodes
from jinja2.exceptions import SecurityError
from jinja2.runtime import Context
from jinja2.sandbox import ImmutableSandboxedEnvironment

MAX_OUTPUT_CHARS = 16_384
MAX_STEPS = 20_000
MAX_SECONDS = 0.1

# Filters a template may use: text shaping over bounded data; none pads to a size or reads the environment.
_ALLOWED_FILTERS = (
    "abs", "capitalize", "default", "d", "first", "float", "int", "join", "last", "length", "count", "list",
    "lower", "max", "min", "replace", "reverse", "round", "sort", "string", "sum", "title", "trim", "unique",
    "upper", "map", "select", "reject", "selectattr", "rejectattr", "dictsort", "items", "tojson", "batch",
    "truncate",
)  # fmt: skip
_ALLOWED_TESTS = (
    "defined", "undefined", "none", "number", "string", "mapping", "sequence", "iterable", "eq", "ne", "lt", "le",
    "gt", "ge", "in", "even", "odd", "divisibleby", "boolean", "true", "false", "integer", "float", "lower", "upper",
)  # fmt: skip
_BINOPS: dict[str, Any] = {
    "*": operator.mul, "**": operator.pow, "//": operator.floordiv, "%": operator.mod,
    "+": operator.add, "-": operator.sub, "/": operator.truediv,
}  # fmt: skip
# String methods that build a string of a size given by an argument or a format width.
_SIZED_STR_METHODS = frozenset({"format", "format_map", "center", "ljust", "rjust", "zfill", "expandtabs"})
_WIDE_PERCENT_FORMAT = re.compile(r"%[-#0 +]*(\*|\d{4,})|%[-#0 +]*\d*\.(\*|\d{4,})")
_ITER_GLOBAL = "lw_bounded_iter"


class TemplateBudgetError(SecurityError):
    """A rendering went past its step, size or time bound."""


class _Budget(threading.local):
    """Steps and deadline of the rendering in progress on this thread (None between renderings)."""

    steps: int = 0
    deadline: float | None = None

    def start(self) -> None:
        self.steps = MAX_STEPS
        self.deadline = time.monotonic() + MAX_SECONDS

    def stop(self) -> None:
        self.deadline = None

    def spend(self) -> None:
        if self.deadline is None:
            return
        self.steps -= 1
        if self.steps < 0:
            raise TemplateBudgetError(f"more than {MAX_STEPS} steps")
        if time.monotonic() > self.deadline:
            raise TemplateBudgetError(f"longer than {MAX_SECONDS * 1000:g} ms")


class BoundedEnvironment(ImmutableSandboxedEnvironment):
    """Jinja's sandbox with iteration, calls, arithmetic and output bounded, and only harmless filters."""

    # Intercepting these also keeps the compiler from folding `'x' * 10**9` into a constant at load.
    intercepted_binops = frozenset(_BINOPS)

    def __init__(self, max_output: int = MAX_OUTPUT_CHARS) -> None:
        super().__init__(undefined=ChainableUndefined, autoescape=False)
        self.max_output = max_output  # notification bodies (alerting/notifiers/render.py) may be longer
        self.budget = _Budget()
        self.filters = {name: self.filters[name] for name in _ALLOWED_FILTERS if name in self.filters}
        self.tests = {name: self.tests[name] for name in _ALLOWED_TESTS if name in self.tests}
        self.filters["replace"] = _bounded_replace
        self.globals = {"range": self._range, _ITER_GLOBAL: self._iterate}

    def compile_bounded(self, source: str) -> Template:
        """Compile with every `for` loop's sequence wrapped so each iteration spends a step."""
        tree = self.parse(source)
        for loop in tree.find_all(nodes.For):
            loop.iter = nodes.Call(nodes.Name(_ITER_GLOBAL, "load"), [loop.iter], [], None, None)
        return self.from_string(tree)

    def render_bounded(self, template: Template, context: Mapping[str, Any]) -> str:
        """The rendered text; TemplateBudgetError when a bound is reached."""
        self.budget.start()
        try:
            out: list[str] = []
            size = 0
            for chunk in template.generate(dict(context)):
                size += len(chunk)
                if size > self.max_output:
                    raise TemplateBudgetError(f"output longer than {self.max_output} characters")
                out.append(chunk)
                self.budget.spend()
            return "".join(out)
        finally:
            self.budget.stop()

    def wrap_str_format(self, value: Any) -> None:
        """No `str.format`: its widths (`{:>999999999}`) would build huge strings; is_safe_attribute refuses it."""
        return None

    def is_safe_attribute(self, obj: Any, attr: str, value: Any) -> bool:
        if isinstance(obj, str) and attr in _SIZED_STR_METHODS:
            return False
        return super().is_safe_attribute(obj, attr, value)

    def call(__self, __context: Context, __obj: Any, *args: Any, **kwargs: Any) -> Any:  # noqa: N805 - Jinja's names
        __self.budget.spend()
        return super().call(__context, __obj, *args, **kwargs)

    def call_binop(self, context: Context, operator_name: str, left: Any, right: Any) -> Any:
        self.budget.spend()
        if operator_name == "**" and isinstance(right, int | float) and abs(right) > 64:
            raise TemplateBudgetError("exponent larger than 64")
        if operator_name == "*" and max(_size(left) * _count(right), _size(right) * _count(left)) > MAX_OUTPUT_CHARS:
            raise TemplateBudgetError(f"repetition longer than {MAX_OUTPUT_CHARS}")
        if operator_name == "%" and isinstance(left, str) and _WIDE_PERCENT_FORMAT.search(left):
            raise TemplateBudgetError("format width too large")
        result = _BINOPS[operator_name](left, right)
        if _size(result) > MAX_OUTPUT_CHARS:
            raise TemplateBudgetError(f"value longer than {MAX_OUTPUT_CHARS}")
        return result

    def _iterate(self, iterable: Iterable[Any]) -> Iterator[Any]:
        for item in iterable:
            self.budget.spend()
            yield item

    def _range(self, *args: int) -> Iterator[int]:
        return self._iterate(range(*args))


def _bounded_replace(value: Any, old: str, new: str, count: int | None = None) -> str:
    """Jinja's `replace`, refusing a result past MAX_OUTPUT_CHARS before building it."""
    text, old, new = str(value), str(old), str(new)
    hits = text.count(old) if old else len(text) + 1
    if count is not None and count >= 0:
        hits = min(hits, count)
    if len(text) + hits * max(len(new) - len(old), 0) > MAX_OUTPUT_CHARS:
        raise TemplateBudgetError(f"replace result longer than {MAX_OUTPUT_CHARS}")
    return text.replace(old, new, -1 if count is None else count)


def _size(value: Any) -> int:
    return len(value) if isinstance(value, str | list | tuple) else 0


def _count(value: Any) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) else 0
