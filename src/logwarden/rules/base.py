"""What every rule evaluator shares: the `Evaluator` contract the engine drives, the per-batch work rules share
(`BatchCache`), and `GroupRule`, the base of evaluators that keep a value per group over an event-time window.

A rule type (rules/types/<name>.py) is a `Rule` model whose `evaluator()` returns an object with the
`Evaluator` shape. Most types subclass `GroupRule` and implement three hooks — `add` (fold a batch's matching
lines into the window, vectorized), `values` (each group's value at the head) and `window_snapshot`/
`window_restore` (their state as JSON) — and get filtering, group keys, the watermark, evidence, the alert
state machine and checkpoints from the base.
"""

from __future__ import annotations

import hashlib
from collections import deque
from collections.abc import Callable, Iterable, Sequence
from datetime import datetime, timedelta
from typing import Any, Protocol, runtime_checkable

import numpy as np
import orjson
import pyarrow as pa
import pyarrow.compute as pc

from logwarden.model.schema import CORE_COLUMNS
from logwarden.model.scratch_db import thread_scratch_connection
from logwarden.plan.duckdb_filter import attr_path
from logwarden.query.filter import RowFilter, compile_filter
from logwarden.rules.fields import field_values
from logwarden.rules.state import AlertTracker, Transition, fingerprint
from logwarden.rules.windows import Watermark, group_keys
from logwarden.rules.windows import _us as us_of

SEP = "\x1f"  # joins a group's label values into one key (rules/windows.py: group_keys)
EVIDENCE_COLUMNS = ("log_id", "ts", "service", "host", "level", "message")
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


_PREPARE_TABLE = "__lw_rule_batch"
_TOP_PREFIX = "\x1ftop:"  # columns of `top_fields` values kept beside the evidence lines
_Grouped = tuple[list[str], list[int], list[int]]  # keys, whole seconds, line counts


class BatchCache:
    """Work rules share on one batch: the lines each distinct query matches, and their group keys."""

    def __init__(self, table: pa.Table) -> None:
        self.table = table
        self._matched: dict[str, pa.Table] = {}
        self._keys: dict[tuple[str, tuple[str, ...]], pa.Array] = {}
        self._seconds: dict[tuple[str, tuple[str, ...]], _Grouped] = {}
        self._fields: dict[tuple[str, str], pa.Array] = {}
        self._all_fields: dict[str, pa.Array] = {}  # a field of every line of the batch
        self._masks: dict[str, pa.Array] = {}
        self._shared: dict[str, object] = {}  # work filters share on this table (query/filter.py)
        self._newest: int | bool | None = False  # not computed yet
        self._second_arrays: dict[tuple[str, tuple[str, ...]], tuple[pa.Array, np.ndarray, np.ndarray]] = {}

    def newest_us(self) -> int | None:
        """The batch's newest event time (µs), once for every rule."""
        if self._newest is False:
            self._newest = int(pc.max(self.table.column("ts")).value) if self.table.num_rows else None
        return self._newest

    def prepare(self, filters: Iterable[RowFilter], fields: Iterable[str]) -> None:
        """Evaluate every filter the rules use, and read every field they group or aggregate by, for the whole
        batch at once: filters pyarrow can evaluate one by one (sharing the lowered message text), and the rest
        together with every attribute field in a single DuckDB pass over the batch (one JSON parse per line,
        not one per filter and field)."""
        pending: list[RowFilter] = []
        for f in filters:
            if f.text in self._masks:
                continue
            bits = f.arrow_mask(self.table, self._shared)
            if bits is None:
                pending.append(f)
            else:
                self._masks[f.text] = bits
        attrs = [
            n
            for n in dict.fromkeys(fields)
            if n not in self._all_fields and not (n in CORE_COLUMNS and n in self.table.column_names)
        ]
        if self.table.num_rows == 0 or (not pending and not attrs) or "attrs" not in self.table.column_names:
            return
        selects = [f"({f.condition_sql(self.table.schema)}) AS m{i}" for i, f in enumerate(pending)]
        selects += [f"json_extract_string(attrs, ?) AS f{j}" for j in range(len(attrs))]
        params = [attr_path(n[len("attrs.") :] if n.startswith("attrs.") else n) for n in attrs]
        con = thread_scratch_connection()
        con.register(_PREPARE_TABLE, self.table)
        try:
            result = con.sql(f"SELECT {', '.join(selects)} FROM {_PREPARE_TABLE}", params=params).to_arrow_table()
        finally:
            con.unregister(_PREPARE_TABLE)
        for i, f in enumerate(pending):
            self._masks[f.text] = result.column(f"m{i}").combine_chunks()
        for j, n in enumerate(attrs):
            self._all_fields[n] = result.column(f"f{j}").combine_chunks()

    def matched(self, query: str, mask: Callable[[pa.Table], pa.Array]) -> pa.Table:
        found = self._matched.get(query)
        if found is None:
            bits = self._masks.get(query)
            if bits is None:
                bits = self._masks[query] = mask(self.table)
            found = self._matched[query] = self.table.filter(bits)
        return found

    def seconds(self, query: str, matched: pa.Table, names: Sequence[str], keys: pa.Array) -> _Grouped:
        """(keys, whole seconds, counts) of the matched lines grouped by key and second, once per query/group_by."""
        cache_key = (query, tuple(names))
        found = self._seconds.get(cache_key)
        if found is None:
            secs = pc.divide(pc.cast(matched.column("ts"), pa.int64()), 1_000_000)
            grouped = (
                pa.table({"k": keys, "s": secs}).group_by(["k", "s"], use_threads=False).aggregate([("s", "count")])
            )
            found = self._seconds[cache_key] = (
                grouped.column("k").to_pylist(),
                grouped.column("s").to_pylist(),
                grouped.column("s_count").to_pylist(),
            )
        return found

    def second_counts(
        self, query: str, matched: pa.Table, names: Sequence[str], keys: pa.Array
    ) -> tuple[pa.Array, np.ndarray, np.ndarray]:
        """Like `seconds`, as arrays (keys, whole seconds, counts), once per query/group_by."""
        cache_key = (query, tuple(names))
        found = self._second_arrays.get(cache_key)
        if found is None:
            secs = pc.divide(pc.cast(matched.column("ts"), pa.int64()), 1_000_000)
            grouped = (
                pa.table({"k": keys, "s": secs}).group_by(["k", "s"], use_threads=False).aggregate([("s", "count")])
            )
            found = self._second_arrays[cache_key] = (
                grouped.column("k").combine_chunks(),
                grouped.column("s").to_numpy(),
                grouped.column("s_count").to_numpy(),
            )
        return found

    def keys(self, query: str, matched: pa.Table, names: Sequence[str]) -> pa.Array:
        """One group key per matched line (rules/windows.py: group_keys), once per query/group_by."""
        key = (query, tuple(names))
        found = self._keys.get(key)
        if found is None:
            values = self.fields(query, matched, names)
            found = self._keys[key] = group_keys(pa.table({n: values[n] for n in names}), names)
        return found

    def fields(self, query: str, matched: pa.Table, names: Sequence[str]) -> dict[str, pa.Array]:
        """The named fields of the matched lines as strings (rules/fields.py), once per query and field.

        Attributes are extracted once per batch for every line (one DuckDB pass per set of new names, shared by
        every query) and then filtered by each query's mask."""
        missing = [n for n in names if (query, n) not in self._fields]
        if missing:
            unseen = [n for n in missing if n not in self._all_fields]
            if unseen:
                self._all_fields.update(field_values(self.table, unseen))
            bits = self._masks.get(query)
            for n in missing:
                full = self._all_fields[n]
                if matched.num_rows == self.table.num_rows:
                    self._fields[(query, n)] = full
                elif bits is not None:
                    self._fields[(query, n)] = full.filter(bits)
                else:  # lines this cache did not select: extract from them directly
                    self._fields[(query, n)] = field_values(matched, [n])[n]
        return {n: self._fields[(query, n)] for n in names}


