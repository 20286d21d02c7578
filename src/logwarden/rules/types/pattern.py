"""`pattern`: alerts on log *patterns* — the templates the pattern miner assigns to lines (the `pattern_id`
column; null until the miner lands, so these rules see no events yet).

- `match: new` — a pattern a group has not shown within `lookback`: `new_value`'s machinery on `pattern_id`
  (seeded from history, `max_values`), optionally for one `service`.
- `match: rate_change` — a pattern whose rate departs from its usual rate. Not built yet: such a rule is
  validated (`rules check` accepts it) but not evaluated; the server logs a warning naming it when it loads.
"""

from __future__ import annotations

import logging
from datetime import datetime
from typing import Any, Literal, Self

import pyarrow as pa
import pyarrow.compute as pc
from pydantic import model_validator
from pydantic_core import PydanticCustomError

from logwarden.rules.base import BatchCache
from logwarden.rules.state import AlertTracker, Transition
from logwarden.rules.types.new_value import KnownValuesSettings, NewValueEvaluator, check_fields

log = logging.getLogger(__name__)

PATTERN_FIELD = "pattern_id"


class PatternRule(KnownValuesSettings):
    """Fires for a group on a log pattern (`pattern_id`, set by the pattern miner): with `match: new`, when its
    lines show a pattern not seen for the group within `lookback` (the alert's labels carry `pattern_id`; it
    resolves `window` after the last new one). `match: rate_change` is accepted but not evaluated yet. `query`
    defaults to `*`."""

    type: Literal["pattern"] = "pattern"
    """`pattern`."""
    query: str = "*"
    """Lines the rule looks at, in the search language without pipes; `*` (the default) for all."""
    match: Literal["new", "rate_change"] = "new"
    """`new`: a pattern not seen before; `rate_change`: a pattern whose rate changes (not evaluated yet)."""
    service: str | None = None
    """Only lines of this service (default: every service)."""

    @model_validator(mode="after")
    def _pattern_not_grouped(self) -> Self:
        try:
            check_fields((PATTERN_FIELD,), self.group_by)
        except PydanticCustomError:
            raise PydanticCustomError(
                "field_name",
                "group_by cannot hold '{name}': the pattern is the alert's own label",
                {"name": PATTERN_FIELD},
            ) from None
        return self

    def evaluator(self) -> Any:
        if self.match == "new":
            return NewPatternEvaluator(self)
        return NotEvaluated(self, "pattern rules with `match: rate_change` are not evaluated yet")


class NewPatternEvaluator(NewValueEvaluator):
    """`new_value` on `pattern_id`, for the lines of `service` when given."""

    def __init__(self, spec: PatternRule) -> None:
        super().__init__(spec, fields=(PATTERN_FIELD,))
        self.service = spec.service

    def line_mask(self, table: pa.Table) -> pa.Array | None:
        if self.service is None:
            return None
        if "service" not in table.column_names:
            return pa.repeat(pa.scalar(False), table.num_rows)
        return pc.equal(pc.cast(table.column("service"), pa.string()), self.service)


class NotEvaluated:
    """The evaluator of a valid rule whose evaluation is not built yet: it sees lines and never alerts (the
    engine runs it like any rule; a warning at load names the rule and why)."""

    needs_history = False

    def __init__(self, spec: Any, reason: str) -> None:
        self.spec = spec
        self.name: str = spec.name
        self.tracker = AlertTracker(spec.name, threshold=0.0)
        self.matched_lines = 0
        log.warning("rule %s is loaded but not evaluated: %s", spec.name, reason)

    def observe(self, table: pa.Table, shared: BatchCache) -> None:
        """Lines are ignored."""

    def evaluate(self, now: datetime, idle_head: datetime | None = None) -> list[Transition]:
        return []

    def snapshot(self) -> dict[str, Any]:
        return {}

    def restore(self, state: dict[str, Any]) -> None:
        """Nothing to restore."""

    @property
    def late_lines(self) -> int:
        return 0

    @property
    def groups(self) -> int:
        return 0
