"""`ratio`: the share of a group's lines that match `query` among those that match `total_query`, over a sliding
window, compared with a threshold (ElastAlert's *percentage match*).

Two `CountWindow`s per rule: the lines matching both queries, and the lines matching `total_query`. The totals
are counted through the shared `BatchCache`, so rules with the same `total_query` (and `group_by`) — or
`threshold` rules with it as their `query` — share one filter and one grouping per batch.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

import pyarrow as pa
from pydantic import Field, field_validator
from pydantic_core import PydanticCustomError

from logwarden.query.filter import compile_filter
from logwarden.query.parser import parse_filter
from logwarden.rules.base import BatchCache
from logwarden.rules.model import Rule, query_checked
from logwarden.rules.statistic import StatisticRule, check_resolve_at
from logwarden.rules.windows import CountWindow


class RatioRule(Rule):
    """Fires for a group when the share of its lines that match `query`, out of its lines that match
    `total_query`, is above `threshold` (or below it, with `op: <`) over its window — each service's error
    rate, say. The value is a fraction between 0 and 1; a group with fewer than `min_total` lines in its
    window has no value: it does not alert, and its alert resolves."""

    type: Literal["ratio"] = "ratio"
    """`ratio`."""
    total_query: str = "*"
    """The lines the share is taken of, in the search language (default `*`: all lines). A line of `query`
    counts only if it matches this too, so the value stays between 0 and 1."""
    op: Literal[">", "<"] = ">"
    """`>` fires when the share is above `threshold`, `<` when it is below."""
    threshold: float = Field(ge=0)
    """The share, as a fraction between 0 and 1 (`0.05` is 5%)."""
    resolve_at: float | None = None
    """Hysteresis: once firing, the alert resolves only when the share is back at this level or beyond it (at
    or below it with `op: >`, at or above it with `op: <`; default: `threshold`)."""
    min_total: int = Field(10, ge=1)
    """How many `total_query` lines a group needs in its window to be evaluated, so one error out of two lines
    is not a 50% error rate."""

    @field_validator("threshold")
    @classmethod
    def _a_fraction(cls, value: float) -> float:
        if value > 1:
            raise PydanticCustomError(
                "fraction",
                "the share is a fraction between 0 and 1: write {percent}% as {fraction}",
                {"percent": f"{value:g}", "fraction": f"{value / 100:g}"},
            )
        return value

    @field_validator("total_query")
    @classmethod
    def _total_query_parses(cls, value: str) -> str:
        query_checked(parse_filter, value)
        return value

    _resolve_at = field_validator("resolve_at")(check_resolve_at)

    def evaluator(self) -> RatioEvaluator:
        return RatioEvaluator(self)


class RatioEvaluator(StatisticRule):
    """Per group: lines matching `query` and `total_query`, over lines matching `total_query`."""

    def __init__(self, spec: RatioRule) -> None:
        super().__init__(spec)
        self.total_filter = compile_filter(spec.total_query)
        self.matching = CountWindow(spec.window, lateness=spec.max_delay)
        self.totals = CountWindow(spec.window, lateness=spec.max_delay)

    def observe(self, table: pa.Table, shared: BatchCache | None = None) -> None:
        shared = shared or BatchCache(table)
        super().observe(table, shared)  # the head, and `query`'s lines through `add`
        if table.num_rows == 0:
            return
        total = shared.matched(self.total_filter.text, self.total_filter.mask)
        if total.num_rows == 0:
            return
        keys = shared.keys(self.total_filter.text, total, self.label_names)
        if self.totals.whole_seconds:
            self.totals.add_second_codes(*shared.second_codes(self.total_filter.text, total, self.label_names, keys))
        else:
            self.totals.add(keys, total.column("ts"))

    def add(self, matched: pa.Table, keys: pa.Array, shared: BatchCache) -> tuple[pa.Array, pa.Table] | None:
        if not self.total_filter.matches_all:
            mask = shared.mask_within(self.filter.text, self.total_filter)
            matched, keys = matched.filter(mask), keys.filter(mask)
            self.matching.add(keys, matched.column("ts"))
        elif self.matching.whole_seconds:
            self.matching.add_second_codes(*shared.second_codes(self.filter.text, matched, self.label_names, keys))
        else:
            self.matching.add(keys, matched.column("ts"))
        return keys, matched

    def values(self, at: datetime) -> dict[str, float]:
        # Groups below `min_total` have no value: the totals window leaves them out.
        totals = self.totals.values(at, above=self.spec.min_total - 1)
        matching = self.matching.values(at)
        shares = {k: matching.get(k, 0) / n for k, n in totals.items() if n >= self.spec.min_total}
        return self.reported(shares)

    def window_snapshot(self) -> Any:
        return {"matching": self.matching.snapshot(), "totals": self.totals.snapshot()}

    def window_restore(self, state: Any) -> None:
        self.matching.restore(state["matching"])
        self.totals.restore(state["totals"])

    @property
    def late_lines(self) -> int:
        return self.totals.late_lines

    @property
    def groups(self) -> int:
        return self.totals.groups
