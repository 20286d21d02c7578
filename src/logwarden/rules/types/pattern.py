"""`pattern`: alerts on log *patterns* — the templates the pattern miner assigns to lines (the `pattern_id`
column). Every alert carries the pattern in its `pattern_id` label. Three modes (docs/patterns.md):

- `match: new` — a pattern a group has not shown within `lookback`: `new_value`'s machinery on `pattern_id`
  (seeded from history, `max_values`).
- `match: rate_change` — a pattern whose line count in `window` departs from its trailing `baseline` (the mean
  count per window over that span before it) by more than `factor` (`spike`'s machinery, grouped by
  `pattern_id`). A pattern with fewer than `min_count` lines in the whole baseline is never compared: it has
  no rate yet (a new pattern is `match: new`'s job).
- `match: gone` — a *regular* pattern (lines in at least `regular` of the last `regular_of` windows up to its
  last line) that has shown no line for a whole `window`; `for` delays the alert further. A pattern silent past
  `forget_after` is forgotten (its alert resolves).

Every mode looks only at lines with a pattern, of `service` when given, at `min_level` or above when given.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any, Literal, Self

import pyarrow as pa
import pyarrow.compute as pc
from pydantic import Field, model_validator
from pydantic_core import PydanticCustomError

from logwarden.model.units import Duration
from logwarden.query.filter import compile_filter
from logwarden.rules.base import BatchCache, GroupRule, HistoryReader
from logwarden.rules.history_windows import Direction, to_us
from logwarden.rules.state import Transition, fingerprint
from logwarden.rules.types.new_value import KnownValuesSettings, NewValueEvaluator, check_fields
from logwarden.rules.types.spike import NO_CHANGE, SpikeEvaluator, SpikeRule

PATTERN_FIELD = "pattern_id"
GONE = 1.0  # the value of a regular pattern that stopped; the tracker's threshold is half of it


class PatternRule(KnownValuesSettings):
    """Fires for a group on a log pattern (`pattern_id`, set by the pattern miner); the alert's labels carry
    `pattern_id`. `match: new`: a pattern not seen for the group within `lookback` (resolves `window` after the
    last new one). `match: rate_change`: a pattern's count in `window` is more than `factor` times its mean per
    window over `baseline` (or less than that mean divided by `factor`, with `direction: down`). `match: gone`:
    a pattern seen in at least `regular` of the last `regular_of` windows shows no line for a whole `window`.
    `query` defaults to `*`."""

    type: Literal["pattern"] = "pattern"
    """`pattern`."""
    query: str = "*"
    """Lines the rule looks at, in the search language without pipes; `*` (the default) for all."""
    match: Literal["new", "rate_change", "gone"] = "new"
    """`new`: a pattern not seen before; `rate_change`: a pattern whose rate departs from its baseline;
    `gone`: a regular pattern that stops."""
    service: str | None = None
    """Only lines of this service (default: every service)."""
    min_level: Literal["TRACE", "DEBUG", "INFO", "WARN", "ERROR", "FATAL"] | None = None
    """Only lines at this level or above (`WARN`: warnings, errors and fatal lines; default: every line)."""
    baseline: Duration = Field(timedelta(hours=1), gt=timedelta(0))
    """`rate_change`: the span before the window whose mean count per window is the reference; at least
    `window`. No alert until the rule has watched the window and its baseline."""
    factor: float = Field(3.0, gt=1)
    """`rate_change`: how many times the baseline the count must pass (`3`: above 3× up, below a third down)."""
    direction: Direction = "up"
    """`rate_change`: `up` (more lines than usual), `down` (fewer) or `both`."""
    min_count: int = Field(10, ge=1)
    """`rate_change`: the larger of the count and the reference must be at least this to compare them."""
    regular: int = Field(5, ge=1)
    """`gone`: a pattern is regular when it has lines in at least this many of the `regular_of` windows up to
    its last line."""
    regular_of: int = Field(6, ge=1, le=1000)
    """`gone`: how many windows (the one of its last line and those before) regularity is judged over."""
    forget_after: Duration = Field(timedelta(hours=24))
    """`gone`: a pattern silent this long is forgotten: its alert resolves (a retired kind stops alerting)."""

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
        if self.match == "rate_change" and self.baseline < self.window:
            raise PydanticCustomError("baseline", "baseline must be at least window", {})
        if self.match == "gone":
            if self.regular > self.regular_of:
                raise PydanticCustomError("regular", "regular must be at most regular_of", {})
            if self.forget_after <= self.window:
                raise PydanticCustomError("forget_after", "forget_after must be longer than window", {})
        return self

    def filter_query(self) -> str:
        """The rule's query narrowed to lines with a pattern, of `service`, at `min_level` or above."""
        parts = [f"({self.query})"] if self.query.strip() not in ("", "*") else []
        parts.append(f"_exists_:{PATTERN_FIELD}")
        if self.service is not None:
            parts.append('service:"' + self.service.replace("\\", "\\\\").replace('"', '\\"') + '"')
        if self.min_level is not None:
            parts.append(f"level:>={self.min_level.lower()}")
        return " AND ".join(parts)

    def evaluator(self) -> Any:
        if self.match == "rate_change":
            return PatternRateEvaluator(self)
        if self.match == "gone":
            return PatternGoneEvaluator(self)
        return NewPatternEvaluator(self)


