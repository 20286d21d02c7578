"""What every rule evaluator shares: the `Evaluator` contract the engine drives, the per-batch work rules share
(`BatchCache`, rules/batch.py), and `GroupRule`, the base of evaluators that keep a value per group over an
event-time window.

A rule type (rules/types/<name>.py) is a `Rule` model whose `evaluator()` returns an object with the
`Evaluator` shape. Most types subclass `GroupRule` and implement three hooks — `add` (fold a batch's matching
lines into the window, vectorized), `values` (each group's value at the head) and `window_snapshot`/
`window_restore` (their state as JSON) — and get filtering, group keys, the watermark, evidence, the alert
state machine and checkpoints from the base.
"""

from __future__ import annotations

import hashlib
from collections import deque
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any, Protocol, runtime_checkable

import orjson
import pyarrow as pa
import pyarrow.compute as pc

from logwarden.query.filter import compile_filter
from logwarden.rules.batch import EVIDENCE_COLUMNS, ROW_COLUMN, SEP, BatchCache, EvidenceLines, plain
from logwarden.rules.state import AlertTracker, Transition, fingerprint
from logwarden.rules.windows import Watermark
from logwarden.rules.windows import _us as us_of

RECENT_BATCHES = 16  # batches whose matching lines evidence is picked from

# Settings that do not change what a rule computes: editing them keeps the rule's state.
COSMETIC_SETTINGS = frozenset(
    {"name", "description", "severity", "labels", "annotations", "enabled", "samples", "top_fields"}
)
TOP_VALUES = 5  # values per field in an alert's top_values


@runtime_checkable
class Evaluator(Protocol):
    """One rule's evaluation, driven by the engine on its thread (never concurrently)."""

    name: str
    spec: Any
    tracker: AlertTracker
    matched_lines: int

    def observe(self, table: pa.Table, shared: BatchCache) -> None:
        """Take a stored batch (all tenants, all lines; the rule filters)."""

    def evaluate(self, now: datetime, idle_head: datetime | None = None) -> list[Transition]:
        """Evaluate at the stream's head (`idle_head`: the wall-clock head when no lines arrive)."""

    def snapshot(self) -> dict[str, Any]:
        """The rule's whole state as JSON (checkpointed with the bus cursor)."""

    def restore(self, state: dict[str, Any]) -> None:
        """Take back a `snapshot`."""

    @property
    def late_lines(self) -> int: ...

    @property
    def groups(self) -> int: ...


class HistoryReader(Protocol):
    """Stored lines for rules that start from history (`new_value` seeds what it has seen): every tenant's
    lines matching `query` in `[start, end)`. Called on the engine's thread, never the event loop's."""

    def scan(
        self, query: str, start: datetime, end: datetime, columns: Sequence[str] | None = None
    ) -> Sequence[pa.Table]:
        """The matching lines (all columns, or `columns`), ordered by `ts`."""
        ...


def settings_hash(spec: Any) -> str:
    """What a rule's state depends on: a rule whose hash changes starts over (its type and every setting but
    the cosmetic ones)."""
    if hasattr(spec, "model_dump"):
        key: Any = spec.model_dump(mode="json", exclude=set(COSMETIC_SETTINGS), by_alias=True)
    else:  # a plain object with the threshold rule's attributes
        key = {k: str(getattr(spec, k, None)) for k in ("query", "group_by", "window", "threshold", "resolve_below")}
    return hashlib.sha256(orjson.dumps(key, option=orjson.OPT_SORT_KEYS)).hexdigest()[:16]


