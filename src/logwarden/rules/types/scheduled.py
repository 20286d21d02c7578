"""`scheduled`: a query with a stats pipe run every interval over the stored lines, one value per result row
compared with a threshold — the same alert state machine as the streaming rules (ElastAlert's query rules,
Prometheus' recording-and-alerting loop).

The bus engine skips these rules; `rules/scheduler.py` runs them on the server's event loop and hands each
run's values to the engine, which commits them like a batch's: state, transitions and current alerts in one
transaction, at the run's evaluation time.
"""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta
from typing import Any, Literal

import pyarrow as pa
from pydantic import Field, PrivateAttr, ValidationInfo, field_validator
from pydantic_core import PydanticCustomError

from logwarden.model.units import Duration
from logwarden.query import ast
from logwarden.query.parser import parse
from logwarden.query.planner import QueryPlan, plan
from logwarden.rules.model import Rule, query_checked
from logwarden.rules.state import AlertTracker, Transition, fingerprint

DEFAULT_EVERY = timedelta(minutes=1)
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_COUNT = ast.Stats((ast.Agg("count", None, "count"),))
# What an aggregation adds to the result; every other column is a group (a label).
_TOP_COLUMNS = ("count", "percent")

Op = Literal[">", ">=", "<", "<="]


def parsed_query(text: str) -> ast.Query:
    """The rule's query with its aggregation: a query without pipes counts lines (`| stats count()`)."""
    query = parse(text)
    return query if query.pipes else ast.Query(query.filter, query.time, (_COUNT,))


def value_columns(query: ast.Query) -> tuple[str, ...]:
    """The columns the query's aggregation computes (the others are its groups)."""
    agg = query.aggregation
    if isinstance(agg, ast.Stats):
        return tuple(a.alias for a in agg.aggs)
    return _TOP_COLUMNS


