"""`change`: a field whose value changes for a group — a host's `version`, a user's country (ElastAlert's
*change*). An event rule (rules/events.py): each change is an event whose alert carries `from` and `to`.

Per batch the matching lines are ordered by (group, event time) — stably, so lines of one time keep their
arrival order — and each line is compared with the previous line of its group (a shift of the sorted columns,
vectorized); a group's first line in the batch is compared with the value carried from earlier batches (Python
per group). A line older than its group's carried value cannot be placed in order and is not compared (nor
kept). The carried values are forgotten after `max_age` and capped at `max_groups`.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import Any, Literal

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from pydantic import Field, ValidationInfo, field_validator
from pydantic_core import PydanticCustomError

from logwarden.model.units import Duration
from logwarden.rules.base import BatchCache
from logwarden.rules.events import EventRule
from logwarden.rules.model import FIELD_NAME_PATTERN, Rule

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_NULL = "\x00null"  # stands for a missing value in comparisons (`ignore_null: false`)
LABELS = ("from", "to")
PRUNE_EVERY = timedelta(minutes=1)  # event time between sweeps of expired carried values


class ChangeRule(Rule):
    """Fires for a group when the value of `field` differs from the group's previous value; the alert's labels
    carry `from` and `to` (a missing value shows as an empty label). With `threshold`, more than that many
    changes from one value to another must fall in `window`. The alert resolves `window` after the last
    change."""

    type: Literal["change"] = "change"
    """`change`."""
    field: str = Field(pattern=FIELD_NAME_PATTERN)
    """The field watched (`version`, `attrs.country`); compared as text."""
    ignore_null: bool = True
    """Lines lacking the field are skipped; `false` counts a value appearing or disappearing as a change."""
    max_age: Duration | None = Field(None, gt=timedelta(0))
    """A previous value seen longer ago than this (event time) is not compared: the line just sets the value
    (default: compare however old)."""
    threshold: float = Field(0, ge=0)
    """The alert fires when the number of changes (of one `from` → `to`) in the window is greater than this."""
    max_groups: int = Field(100_000, ge=1, le=10_000_000)
    """At most this many groups' last values are kept; past it, the least recently seen tenth is forgotten (their
    next line sets the value without a change)."""

    @field_validator("field")
    @classmethod
    def _not_a_label(cls, value: str, info: ValidationInfo) -> str:
        if value == "tenant" or value in info.data.get("group_by", ()):
            raise PydanticCustomError(
                "field_name", "'{name}' is a label of the group (tenant or group_by): it cannot change", {"name": value}
            )
        return value

    @field_validator("group_by")
    @classmethod
    def _labels_free(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        for name in value:
            if name in LABELS:
                raise PydanticCustomError(
                    "field_name", "'{name}' is a label change alerts set: group by another field", {"name": name}
                )
        return value

    def evaluator(self) -> ChangeEvaluator:
        return ChangeEvaluator(self)


def _shift(values: pa.Array, by: int) -> pa.Array:
    """`values` moved down (`by` = 1: each row gets its previous row's value) or up (-1), null-filled."""
    n = len(values)
    pad = pa.nulls(1, values.type)
    if by > 0:
        return pa.concat_arrays([pad, values.slice(0, n - 1)])
    return pa.concat_arrays([values.slice(1), pad])


class ChangeEvaluator(EventRule):
    """The last value (and its event time) per group; a line whose value differs from it is an event."""

    def __init__(self, spec: Any) -> None:
        super().__init__(spec, extra_names=LABELS)
        self.field: str = spec.field
        self._max_age_us: int | None = None if spec.max_age is None else spec.max_age // timedelta(microseconds=1)
        self.last: dict[str, tuple[str | None, int]] = {}  # group key → (value, µs since 1970)
        self._pruned_us: int | None = None

    def events(
        self, matched: pa.Table, keys: pa.Array, shared: BatchCache
    ) -> tuple[pa.Array | None, Mapping[str, pa.Array]]:
        value = shared.fields(self.filter.text, matched, [self.field])[self.field]
        ts = pc.cast(matched.column("ts"), pa.int64())
        lines = pa.table({"k": keys, "v": value, "t": ts, "i": pa.array(np.arange(matched.num_rows, dtype=np.int64))})
        if self.spec.ignore_null:
            lines = lines.filter(pc.is_valid(lines.column("v")))
        if lines.num_rows == 0:
            return None, {}
        # What each group carries from earlier batches (Python per distinct group).
        groups = pc.unique(lines.column("k"))
        carried = [self.last.get(k) for k in groups.to_pylist()]
        carried_v = pa.array([c[0] if c else None for c in carried], pa.string())
        carried_t = pa.array([c[1] if c else None for c in carried], pa.int64())
        at = pc.index_in(lines.column("k"), value_set=groups)
        lines = lines.append_column("cv", carried_v.take(at)).append_column("ct", carried_t.take(at))
        # Older than the value carried: cannot be placed in order.
        lines = lines.filter(pc.fill_null(pc.greater_equal(lines.column("t"), lines.column("ct")), True))
        if lines.num_rows == 0:
            return None, {}
        lines = lines.take(pc.sort_indices(lines, sort_keys=[("k", "ascending"), ("t", "ascending")]))
        k, v, t = (lines.column(c).combine_chunks() for c in ("k", "v", "t"))
        first = pc.fill_null(pc.not_equal(k, _shift(k, 1)), True)
        prev_v = pc.if_else(first, lines.column("cv").combine_chunks(), _shift(v, 1))
        prev_t = pc.if_else(first, lines.column("ct").combine_chunks(), _shift(t, 1))
        changed = pc.and_(pc.is_valid(prev_t), pc.not_equal(pc.fill_null(v, _NULL), pc.fill_null(prev_v, _NULL)))
        if self._max_age_us is not None:
            changed = pc.and_(changed, pc.less_equal(pc.subtract(t, prev_t), self._max_age_us))
        # Carry each group's last line to the next batch (Python per group).
        last = pc.fill_null(pc.not_equal(k, _shift(k, -1)), True)
        for key, val, when in zip(
            k.filter(last).to_pylist(), v.filter(last).to_pylist(), t.filter(last).to_pylist(), strict=True
        ):
            self.last[key] = (val, when)
        if len(self.last) > self.spec.max_groups:
            self._trim()
        changed = pc.fill_null(changed, False)
        if not pc.any(changed).as_py():
            return None, {}
        events = lines.column("i").combine_chunks().filter(changed)
        return events, {"from": prev_v.filter(changed), "to": v.filter(changed)}

    def _trim(self) -> None:
        keep = self.spec.max_groups - self.spec.max_groups // 10
        newest = sorted(self.last.items(), key=lambda kv: (kv[1][1], kv[0]))[-keep:]
        self.last = dict(newest)

    def prune(self, at: datetime) -> None:
        if self._max_age_us is None:
            return
        at_us = (at - _EPOCH) // timedelta(microseconds=1)
        step = PRUNE_EVERY // timedelta(microseconds=1)
        if self._pruned_us is not None and at_us - self._pruned_us < step:
            return
        self._pruned_us = at_us
        # A line that is not late is at most max_delay behind the head: older values can no longer be compared.
        cutoff = at_us - self._max_age_us - self.spec.max_delay // timedelta(microseconds=1)
        if any(when < cutoff for _, when in self.last.values()):
            self.last = {k: vt for k, vt in self.last.items() if vt[1] >= cutoff}

    def state_snapshot(self) -> Any:
        return {
            "keys": list(self.last),
            "values": [v for v, _ in self.last.values()],
            "seen": [t for _, t in self.last.values()],
            "pruned": self._pruned_us,
        }

    def state_restore(self, state: Any) -> None:
        state = state or {}
        self.last = {
            k: (v, int(t))
            for k, v, t in zip(state.get("keys", []), state.get("values", []), state.get("seen", []), strict=True)
        }
        pruned = state.get("pruned")
        self._pruned_us = None if pruned is None else int(pruned)
