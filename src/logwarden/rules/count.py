"""The `threshold` rule's evaluation: count matching lines per group over a sliding event-time window.

Per batch: the rule's filter (the search language, vectorized) selects lines, their group keys are computed
column-wise, and the window adds them with one group-by. At each evaluation the window's counts at the head go
to the rule's `AlertTracker`, with evidence — the newest matching lines of each alerting group, picked from the
last `RECENT_BATCHES` batches (after a restart, from the batches seen since).
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Sequence
from datetime import datetime, timedelta
from typing import Any, Protocol

import pyarrow as pa
import pyarrow.compute as pc

from logwarden.query.filter import compile_filter
from logwarden.rules.fields import field_values
from logwarden.rules.state import AlertTracker, Transition, fingerprint
from logwarden.rules.windows import CountWindow, Watermark, group_keys

_SEP = "\x1f"
_EVIDENCE_COLUMNS = ("log_id", "ts", "service", "host", "level", "message")
RECENT_BATCHES = 16  # batches whose matching lines evidence is picked from


class CountRuleSpec(Protocol):
    """What evaluation needs of a rule's config (rules/types/threshold.py); read-only."""

    @property
    def name(self) -> str: ...
    @property
    def query(self) -> str: ...
    @property
    def group_by(self) -> Sequence[str]: ...
    @property
    def window(self) -> timedelta: ...
    @property
    def for_(self) -> timedelta: ...
    @property
    def keep_firing_for(self) -> timedelta: ...
    @property
    def max_delay(self) -> timedelta: ...
    @property
    def samples(self) -> int: ...
    @property
    def threshold(self) -> float: ...
    @property
    def resolve_below(self) -> float | None: ...


_Grouped = tuple[list[str], list[int], list[int]]  # keys, whole seconds, line counts


class BatchCache:
    """Work rules share on one batch: the lines each distinct query matches, and their group keys."""

    def __init__(self, table: pa.Table) -> None:
        self.table = table
        self._matched: dict[str, pa.Table] = {}
        self._keys: dict[tuple[str, tuple[str, ...]], pa.Array] = {}
        self._seconds: dict[tuple[str, tuple[str, ...]], _Grouped] = {}

    def matched(self, query: str, mask: Callable[[pa.Table], pa.Array]) -> pa.Table:
        found = self._matched.get(query)
        if found is None:
            found = self._matched[query] = self.table.filter(mask(self.table))
        return found

    def seconds(self, query: str, matched: pa.Table, names: Sequence[str], keys: pa.Array) -> _Grouped:
        """(keys, whole seconds, counts) of the matched lines grouped by key and second, once per query/group_by."""
        cache_key = (query, tuple(names))
        found = self._seconds.get(cache_key)
        if found is None:
            secs = pc.divide(pc.cast(matched.column("ts"), pa.int64()), 1_000_000)
            grouped = pa.table({"k": keys, "s": secs}).group_by(["k", "s"]).aggregate([("s", "count")])
            found = self._seconds[cache_key] = (
                grouped.column("k").to_pylist(),
                grouped.column("s").to_pylist(),
                grouped.column("s_count").to_pylist(),
            )
        return found

    def keys(self, query: str, matched: pa.Table, names: Sequence[str]) -> pa.Array:
        key = (query, tuple(names))
        found = self._keys.get(key)
        if found is None:
            values = field_values(matched, names)
            found = self._keys[key] = group_keys(pa.table({n: values[n] for n in names}), names)
        return found