class NewPatternEvaluator(NewValueEvaluator):
    """`new_value` on `pattern_id`, over the lines of `PatternRule.filter_query` (in the stream and in the history
    it is seeded from)."""

    def __init__(self, spec: PatternRule) -> None:
        super().__init__(spec, fields=(PATTERN_FIELD,))
        # The engine's matched lines carry few columns (no level): the narrowing is the rule's filter itself.
        self.filter = compile_filter(spec.filter_query())

    def seed(self, history: HistoryReader, now: datetime) -> None:
        super().seed(_NarrowedHistory(history, self.filter.text), now)


class _NarrowedHistory:
    """A `HistoryReader` that reads `query` whatever it is asked."""

    def __init__(self, history: HistoryReader, query: str) -> None:
        self.history, self.query = history, query

    def scan(
        self, query: str, start: datetime, end: datetime, columns: Sequence[str] | None = None
    ) -> Sequence[pa.Table]:
        return self.history.scan(self.query, start, end, columns)


class PatternRateEvaluator(SpikeEvaluator):
    """`spike` against a trailing baseline, per (group, pattern): the value is count / mean count per window."""

    def __init__(self, spec: PatternRule) -> None:
        settings = spec.model_dump(
            include={"name", "window", "for_", "keep_firing_for", "max_delay", "samples", "top_fields", "severity"},
            by_alias=True,
        )
        spike = SpikeRule.model_validate(
            {
                **settings,
                "type": "spike",
                "query": spec.filter_query(),
                "group_by": [*spec.group_by, PATTERN_FIELD],
                "compare": {"baseline": spec.baseline},
                "factor": spec.factor,
                "direction": spec.direction,
                "min_count": spec.min_count,
            }
        )
        super().__init__(spike)
        self.spec = spec  # the engine reads the rule's own settings (labels, annotations, links)

    def ratio(self, current: int, reference: float) -> float:
        # A pattern with fewer than min_count lines in the whole baseline has no rate to depart from yet: it is
        # new (`match: new`), not a rate change; this also keeps a pattern that began at the baseline's end quiet.
        assert self.baseline_us is not None
        if reference * self.baseline_us / self.window_us < self.min_count:
            return NO_CHANGE
        return super().ratio(current, reference)