class GroupRule:
    """Base of evaluators with a value per group over a sliding event-time window (see the module docstring).

    Subclasses set `above` (the condition is `value > threshold`, or `value < threshold` when False) and may
    extend `label_names` in `__init__` before any batch; the group key of a line is its label values joined by
    `SEP`, `tenant` first.
    """

    above: bool = True

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
        self._recent: deque[tuple[pa.Array, pa.Table]] = deque(maxlen=RECENT_BATCHES)
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
        self.watermark.observe_newest(shared.newest_us())
        if table.num_rows == 0:
            return
        matched = shared.matched(self.filter.text, self.filter.mask)
        if matched.num_rows == 0:
            return
        self.matched_lines += matched.num_rows
        keys = shared.keys(self.filter.text, matched, self.label_names)
        kept = self.add(matched, keys, shared)
        top = tuple(getattr(self.spec, "top_fields", ()) or ())
        if kept is not None and (self.spec.samples > 0 or top) and len(kept[0]):
            # Evidence is picked only for the groups that alert, at evaluation: no per-group work per batch.
            ev_keys, lines = kept
            cols = [c for c in EVIDENCE_COLUMNS if c in lines.column_names]
            picked = lines.select(cols)
            if top:
                aligned = lines.num_rows == matched.num_rows
                values = shared.fields(self.filter.text, matched, top) if aligned else field_values(lines, top)
                for name in top:
                    picked = picked.append_column(_TOP_PREFIX + name, values[name])
            self._recent.append((ev_keys, picked))
            self._touched.update(pc.unique(ev_keys).to_pylist())

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
            column = _TOP_PREFIX + name
            parts = [
                lines.column(column).filter(pc.equal(keys, key))
                for keys, lines in self._recent
                if column in lines.column_names
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
        found: list[pa.Table] = []
        wanted = self.spec.samples
        for keys, lines in reversed(self._recent):
            rows = lines.filter(pc.equal(keys, key))
            if rows.num_rows:
                found.append(rows.slice(max(0, rows.num_rows - wanted)))
                wanted -= found[-1].num_rows
                if wanted <= 0:
                    break
        return [
            {k: plain(v) for k, v in row.items()}
            for t in reversed(found)
            for row in t.select([c for c in t.column_names if c in EVIDENCE_COLUMNS]).to_pylist()
        ]

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


def plain(value: Any) -> Any:
    """A JSON-able value (timestamps as ISO text) for evidence kept in checkpoints."""
    return value.isoformat() if isinstance(value, datetime) else value


def as_timedelta(value: timedelta | float) -> timedelta:
    return value if isinstance(value, timedelta) else timedelta(seconds=value)
