"""`absence`: a group that was seen (or is expected) stops reporting — fewer than `threshold` matching lines in
its window (ElastAlert's *flatline*, the "silent service").

The known groups of each tenant are those seen (each until `forget_after` after its last line) and those the
rule `expect`s. Silence is noticed on the wall clock too: when no line arrives at all, the engine evaluates at
now − `max_delay` (rules/engine.py `tick`), the window empties and the alert fires.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any, Literal

import pyarrow as pa
import pyarrow.compute as pc
from pydantic import Field, ValidationInfo, field_validator
from pydantic_core import PydanticCustomError

from logwarden.model.units import Duration
from logwarden.rules.base import SEP, BatchCache
from logwarden.rules.count import CountRule
from logwarden.rules.history_windows import US, to_us
from logwarden.rules.model import Rule
from logwarden.rules.state import Transition, fingerprint

MAX_KNOWN_GROUPS = 10_000  # per rule; beyond it the groups seen longest ago are forgotten first
DEFAULT_TENANT = "default"


class AbsenceRule(Rule):
    """Fires for a known group when fewer than `threshold` matching lines fall in its window (default: none).
    A group is known once a line of it is seen, until `forget_after` after its last line, or always when listed
    in `expect`; silence is noticed on the wall clock when no line arrives at all."""

    type: Literal["absence"] = "absence"
    """`absence`."""
    threshold: float = Field(1, gt=0)
    """The alert fires when the count in the window is below this (`1`: no line at all)."""
    resolve_above: float | None = None
    """Hysteresis: once firing, the alert resolves only when the count is at or above this (at least
    `threshold`; default: as soon as the count is no longer below `threshold`)."""
    forget_after: Duration = Field(timedelta(hours=24))
    """A group seen no line of for this long is forgotten: its alert resolves and it is no longer expected (so a
    decommissioned service stops alerting); longer than `window`. Groups in `expect` are never forgotten."""
    expect: tuple[dict[str, str], ...] = ()
    """Groups expected even before any line of them (`[{service: api}, {service: web, tenant: acme}]`): each
    gives every `group_by` field, and optionally `tenant` (default `default`). The rule fires for one once it has
    watched a whole window without enough of its lines."""

    @field_validator("resolve_above")
    @classmethod
    def _at_least_threshold(cls, value: float | None, info: ValidationInfo) -> float | None:
        threshold = info.data.get("threshold")
        if value is not None and threshold is not None and value < threshold:
            raise PydanticCustomError(
                "resolve_above", "must be at least threshold ({threshold})", {"threshold": f"{threshold:g}"}
            )
        return value

    @field_validator("forget_after")
    @classmethod
    def _longer_than_window(cls, value: timedelta, info: ValidationInfo) -> timedelta:
        window = info.data.get("window")
        if window is not None and value <= window:
            raise PydanticCustomError("forget_after", "must be longer than window", {})
        return value

    @field_validator("expect")
    @classmethod
    def _groups_of_group_by(cls, value: tuple[dict[str, str], ...], info: ValidationInfo) -> tuple[dict[str, str], ...]:
        fields = [f for f in info.data.get("group_by", ()) if f != "tenant"]
        for index, entry in enumerate(value):
            unknown = sorted(set(entry) - set(fields) - {"tenant"})
            missing = [f for f in fields if f not in entry]
            if unknown or missing:
                raise PydanticCustomError(
                    "expect",
                    "entry {index}: give exactly the group_by fields ({fields}) and optionally tenant; {detail}",
                    {
                        "index": index,
                        "fields": ", ".join(fields) or "none",
                        "detail": "; ".join(
                            [f"unknown: {', '.join(unknown)}"] * bool(unknown)
                            + [f"missing: {', '.join(missing)}"] * bool(missing)
                        ),
                    },
                )
        return value

    def expected_keys(self) -> list[str]:
        """The group keys (rules/base.py: tenant first, then `group_by`) of the `expect` entries."""
        fields = [f for f in self.group_by if f != "tenant"]
        return [SEP.join([e.get("tenant", DEFAULT_TENANT), *(e[f] for f in fields)]) for e in self.expect]

    def evaluator(self) -> AbsenceEvaluator:
        return AbsenceEvaluator(self)


class AbsenceEvaluator(CountRule):
    """Counts per group (`CountWindow`) plus when each group was last seen; the condition is `count <
    threshold` for every known group, counting 0 for a group without lines in the window."""

    above = False
    counts_only = False  # keeps when each group was last seen (`add`)

    def __init__(self, spec: AbsenceRule) -> None:
        super().__init__(spec, threshold=spec.threshold, recover=spec.resolve_above)
        self.expected = frozenset(spec.expected_keys())
        self.window_us = to_us(spec.window)
        self.forget_us = to_us(spec.forget_after)
        self.seen: dict[str, int] = {}  # group key → newest event time of its lines (µs)
        self.since_us: int | None = None  # the first head the rule evaluated at
        self._ended: list[Transition] = []  # alerts of groups forgotten at this evaluation

    def add(self, matched: pa.Table, keys: pa.Array, shared: BatchCache) -> tuple[pa.Array, pa.Table] | None:
        kept = super().add(matched, keys, shared)
        seen = self.seen
        if self.window.whole_seconds:
            ks, secs, _ = shared.seconds(self.filter.text, matched, self.label_names, keys)
            for key, second in zip(ks, secs, strict=True):
                if second * US > seen.get(key, -1):
                    seen[key] = second * US
        else:
            newest = (
                pa.table({"k": keys, "t": pc.cast(matched.column("ts"), pa.int64())})
                .group_by("k")
                .aggregate([("t", "max")])
            )
            for key, t in zip(newest.column("k").to_pylist(), newest.column("t_max").to_pylist(), strict=True):
                if t > seen.get(key, -1):
                    seen[key] = t
        return kept

    def values(self, at: datetime) -> dict[str, float]:
        at_us = to_us(at)
        if self.since_us is None:
            self.since_us = at_us
        counts = self.window.values(at)
        forgotten = [k for k, t in self.seen.items() if at_us - t > self.forget_us and k not in self.expected]
        if len(self.seen) - len(forgotten) > MAX_KNOWN_GROUPS:
            kept = sorted((k for k in self.seen if k not in forgotten), key=lambda k: self.seen[k])
            forgotten += [k for k in kept[: len(kept) - MAX_KNOWN_GROUPS] if k not in self.expected]
        for key in forgotten:
            del self.seen[key]
            self._forget_alert(key, at)
        out = {key: float(counts.get(key, 0)) for key in self.seen}
        if at_us - self.since_us >= self.window_us:  # watched a whole window: expected groups can be silent
            out.update({key: float(counts.get(key, 0)) for key in self.expected})
        return out

    def _forget_alert(self, key: str, at: datetime) -> None:
        """End the alert of a forgotten group before the tracker sees it missing (it would read as 0, which
        keeps an absence alert firing for ever)."""
        ended = self.tracker.forget(fingerprint(self.name, self.labels_of(key)), at)
        if ended is not None:
            self._ended.append(ended)

    def evaluate(self, now: datetime, idle_head: datetime | None = None) -> list[Transition]:
        self._ended = []
        out = super().evaluate(now, idle_head)
        if self._ended:
            out = sorted([*out, *self._ended], key=lambda t: (t.status, sorted(t.alert.labels.items())))
            self._ended = []
        return out

    def window_snapshot(self) -> Any:
        return {"counts": self.window.snapshot(), "seen": self.seen, "since": self.since_us}

    def window_restore(self, state: Any) -> None:
        self.window.restore(state["counts"])
        self.seen = {str(k): int(t) for k, t in state.get("seen", {}).items()}
        self.since_us = state.get("since")

    @property
    def groups(self) -> int:
        return len(self.seen.keys() | self.expected)