class PatternGoneEvaluator(GroupRule):
    """Per (group, pattern): its last line's time and the windows (`window`-wide buckets) it had lines in,
    the last `regular_of` of them; the value is `GONE` for a regular pattern silent for a whole window."""

    def __init__(self, spec: PatternRule) -> None:
        query_spec = _QuerySpec(spec)
        super().__init__(query_spec, threshold=GONE / 2)
        self.spec = spec
        self.label_names.append(PATTERN_FIELD)
        self.window_us = to_us(spec.window)
        self.forget_us = to_us(spec.forget_after)
        self.need, self.of = spec.regular, spec.regular_of
        self.max_groups = spec.max_values
        self.seen: dict[str, tuple[int, list[int]]] = {}  # key → (last line µs, buckets with lines, ascending)
        self._ended: list[Transition] = []

    def add(self, matched: pa.Table, keys: pa.Array, shared: BatchCache) -> tuple[pa.Array, pa.Table] | None:
        ts = pc.cast(matched.column("ts"), pa.int64())
        grouped = (
            pa.table({"k": keys, "b": pc.divide(ts, self.window_us), "t": ts})
            .group_by(["k", "b"], use_threads=False)
            .aggregate([("t", "max")])
        )
        seen = self.seen
        for key, bucket, last in zip(
            grouped.column("k").to_pylist(),
            grouped.column("b").to_pylist(),
            grouped.column("t_max").to_pylist(),
            strict=True,
        ):
            if key is None:
                continue
            newest, buckets = seen.get(key, (last, []))
            if bucket not in buckets:
                buckets.append(bucket)
                buckets.sort()
                del buckets[: -self.of]  # only the last `regular_of` windows count
            seen[key] = (max(newest, last), buckets)
        return keys, matched

    def is_regular(self, buckets: list[int], last_us: int) -> bool:
        """Lines in at least `regular` of the `regular_of` windows up to (and with) the one of `last_us`."""
        top = last_us // self.window_us
        return sum(1 for b in buckets if top - self.of < b <= top) >= self.need

    def values(self, at: datetime) -> dict[str, float]:
        at_us = to_us(at)
        forgotten = [k for k, (last, _) in self.seen.items() if at_us - last > self.forget_us]
        if len(self.seen) - len(forgotten) > self.max_groups:
            kept = sorted((k for k in self.seen if k not in set(forgotten)), key=lambda k: self.seen[k][0])
            forgotten += kept[: len(kept) - self.max_groups]
        for key in forgotten:
            del self.seen[key]
            self._forget_alert(key, at)
        return {
            key: GONE
            for key, (last, buckets) in self.seen.items()
            if at_us - last >= self.window_us and self.is_regular(buckets, last)
        }

    def _forget_alert(self, key: str, at: datetime) -> None:
        """End the alert of a forgotten pattern (as `absence` does for a forgotten group)."""
        ended = self.tracker.forget(fingerprint(self.name, self.labels_of(key)), at)
        if ended is not None:
            self._ended.append(ended)

    def evaluate(self, now: datetime, idle_head: datetime | None = None) -> list[Transition]:
        self._ended = []
        out = super().evaluate(now, idle_head)
        if self._ended:
            out = [*out, *self._ended]
            self._ended = []
        return out

    def window_snapshot(self) -> Any:
        return {"seen": {k: [last, buckets] for k, (last, buckets) in self.seen.items()}}

    def window_restore(self, state: Any) -> None:
        self.seen = {str(k): (int(v[0]), [int(b) for b in v[1]]) for k, v in (state or {}).get("seen", {}).items()}

    @property
    def groups(self) -> int:
        return len(self.seen)


class _QuerySpec:
    """The settings `GroupRule` reads, with the rule's query narrowed (`PatternRule.filter_query`)."""

    def __init__(self, spec: PatternRule) -> None:
        self.name = spec.name
        self.query = spec.filter_query()
        self.group_by = spec.group_by
        self.max_delay = spec.max_delay
        self.for_ = spec.for_
        self.keep_firing_for = spec.keep_firing_for
        self.flap_detection = spec.flap_detection
        self.samples = spec.samples
        self.top_fields = spec.top_fields


__all__ = ["NewPatternEvaluator", "PatternGoneEvaluator", "PatternRateEvaluator", "PatternRule"]
