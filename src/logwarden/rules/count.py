"""The `threshold` rule's evaluation: count matching lines per group over a sliding event-time window.

Per batch: the rule's filter (the search language, vectorized) selects lines, their group keys are computed
column-wise, and the window adds them with one group-by. At each evaluation the window's counts at the head go
to the rule's `AlertTracker`, with evidence — the newest matching lines of each alerting group, picked from the
last `RECENT_BATCHES` batches (after a restart, from the batches seen since).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import pyarrow as pa

from logwarden.rules.base import BatchCache, GroupRule
from logwarden.rules.windows import CountWindow


class CountRule(GroupRule):
    """Counts of matching lines per group; the condition is `count > threshold` (see rules/base.py)."""

    counts_only = True  # reads nothing of its lines but their group and time (a subclass that does says so)

    def __init__(self, spec: Any, **kwargs: Any) -> None:
        super().__init__(spec, **kwargs)
        self.window = CountWindow(spec.window, lateness=spec.max_delay)

    def window_key(self) -> tuple[Any, ...]:
        """What a window's counts depend on: rules with the same key and equal windows may share one window
        (the engine shares them; each rule keeps its own threshold and alerts)."""
        spec = self.spec
        return (type(self), self.filter.text, tuple(self.label_names), spec.window, spec.max_delay)

    def observe(self, table: pa.Table, shared: BatchCache | None = None) -> None:
        """GroupRule.observe, without a group key per matched line: the window takes the lines grouped by key
        code and second (shared by the rules of the query), and so does the evidence."""
        shared = shared or BatchCache(table)
        if not (self.counts_only and self.window.whole_seconds):
            super().observe(table, shared)
            return
        matched = self.matched(table, shared)
        if matched is None:
            return
        if self.window.fed != shared.serial:  # else a rule sharing this window counted the batch already
            self.window.fed = shared.serial
            self.window.add_second_codes(*shared.second_codes(self.filter.text, matched, self.label_names, None))
        self.keep_evidence(None, matched, shared, whole=True)

    def add(self, matched: pa.Table, keys: pa.Array, shared: BatchCache) -> tuple[pa.Array, pa.Table] | None:
        if self.window.fed == shared.serial:
            return keys, matched  # a rule sharing this window counted the batch already
        self.window.fed = shared.serial
        if self.window.whole_seconds:
            self.window.add_second_codes(*shared.second_codes(self.filter.text, matched, self.label_names, keys))
        else:
            self.window.add(keys, matched.column("ts"))
        return keys, matched

    def values(self, at: datetime) -> dict[str, float]:
        # Only groups that can hold, and those with an alert: the others read as 0, which cannot hold either.
        bar = (
            self.spec.threshold
            if self.spec.resolve_below is None
            else min(self.spec.threshold, self.spec.resolve_below)
        )
        above = None if self.every_group else bar
        return {k: float(v) for k, v in self.window.values(at, above=above, keep=self.alert_keys()).items()}

    def window_snapshot(self) -> Any:
        return self.window.snapshot()

    def window_restore(self, state: Any) -> None:
        self.window.restore(state)

    @property
    def late_lines(self) -> int:
        return self.window.late_lines

    @property
    def groups(self) -> int:
        return self.window.groups