class CountRule:
    """One threshold rule's window, watermark, alerts and evidence."""

    def __init__(self, spec: CountRuleSpec) -> None:
        self.spec = spec
        self.name = spec.name
        self.filter = compile_filter(spec.query)
        # Every alert carries its tenant: one tenant's lines never raise or resolve another tenant's alert.
        self.label_names = ["tenant", *[f for f in spec.group_by if f != "tenant"]]
        self.window = CountWindow(spec.window, lateness=spec.max_delay)
        self.watermark = Watermark(spec.max_delay)
        self.tracker = AlertTracker(
            spec.name,
            threshold=spec.threshold,
            for_=spec.for_,
            keep_firing_for=spec.keep_firing_for,
            resolve_below=spec.resolve_below,
        )
        # (group keys, evidence columns) of the newest batches' matching lines.
        self._recent: deque[tuple[pa.Array, pa.Table]] = deque(maxlen=RECENT_BATCHES)
        self._touched: set[str] = set()  # groups with lines since the last evaluation
        self.matched_lines = 0

    def observe(self, table: pa.Table, shared: BatchCache | None = None) -> None:
        """Take the matching lines of a stored batch (all tenants). Rules with the same query (and the same
        `group_by`) share one filter evaluation (and one grouping) per batch through `shared`."""
        self.watermark.observe(table.column("ts"))
        if table.num_rows == 0:
            return
        shared = shared or BatchCache(table)
        matched = shared.matched(self.filter.text, self.filter.mask)
        if matched.num_rows == 0:
            return
        self.matched_lines += matched.num_rows
        keys = shared.keys(self.filter.text, matched, self.label_names)
        if self.window.whole_seconds:
            self.window.add_seconds(*shared.seconds(self.filter.text, matched, self.label_names, keys))
        else:
            self.window.add(keys, matched.column("ts"))
        if self.spec.samples > 0:
            # Evidence is picked only for the groups that alert, at evaluation: no per-group work per batch.
            cols = [c for c in _EVIDENCE_COLUMNS if c in matched.column_names]
            self._recent.append((keys, matched.select(cols)))
            self._touched.update(pc.unique(keys).to_pylist())

    def _evidence(self, key: str) -> list[dict[str, Any]]:
        """The newest `samples` matching lines of one group among the recent batches, oldest first."""
        found: list[pa.Table] = []
        wanted = self.spec.samples
        for keys, lines in reversed(self._recent):
            rows = lines.filter(pc.equal(keys, key))
            if rows.num_rows:
                found.append(rows.slice(max(0, rows.num_rows - wanted)))
                wanted -= found[-1].num_rows
                if wanted <= 0:
                    break
        return [{k: _plain(v) for k, v in row.items()} for t in reversed(found) for row in t.to_pylist()]

    def evaluate(self, now: datetime, idle_head: datetime | None = None) -> list[Transition]:
        """Evaluate at the stream's head (event time; `idle_head` moves it on when no lines arrive)."""
        at = self.watermark.head(now)
        if idle_head is not None and (at is None or idle_head > at):
            at = idle_head
        if at is None:
            return []
        counts = self.window.values(at)
        values: dict[str, tuple[dict[str, str], float]] = {}
        evidence: dict[str, list[dict[str, Any]]] = {}
        bar = (
            self.spec.threshold
            if self.spec.resolve_below is None
            else min(self.spec.threshold, self.spec.resolve_below)
        )
        for key, count in counts.items():
            labels = dict(zip(self.label_names, key.split(_SEP), strict=True))
            fp = fingerprint(self.name, labels)
            values[fp] = (labels, float(count))
            # New lines change a group's evidence; an alert that got none keeps what it has.
            if count > bar and key in self._touched:
                evidence[fp] = self._evidence(key)
        self._touched.clear()
        return self.tracker.update(at, values, evidence)

    @property
    def late_lines(self) -> int:
        return self.window.late_lines

    def snapshot(self) -> dict[str, Any]:
        return {
            "window": self.window.snapshot(),
            "newest_us": self.watermark.newest_us,
            "alerts": self.tracker.snapshot(),
            "matched": self.matched_lines,
        }

    def restore(self, state: dict[str, Any]) -> None:
        self.window.restore(state["window"])
        self.watermark.newest_us = state.get("newest_us")
        self.tracker.restore(state.get("alerts", []))
        self.matched_lines = int(state.get("matched", 0))


def _plain(value: Any) -> Any:
    """A JSON-able value (timestamps as ISO text) for evidence kept in checkpoints."""
    return value.isoformat() if isinstance(value, datetime) else value
