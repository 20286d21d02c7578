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

    def __init__(self, spec: Any, **kwargs: Any) -> None:
        super().__init__(spec, **kwargs)
        self.window = CountWindow(spec.window, lateness=spec.max_delay)

    def add(self, matched: pa.Table, keys: pa.Array, shared: BatchCache) -> tuple[pa.Array, pa.Table] | None:
        if self.window.whole_seconds:
            self.window.add_seconds(*shared.second_counts(self.filter.text, matched, self.label_names, keys))
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
        return {k: float(v) for k, v in self.window.values(at, above=bar, keep=self.alert_keys()).items()}

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
