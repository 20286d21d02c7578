"""`new_value`: a value (or combination of values) a group has not shown within `lookback` — a new user agent,
a login from a new country (ElastAlert's *new_term*). An event rule (rules/events.py): each new value is an
event, and its alert carries the value in its labels.

The values seen are kept per (tenant, group) with the event time they were last seen, forgotten after
`lookback` and capped at `max_values` per rule (past the cap, the least recently seen tenth is forgotten: those
values can look new again). A rule without saved state first reads `lookback` of stored history
(`HistoryReader`) up to its first matching line — newest day first, until `max_values` are known — so values
already in the store do not alert.

Per batch: one group-by over (group, value) of the matching lines; Python runs per distinct pair only.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any, Literal

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from pydantic import Field, ValidationInfo, field_validator
from pydantic_core import PydanticCustomError

from logwarden.model.schema import CORE_COLUMNS
from logwarden.model.units import Duration
from logwarden.rules.base import BatchCache, HistoryReader
from logwarden.rules.events import EventRule, join_keys
from logwarden.rules.fields import field_values
from logwarden.rules.model import FIELD_NAME_PATTERN, Rule
from logwarden.rules.windows import group_keys

log = logging.getLogger(__name__)

_US = 1_000_000
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
SEED_SLICES = 30  # history is read in this many slices of `lookback`, newest first (a day each for 30 days)
SPARSE_SLICE_LINES = 100_000  # a slice of history with fewer lines than this makes the next one twice as long
PRUNE_STEPS = 100  # the values seen are swept for expired ones at most every lookback / PRUNE_STEPS of event time


def check_fields(names: Sequence[str], group_by: Sequence[str]) -> None:
    """Field names that can become labels beside the group's: valid, listed once, not a group label."""
    for name in names:
        if not re.match(FIELD_NAME_PATTERN, name):
            raise PydanticCustomError("field_name", "'{name}' is not a field name", {"name": name})
        if name == "tenant" or name in group_by:
            raise PydanticCustomError(
                "field_name", "'{name}' is a label of the group already (tenant or group_by)", {"name": name}
            )
    if len(set(names)) != len(names):
        raise PydanticCustomError("field_name", "a field is listed twice", {})


class KnownValuesSettings(Rule):
    """Settings of rules that remember the values they have seen (`new_value`, `pattern`)."""

    lookback: Duration = Field(timedelta(days=30), gt=timedelta(0))
    """A value not seen for this long counts as new again; values are remembered this long (event time)."""
    max_values: int = Field(100_000, ge=1, le=10_000_000)
    """At most this many values are remembered per rule (all groups together); past it, the least recently
    seen tenth is forgotten, so those values can alert again as new."""
    seed: bool = True
    """A rule without saved state (new, or changed) first learns the values of the stored lines of the last
    `lookback`, so values already in the store do not alert; `false` starts from nothing (every value is new)."""


class NewValueRule(KnownValuesSettings):
    """Fires for a group when a line brings a value (or a combination of values) of `fields` that the group has
    not shown within `lookback`; the alert's labels carry the new values and it resolves `window` after the last
    new one. Lines lacking any of the fields are ignored."""

    type: Literal["new_value"] = "new_value"
    """`new_value`."""
    fields: tuple[str, ...] = Field(min_length=1, max_length=8)
    """The fields whose value combination is watched (`[user, attrs.country]`); each becomes an alert label.
    Not `tenant` nor a `group_by` field."""

    @field_validator("fields")
    @classmethod
    def _valid_fields(cls, value: tuple[str, ...], info: ValidationInfo) -> tuple[str, ...]:
        check_fields(value, info.data.get("group_by", ()))
        return value

    def evaluator(self) -> NewValueEvaluator:
        return NewValueEvaluator(self)


def _us(t: datetime) -> int:
    return (t - _EPOCH) // timedelta(microseconds=1)