class GroupRule:
    """Base of evaluators with a value per group over a sliding event-time window (see the module docstring).

    Subclasses set `above` (the condition is `value > threshold`, or `value < threshold` when False) and may
    extend `label_names` in `__init__` before any batch; the group key of a line is its label values joined by
    `SEP`, `tenant` first.
    """

    above: bool = True
    every_group = False  # backtests: `values` reports every group, not only those that can hold (to plot them)

    def __init__(self, spec: Any, *, threshold: float | None = None, recover: float | None = None) -> None:
        self.spec = spec
        self.name: str = spec.name
        self.filter = compile_filter(spec.query)
        # Every alert carries its tenant: one tenant's lines never raise or resolve another tenant's alert.
        self.label_names: list[str] = ["tenant", *[f for f in spec.group_by if f != "tenant"]]
        self.watermark = Watermark(spec.max_delay)
        flap = getattr(spec, "flap_detection", None)
        self.tracker = AlertTracker(
            spec.name,
            threshold=float(spec.threshold if threshold is None else threshold),
            for_=spec.for_,
            keep_firing_for=spec.keep_firing_for,
            recover=getattr(spec, "resolve_below", None) if recover is None else recover,
            above=self.above,
            flap_window=flap.window if flap is not None else None,
            flap_changes=flap.changes if flap is not None else 0,
        )
        self._recent: deque[EvidenceLines] = deque(maxlen=RECENT_BATCHES)  # evidence candidates
        self._recent_top: deque[tuple[pa.Array, pa.Table]] = deque(maxlen=RECENT_BATCHES)  # `top_fields` values
        self._touched: set[str] = set()  # groups with evidence since the last evaluation
        self._known: dict[str, tuple[dict[str, str], str]] = {}  # group key → (labels, fingerprint)
        self.matched_lines = 0

    # --- hooks -------------------------------------------------------------------------------------

    def add(self, matched: pa.Table, keys: pa.Array, shared: BatchCache) -> tuple[pa.Array, pa.Table] | None:
        """Fold a batch's matching lines (one group key each) into the window; return the (keys, lines) to keep
        as evidence (default: all of them), or None for none."""
        raise NotImplementedError

    def values(self, at: datetime) -> dict[str, float]:
        """Each group's value at head `at`. A group left out reads as 0; with `above`, a rule may leave out every
        group whose value cannot hold (`tracker.could_hold`) unless it has an alert (`alert_keys`)."""
        raise NotImplementedError

    def window_snapshot(self) -> Any:
        raise NotImplementedError

    def window_restore(self, state: Any) -> None:
        raise NotImplementedError

    @property
    def late_lines(self) -> int:
        return 0

    @property
    def groups(self) -> int:
        return 0

    # --- the engine's side -------------------------------------------------------------------------

    def observe(self, table: pa.Table, shared: BatchCache | None = None) -> None:
        """Take the matching lines of a stored batch. Rules with the same query (and `group_by`) share one
        filter evaluation (and one key computation) per batch through `shared`."""
        shared = shared or BatchCache(table)
        matched = self.matched(table, shared)
        if matched is None:
            return
        keys = shared.keys(self.filter.text, matched, self.label_names)
        kept = self.add(matched, keys, shared)
        if kept is not None:
            # All the query's lines: the evidence work is shared with the query's other rules.
            self.keep_evidence(kept[0], kept[1], shared, whole=kept[0] is keys)

    def matched(self, table: pa.Table, shared: BatchCache) -> pa.Table | None:
        """The batch's lines the rule's query matches (None: none), and the head moved on by the batch."""
        self.watermark.observe_newest(shared.newest_us())
        if table.num_rows == 0:
            return None
        matched = shared.matched(self.filter.text, self.filter.mask)
        if matched.num_rows == 0:
            return None
        self.matched_lines += matched.num_rows
        return matched

    def keep_evidence(self, keys: pa.Array | None, lines: pa.Table, shared: BatchCache, *, whole: bool) -> None:
        """Keep what a later evidence pick can take of `lines` (`keys`, one group key each; None: `whole` lines,
        whose keys the cache knows). Evidence is picked only for the groups that alert, at evaluation: per batch,
        only each group's newest `samples` lines are kept, shared by the rules of one query and group_by when
        `whole` (every line the query matched); no per-group work."""
        top = tuple(getattr(self.spec, "top_fields", ()) or ())
        if not (self.spec.samples > 0 or top) or not lines.num_rows:
            return
        query = self.filter.text if whole else None
        sampled, groups = shared.samples(query, self.label_names, keys, lines, self.spec.samples)
        if sampled.num_rows:
            self._recent.append(sampled)
        if top:
            if keys is None:
                keys = shared.keys(self.filter.text, lines, self.label_names)
            self._recent_top.append((keys, pa.table(shared.values_at(query, lines, top))))
        self._touched.update(groups)

    def head(self, now: datetime, idle_head: datetime | None = None) -> datetime | None:
        """Where to evaluate: the stream's head, or `idle_head` (the wall clock) when that is further on; the
        head then stays there, so it never moves back when a late batch comes after a quiet spell."""
        at = self.watermark.head(now)
        if idle_head is not None and (at is None or idle_head > at):
            at = idle_head
            self.watermark.newest_us = us_of(idle_head)
        return at

    def evaluate(self, now: datetime, idle_head: datetime | None = None) -> list[Transition]:
        at = self.head(now, idle_head)
        if at is None:
            return []
        values: dict[str, tuple[dict[str, str], float]] = {}
        keys_of: dict[str, str] = {}
        known = self._known
        for key, value in self.values(at).items():
            found = known.get(key)
            if found is None:
                labels = self.labels_of(key)
                found = known[key] = (labels, fingerprint(self.name, labels))
            labels, fp = found
            values[fp] = (labels, float(value))
            keys_of[fp] = key
        touched = self._touched

        picked: dict[str, str] = {}

        def evidence(fp: str) -> list[dict[str, Any]] | None:
            # New lines change a group's evidence; an alert that got none keeps what it has.
            key = keys_of.get(fp)
            if key is None or key not in touched:
                return None
            picked[fp] = key
            return self._evidence(key)

        transitions = self.tracker.update(at, values, evidence)
        if picked and bool(getattr(self.spec, "top_fields", None)):
            changed = {t.alert.fingerprint: t.alert for t in transitions}
            for fp, key in picked.items():
                alert = self.tracker.alerts.get(fp) or changed.get(fp)
                if alert is not None:
                    alert.top_values = self._top_values(key)
        self._touched = set()
        if len(known) > 2 * max(len(values), 1024):
            self._known = {}  # labels and fingerprints of groups: a cache, rebuilt when it outgrows the groups
        return transitions

    def labels_of(self, key: str) -> dict[str, str]:
        return dict(zip(self.label_names, key.split(SEP), strict=True))

    def alert_keys(self) -> set[str]:
        """Group keys of the rule's pending and firing alerts (values() must report these groups)."""
        return {SEP.join(a.labels.get(n, "") for n in self.label_names) for a in self.tracker.alerts.values()}

    def _top_values(self, key: str) -> dict[str, list[list[Any]]]:
        """The most frequent values of each `top_fields` field among one group's recent lines, with counts."""
        out: dict[str, list[list[Any]]] = {}
        for name in getattr(self.spec, "top_fields", ()):
            parts = [
                values.column(name).filter(pc.equal(keys, key))
                for keys, values in self._recent_top
                if name in values.column_names
            ]
            if not parts:
                continue
            counts = pc.value_counts(pa.chunked_array(parts, pa.string()).combine_chunks()).to_pylist()
            counts = [c for c in counts if c["values"] is not None]
            counts.sort(key=lambda c: (-c["counts"], c["values"]))
            out[name] = [[c["values"], c["counts"]] for c in counts[:TOP_VALUES]]
        return out

    def _evidence(self, key: str) -> list[dict[str, Any]]:
        """The newest `samples` evidence lines of one group among the recent batches, oldest first."""
        found: list[list[dict[str, Any]]] = []
        wanted = self.spec.samples
        for recent in reversed(self._recent):
            rows = recent.of(key)
            if rows:
                found.append(rows[max(0, len(rows) - wanted) :])
                wanted -= len(found[-1])
                if wanted <= 0:
                    break
        return [dict(row) for part in reversed(found) for row in part]

    def snapshot(self) -> dict[str, Any]:
        return {
            "window": self.window_snapshot(),
            "newest_us": self.watermark.newest_us,
            "alerts": self.tracker.snapshot(),
            "matched": self.matched_lines,
        }

    def restore(self, state: dict[str, Any]) -> None:
        self.window_restore(state["window"])
        self.watermark.newest_us = state.get("newest_us")
        self.tracker.restore(state.get("alerts", []))
        self.matched_lines = int(state.get("matched", 0))


def as_timedelta(value: timedelta | float) -> timedelta:
    return value if isinstance(value, timedelta) else timedelta(seconds=value)


__all__ = [
    "EVIDENCE_COLUMNS",
    "ROW_COLUMN",
    "SEP",
    "BatchCache",
    "Evaluator",
    "EvidenceLines",
    "GroupRule",
    "HistoryReader",
    "as_timedelta",
    "plain",
    "settings_hash",
]
