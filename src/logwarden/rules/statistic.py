"""`StatisticRule`, the base of rule types whose groups have a value only while they have lines in the window
(aggregate, ratio, cardinality), its alert tracker, and the `resolve_at` check these rule types share."""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import fields
from datetime import datetime
from typing import Any

from pydantic import ValidationInfo
from pydantic_core import PydanticCustomError

from logwarden.rules.base import GroupRule
from logwarden.rules.state import AlertTracker, Transition


class PresentValuesTracker(AlertTracker):
    """An `AlertTracker` for values that exist only for groups with lines in their window: a group left out of
    an evaluation has no value (not 0) — its condition does not hold, whatever `op`, and its alert keeps the
    last value it had."""

    @classmethod
    def like(cls, tracker: AlertTracker) -> PresentValuesTracker:
        return cls(**{f.name: getattr(tracker, f.name) for f in fields(tracker) if f.init})

    def update(
        self,
        at: datetime,
        values: dict[str, tuple[dict[str, str], float]],
        evidence: Mapping[str, list[dict[str, Any]]] | Callable[[str], list[dict[str, Any]] | None] | None = None,
    ) -> list[Transition]:
        absent = {fp: alert.value for fp, alert in self.alerts.items() if fp not in values}
        if absent:
            never = -math.inf if self.above else math.inf  # beyond neither the threshold nor a recovery level
            values = {**values, **{fp: (self.alerts[fp].labels, never) for fp in absent}}
        out = AlertTracker.update(self, at, values, evidence)
        for fp, last in absent.items():
            if fp in self.alerts:
                self.alerts[fp].value = last
        for t in out:
            if t.alert.fingerprint in absent:
                t.alert.value = absent[t.alert.fingerprint]
        return out


class StatisticRule(GroupRule):
    """A `GroupRule` whose value is a statistic of a group's lines in the window (an average, a share, a number
    of distinct values) compared by the rule's `op` (`>` or `<`) with its `threshold`, recovering at
    `resolve_at`: a group without enough lines has no value, so its alert resolves instead of reading 0."""

    def __init__(self, spec: Any) -> None:
        self.above = spec.op == ">"
        super().__init__(spec, recover=spec.resolve_at)
        self.tracker = PresentValuesTracker.like(self.tracker)

    def beyond(self) -> tuple[bool, float]:
        """(above, bar): the values that can hold, or keep an alert firing, are those above `bar` (below it when
        not `above`) — the state machine needs no other group unless it has an alert."""
        threshold, recover = self.tracker.threshold, self.tracker.recover
        if recover is None:
            return self.above, threshold
        return self.above, min(threshold, recover) if self.above else max(threshold, recover)

    def reported(self, values: dict[str, float]) -> dict[str, float]:
        """The groups the state machine needs (see `beyond`) of `values`: leaving out the others changes nothing,
        and keeps the per-group work to the groups that matter."""
        if self.every_group:
            return values
        above, bar = self.beyond()
        keep = self.alert_keys() if self.tracker.alerts else set()
        return {k: v for k, v in values.items() if k in keep or (v > bar if above else v < bar)}


# --- settings shared by these rule types -------------------------------------------------------------------


def check_resolve_at(value: float | None, info: ValidationInfo) -> float | None:
    """`resolve_at` must be on the resolving side of `threshold`: at most it for `op: >`, at least for `<`."""
    threshold = info.data.get("threshold")
    op = info.data.get("op", ">")
    if value is None or threshold is None:
        return value
    if op == ">" and value > threshold:
        raise PydanticCustomError(
            "resolve_at", "must be at most threshold ({threshold}) with op '>'", {"threshold": f"{threshold:g}"}
        )
    if op == "<" and value < threshold:
        raise PydanticCustomError(
            "resolve_at", "must be at least threshold ({threshold}) with op '<'", {"threshold": f"{threshold:g}"}
        )
    return value