class ScheduledRule(Rule):
    """Runs `query` — a filter with a `stats`, `top` or `rare` pipe — every `every` over the last `range` of
    each tenant's stored lines; each result row is a group (its `by` values and the tenant are the alert's
    labels) and fires when its `value` compares with `threshold` by `op`."""

    type: Literal["scheduled"] = "scheduled"
    """`scheduled`."""
    every: Duration | None = Field(None, gt=timedelta(0))
    """How often the query runs (default: the group's `interval`, else `1m`). Runs are aligned to multiples of
    `every` and start `max_delay` after their evaluation time, so lines that arrive that late still count."""
    range: Duration | None = Field(None, gt=timedelta(0))
    """How far back each run looks: lines in `[evaluation time − range, evaluation time)` (default: `window`)."""
    value: str | None = Field(None, validate_default=True)
    """The result column compared with `threshold` (default: the only aggregate, `count` for `top`/`rare` or a
    query without pipes)."""
    op: Op = ">"
    """How the value compares with `threshold` for the alert to fire: `>`, `>=`, `<` or `<=`."""
    threshold: float
    """The level the value is compared with."""
    resolve_at: float | None = None
    """Hysteresis: once firing, the alert resolves only when the value is back at this level or beyond it (at
    or below it with `op: >`/`>=`, at or above it with `op: <`/`<=`; default: as soon as the condition stops)."""

    _tenant: str | None = PrivateAttr(None)

    @field_validator("query")
    @classmethod
    def _query_parses(cls, value: str) -> str:
        # Pipes are the point here: the whole search language, not just a filter.
        query = query_checked(parse, value)
        if query.pipes and query.aggregation is None:
            raise PydanticCustomError(
                "query_pipes", "a scheduled query needs a stats, top or rare pipe (or no pipes: it counts lines)", {}
            )
        if isinstance(query.aggregation, ast.Timechart):
            raise PydanticCustomError(
                "query_pipes", "timechart makes a series per group; use stats (one value per group)", {}
            )
        return value

    @field_validator("group_by")
    @classmethod
    def _no_group_by(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        if value:
            raise PydanticCustomError(
                "group_by", "a scheduled rule's groups are its query's `by` fields (`| stats count() by service`)", {}
            )
        return value

    @field_validator("value")
    @classmethod
    def _value_computed(cls, value: str | None, info: ValidationInfo) -> str | None:
        text = info.data.get("query")
        if text is None:
            return value  # the query is wrong: that is the error to report
        query = parsed_query(text)
        columns = value_columns(query)
        if value is not None and value not in columns:
            raise PydanticCustomError(
                "value", "'{value}' is not computed by the query: use one of {columns}", _choices(value, columns)
            )
        if value is None and isinstance(query.aggregation, ast.Stats) and len(columns) != 1:
            raise PydanticCustomError(
                "value", "the query computes several values: set `value` to one of {columns}", _choices("", columns)
            )
        return value

    @field_validator("resolve_at")
    @classmethod
    def _recovery_level(cls, value: float | None, info: ValidationInfo) -> float | None:
        threshold, op = info.data.get("threshold"), info.data.get("op")
        if value is None or threshold is None or op is None:
            return value
        above = op in (">", ">=")
        if (above and value > threshold) or (not above and value < threshold):
            side = "most" if above else "least"
            raise PydanticCustomError(
                "resolve_at",
                "must be at {side} threshold ({threshold}) with op '{op}'",
                {"side": side, "threshold": f"{threshold:g}", "op": op},
            )
        return value

    @property
    def value_column(self) -> str:
        return self.value or value_columns(parsed_query(self.query))[0]

    @property
    def tenant(self) -> str | None:
        """The one tenant whose lines the rule reads (a rule made through the API), or None: every tenant."""
        return self._tenant

    def scoped(self, tenant: str) -> ScheduledRule:
        """This rule restricted to one tenant's lines."""
        copy = self.model_copy()
        copy._tenant = tenant
        return copy

    def evaluator(self) -> ScheduledEvaluator:
        return ScheduledEvaluator(self)


def _choices(value: str, columns: tuple[str, ...]) -> dict[str, str]:
    return {"value": value, "columns": ", ".join(columns)}


class ScheduledEvaluator:
    """A scheduled rule's state: its alerts and when it last ran. The bus engine's `observe`/`evaluate` do
    nothing; the scheduler asks `due`, runs `plan_for` per tenant, and hands the `values_of` the results to
    the engine, which calls `apply` (see the module docstring)."""

    scheduled = True

    def __init__(self, spec: ScheduledRule) -> None:
        self.spec = spec
        self.name: str = spec.name
        self.query = parsed_query(spec.query)
        self.every: timedelta = spec.every or DEFAULT_EVERY
        self.range: timedelta = spec.range or spec.window
        self.column = spec.value_column
        self.tenant = spec.tenant
        above = spec.op in (">", ">=")
        # `>=` is `>` the next float below the threshold (exactly, floats being discrete); `<=` likewise.
        level = float(spec.threshold)
        if spec.op == ">=":
            level = math.nextafter(level, -math.inf)
        elif spec.op == "<=":
            level = math.nextafter(level, math.inf)
        flap = spec.flap_detection
        self.tracker = AlertTracker(
            spec.name,
            threshold=level,
            for_=spec.for_,
            keep_firing_for=spec.keep_firing_for,
            recover=spec.resolve_at,
            above=above,
            flap_window=flap.window if flap is not None else None,
            flap_changes=flap.changes if flap is not None else 0,
        )
        self.last_at: datetime | None = None
        self.matched_lines = 0  # rows the query returned, over every run
        self.runs = 0
        self.failures = 0
        self.last_error: str | None = None
        self._groups = 0

    # --- the engine's bus side: nothing (the scheduler drives this rule) --------------------------------

    def observe(self, table: pa.Table, shared: Any = None) -> None:
        return None

    def evaluate(self, now: datetime, idle_head: datetime | None = None) -> list[Transition]:
        return []

    @property
    def late_lines(self) -> int:
        return 0

    @property
    def groups(self) -> int:
        return self._groups

    # --- the scheduler's side -------------------------------------------------------------------------

    def due(self, now: datetime) -> datetime | None:
        """The evaluation time of the run due at wall-clock `now` (the newest multiple of `every` at least
        `max_delay` old), or None when that run is done already."""
        step = self.every // timedelta(microseconds=1)
        ready = (now - self.spec.max_delay - _EPOCH) // timedelta(microseconds=1)
        at = _EPOCH + timedelta(microseconds=ready // step * step)
        return at if self.last_at is None or at > self.last_at else None

    def next_due(self, now: datetime) -> datetime:
        """The wall-clock time the run after `now` becomes due."""
        step = self.every // timedelta(microseconds=1)
        ready = (now - self.spec.max_delay - _EPOCH) // timedelta(microseconds=1)
        return _EPOCH + timedelta(microseconds=(ready // step + 1) * step) + self.spec.max_delay

    def plan_for(self, tenant: str, at: datetime) -> QueryPlan:
        """The query over `[at − range, at)` of one tenant's lines."""
        return plan(self.query, tenant=tenant, start=at - self.range, end=at, now=at)

    def values_of(self, tenant: str, table: pa.Table) -> dict[str, tuple[dict[str, str], float]]:
        """Each result row as (labels, value) by fingerprint; rows without a value are left out."""
        if self.column not in table.column_names:
            raise ValueError(f"the query's result has no column '{self.column}' (it has {table.column_names})")
        skip = set(value_columns(self.query))
        groups = [n for n in table.column_names if n not in skip]
        out: dict[str, tuple[dict[str, str], float]] = {}
        values = table.column(self.column).to_pylist()
        keys = [table.column(n).to_pylist() for n in groups]
        for i, value in enumerate(values):
            if value is None:
                continue
            if isinstance(value, bool) or not isinstance(value, int | float):
                raise ValueError(f"column '{self.column}' is not a number ({type(value).__name__})")
            labels = {"tenant": tenant}
            for name, column in zip(groups, keys, strict=True):
                labels[name] = "" if column[i] is None else str(column[i])
            out[fingerprint(self.name, labels)] = (labels, float(value))
        return out

    def apply(self, at: datetime, values: dict[str, tuple[dict[str, str], float]]) -> list[Transition]:
        """Take one run's values (every tenant's) at evaluation time `at`."""
        self.last_at = at
        self.runs += 1
        self.matched_lines += len(values)
        self._groups = len(values)
        self.last_error = None
        return self.tracker.update(at, values)

    def failed(self, at: datetime, error: str) -> None:
        """A run that could not complete: nothing changes, and the next run is tried on time."""
        self.failures += 1
        self.last_error = error

    # --- checkpoints ------------------------------------------------------------------------------------

    def snapshot(self) -> dict[str, Any]:
        return {
            "alerts": self.tracker.snapshot(),
            "last_at": self.last_at.isoformat() if self.last_at else None,
            "matched": self.matched_lines,
            "groups": self._groups,
        }

    def restore(self, state: dict[str, Any]) -> None:
        self.tracker.restore(state.get("alerts", []))
        last = state.get("last_at")
        self.last_at = datetime.fromisoformat(last) if last else None
        self.matched_lines = int(state.get("matched", 0))
        self._groups = int(state.get("groups", 0))