class NewValueEvaluator(EventRule):
    """Known values per (tenant, group) and their last-seen event time; a line with an unknown (or expired)
    value is an event (see the module docstring)."""

    def __init__(self, spec: Any, *, fields: Sequence[str] | None = None) -> None:
        self.fields: list[str] = list(spec.fields if fields is None else fields)
        super().__init__(spec, extra_names=self.fields, threshold=0.0)
        self._lookback_us: int = spec.lookback // timedelta(microseconds=1)
        self._delay_us: int = spec.max_delay // timedelta(microseconds=1)
        self.max_values: int = spec.max_values
        self.known: dict[str, int] = {}  # group key + SEP + values → last seen (µs since 1970)
        self._pruned_us: int | None = None
        self.needs_history = bool(spec.seed)
        self._history: HistoryReader | None = None

    def line_mask(self, table: pa.Table) -> pa.Array | None:
        """Lines of `table` (already matching the query) the rule looks at; None for all."""
        return None

    # --- history -----------------------------------------------------------------------------------

    def seed(self, history: HistoryReader, now: datetime) -> None:
        """Called by the engine once, before the first batch, when the rule has no saved state. The history is
        read at the first matching batch, up to its oldest line: the lines of that batch and of the batches
        after it are in the store already and must not count as seen."""
        self._history = history

    def _read_history(self, end_us: int) -> None:
        """Learn the values of the stored lines of `lookback` before `end_us`, newest slice first, until
        `max_values` are known (older values would be the first forgotten)."""
        history, self._history = self._history, None
        assert history is not None
        end = _EPOCH + timedelta(microseconds=end_us)
        start = end - self.spec.lookback
        names = (*self.label_names, *self.fields, "service")
        columns = ["ts", "tenant", *[n for n in names if n in CORE_COLUMNS]]
        if any(n not in CORE_COLUMNS for n in names):
            columns.append("attrs")
        columns = list(dict.fromkeys(columns))
        learned = 0
        step = self.spec.lookback / SEED_SLICES
        try:
            upper = end
            while upper > start and len(self.known) < self.max_values:
                lower = max(start, upper - step)
                lines = 0
                for table in history.scan(self.spec.query, lower, upper, columns):
                    learned += self._learn(table)
                    lines += table.num_rows
                upper = lower
                if lines < SPARSE_SLICE_LINES:
                    step *= 2  # sparse history takes few reads (each one waits for the store to take in its lines)
        except Exception:
            log.exception("rule %s: reading its history failed; it starts from what it sees", self.name)
        self._trim()
        log.info("rule %s: learned %d values from history (%d kept)", self.name, learned, len(self.known))

    def _learn(self, table: pa.Table) -> int:
        """Remember the values of stored lines (no events)."""
        if table.num_rows == 0:
            return 0
        values = field_values(table, [*self.label_names, *self.fields])
        keys = group_keys(pa.table({n: values[n] for n in self.label_names}), self.label_names)
        full, rows = self._pair_keys(table, keys, values)
        if len(rows) == 0:
            return 0
        ts = pc.cast(pc.cast(table.column("ts"), pa.timestamp("us", "UTC")), pa.int64()).take(rows)
        grouped = pa.table({"k": full.take(rows), "t": ts}).group_by("k", use_threads=False).aggregate([("t", "max")])
        known = self.known
        for key, seen in zip(grouped.column("k").to_pylist(), grouped.column("t_max").to_pylist(), strict=True):
            last = known.get(key)
            known[key] = seen if last is None else max(last, seen)
        return int(grouped.num_rows)

    # --- events ------------------------------------------------------------------------------------

    def _pair_keys(self, table: pa.Table, keys: pa.Array, values: Mapping[str, pa.Array]) -> tuple[pa.Array, pa.Array]:
        """(group key + values per line, null where a field is missing; the rows to look at)."""
        parts = [keys]
        for name in self.fields:
            text = pc.replace_substring(pc.cast(values[name], pa.string()), "\x1f", " ")
            parts.append(text)
        full = join_keys(parts)
        wanted = pc.is_valid(full)
        mask = self.line_mask(table)
        if mask is not None:
            wanted = pc.and_(wanted, pc.fill_null(mask, False))
        return full, pc.indices_nonzero(wanted)

    def events(
        self, matched: pa.Table, keys: pa.Array, shared: BatchCache
    ) -> tuple[pa.Array | None, Mapping[str, pa.Array]]:
        ts_all = pc.cast(matched.column("ts"), pa.int64())
        if self._history is not None:
            self._read_history(int(pc.min(ts_all).as_py()))
        values = shared.fields(self.filter.text, matched, self.fields)
        full, rows = self._pair_keys(matched, keys, values)
        if len(rows) == 0:
            return None, {}
        ts = ts_all.take(rows)
        if isinstance(ts, pa.ChunkedArray):
            ts = ts.combine_chunks()
        order = pc.sort_indices(ts)  # stable: lines of one time keep their order
        sorted_ts = ts.take(order)
        grouped = (
            pa.table({"k": full.take(rows).take(order), "p": pa.array(np.arange(len(order))), "t": sorted_ts})
            .group_by("k", use_threads=False)
            .aggregate([("p", "min"), ("t", "max")])
            .sort_by("p_min")
        )
        first = grouped.column("p_min")
        first_ts = sorted_ts.take(first).to_pylist()
        lookback = self._lookback_us
        known = self.known
        new: list[int] = []
        for key, p, seen_first, seen_last in zip(
            grouped.column("k").to_pylist(),
            first.to_pylist(),
            first_ts,
            grouped.column("t_max").to_pylist(),
            strict=True,
        ):
            last = known.get(key)
            # A value seen later than this line (lines out of order) is not new either.
            if last is None or seen_first - last > lookback:
                new.append(p)
            known[key] = seen_last if last is None else max(last, seen_last)
        if len(known) > self.max_values:
            self._trim()
        if not new:
            return None, {}
        events = rows.take(order.take(pa.array(new, pa.int64())))
        return events, {name: values[name].take(events) for name in self.fields}

    def _trim(self) -> None:
        """Past `max_values`, forget the least recently seen tenth (once per tenth: not a sort per batch)."""
        if len(self.known) <= self.max_values:
            return
        keep = self.max_values - self.max_values // 10
        newest = sorted(self.known.items(), key=lambda kv: (kv[1], kv[0]))[-keep:]
        self.known = dict(newest)

    def prune(self, at: datetime) -> None:
        at_us = _us(at)
        step = max(_US, self._lookback_us // PRUNE_STEPS)
        if self._pruned_us is not None and at_us - self._pruned_us < step:
            return
        self._pruned_us = at_us
        # A value last seen before this cannot keep any line that is not late from being new.
        cutoff = at_us - self._lookback_us - self._delay_us
        if any(seen < cutoff for seen in self.known.values()):
            self.known = {k: seen for k, seen in self.known.items() if seen >= cutoff}

    # --- checkpoints -------------------------------------------------------------------------------

    def state_snapshot(self) -> Any:
        return {"keys": list(self.known), "seen": list(self.known.values()), "pruned": self._pruned_us}

    def state_restore(self, state: Any) -> None:
        state = state or {}
        self.known = dict(zip(state.get("keys", []), (int(s) for s in state.get("seen", [])), strict=True))
        pruned = state.get("pruned")
        self._pruned_us = None if pruned is None else int(pruned)
