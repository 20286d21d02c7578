"""Range queries over the series: `fn` of a metric per `step`, grouped `by` labels, from the coarsest tier that
fits the step.

**Tier choice.** The coarsest tier whose width divides the step; when that tier no longer holds `start` (its
retention), the finest tier that does (the step then grows to its width). Buckets of the chosen tier not yet
rolled up (the last minutes or hours) are read from the finer tiers, so a query always reaches `end`.
Percentiles merge the distribution bins of every bucket in a step (logmetrics/sketch.py), so they are as
exact from the 1 h tier as from the 10 s one.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

import numpy as np
import orjson
import pyarrow as pa
import pyarrow.compute as pc

from logwarden.config.logmetrics import MetricDefinition
from logwarden.logmetrics.sketch import bin_value
from logwarden.logmetrics.store import TIERS, SeriesStore

FUNCTIONS = ("rate", "sum", "avg", "max", "p50", "p95", "p99")
QUANTILES = {"p50": 0.5, "p95": 0.95, "p99": 0.99}
MAX_POINTS = 11_000  # per series, as Prometheus: a finer step over a long range is refused, not truncated
NICE_STEPS = (10, 60, 300, 900, 3600, 3 * 3600, 6 * 3600, 12 * 3600, 86400, 7 * 86400)
DEFAULT_POINTS = 250
SEP = "\x1f"


class MetricQueryError(ValueError):
    """A query the user has to fix (400); the message says which parameter and why."""


@dataclass(frozen=True, slots=True)
class RangeQuery:
    """One `query_range` request, parsed: times in epoch seconds, `step` in seconds."""

    metric: str
    fn: str
    start: int
    end: int
    step: int | None = None
    by: tuple[str, ...] = ()


def default_step(start: int, end: int) -> int:
    """A step giving about `DEFAULT_POINTS` points over the range."""
    wanted = (end - start) / DEFAULT_POINTS
    return next((s for s in NICE_STEPS if s >= wanted), NICE_STEPS[-1])


def choose_tier(step: int, start: int, now: int, retention: list[int]) -> int:
    """The tier a query of `step` from `start` reads (see the module docstring)."""
    fitting = [t for t, tier in enumerate(TIERS) if tier.seconds <= step and step % tier.seconds == 0]
    chosen = fitting[-1] if fitting else 0
    if start < now - retention[chosen]:
        holding = [t for t in range(chosen, len(TIERS)) if start >= now - retention[t]]
        chosen = holding[0] if holding else len(TIERS) - 1
    return chosen


def check(q: RangeQuery, definition: MetricDefinition) -> None:
    """Refuse what the metric cannot answer."""
    if q.fn not in FUNCTIONS:
        raise MetricQueryError(f"unknown fn {q.fn!r}: use one of {', '.join(FUNCTIONS)}")
    if q.fn in ("avg", "max") and definition.type == "counter":
        raise MetricQueryError(f"fn {q.fn} needs a value: metric {q.metric!r} is a counter (use sum or rate)")
    if q.fn in QUANTILES and definition.type not in ("histogram", "summary"):
        raise MetricQueryError(
            f"fn {q.fn} needs a distribution: metric {q.metric!r} is a {definition.type} (histogram or summary only)"
        )
    unknown = [b for b in q.by if b not in definition.labels]
    if unknown:
        known = ", ".join(definition.labels) or "none"
        raise MetricQueryError(f"by: metric {q.metric!r} has no label {unknown[0]!r} (its labels: {known})")


def query_range(
    store: SeriesStore, definition: MetricDefinition, tenant: str, q: RangeQuery, now: datetime
) -> dict[str, Any]:
    """The series of `q` for `tenant`, as JSON: per label combination of `by`, [epoch seconds, value] pairs."""
    check(q, definition)
    step = q.step if q.step is not None else default_step(q.start, q.end)
    tier = choose_tier(step, q.start, int(now.timestamp()), store.retention)
    width = TIERS[tier].seconds
    step = max(step, width) // width * width
    start = q.start // step * step
    if (q.end - start) / step > MAX_POINTS:
        raise MetricQueryError(
            f"step {step}s gives more than {MAX_POINTS} points over the range: use a larger step or a shorter range"
        )
    sources, params = _sources(store, tier, start, q.end)
    bucket = f"ts // {step} * {step} AS t"
    where = f"WHERE ({sources}) AND metric = ? AND tenant = ?"
    args = [*params, definition.name, tenant]
    # DuckDB sums per series (labels as stored) and step; the `by` grouping then maps each distinct label set
    # once (a few hundred at most), not each row.
    if q.fn in QUANTILES:
        sql = f"SELECT labels, {bucket}, bin, sum(n) AS n FROM bins {where} GROUP BY ALL"
    else:
        sql = (
            f"SELECT labels, {bucket}, sum(n) AS n, sum(total) AS total, max(hi) AS hi FROM points {where} GROUP BY ALL"
        )
    if step == width:  # one row per series and step already (the tiers read do not overlap): no grouping
        sql = sql.replace(" GROUP BY ALL", "").replace("sum(", "(").replace("max(", "(")
    table = store.reader().sql(sql, params=args).to_arrow_table()
    groups, codes = _group_codes(table.column("labels"), q.by)
    t = table.column("t").to_numpy()
    if q.fn in QUANTILES:
        keys, times, values = _quantiles(codes, t, table.column("bin").to_numpy(), table.column("n").to_numpy(), q.fn)
    else:
        keys, times, values = _sums(codes, t, table, q.fn, definition.type, step)
    finite = np.isfinite(values)
    keys, times, values = keys[finite], times[finite], values[finite]
    fill = q.fn in ("sum", "rate")  # a count or sum of nothing is 0: steps without lines are filled in
    grid = np.arange(start, q.end, step, dtype=np.float64)
    series = []
    for code in sorted(range(len(groups)), key=groups.__getitem__):
        mine = keys == code
        if not mine.any():
            continue
        if fill:
            filled = np.zeros(len(grid))
            filled[(times[mine] - start) // step] = values[mine]
            points = np.column_stack((grid, filled))
        else:
            points = np.column_stack((times[mine].astype(np.float64), values[mine]))
        labels = dict(zip(q.by, groups[code].split(SEP) if q.by else [], strict=True))
        series.append({"labels": labels, "values": points})
    return {
        "metric": definition.name,
        "type": definition.type,
        "fn": q.fn,
        "by": list(q.by),
        "start": start,
        "end": q.end,
        "step": step,
        "tier": TIERS[tier].name,
        "series": series,  # values: an (n, 2) array of [epoch seconds, value] (orjson writes it as lists)
    }


def _group_codes(labels: pa.ChunkedArray, by: tuple[str, ...]) -> tuple[list[str], np.ndarray]:
    """Each row's `by` group (its label values joined by SEP) as (distinct groups, each row's index in them)."""
    encoded = pc.dictionary_encode(labels).combine_chunks() if labels.num_chunks else pa.array([], pa.string())
    if len(encoded) == 0:
        return [], np.zeros(0, dtype=np.int64)
    index: dict[str, int] = {}
    mapping = []
    for text in encoded.dictionary.to_pylist():
        found = orjson.loads(text)
        key = SEP.join(str(found.get(name, "")) for name in by)
        mapping.append(index.setdefault(key, len(index)))
    codes = np.asarray(mapping, dtype=np.int64)[encoded.indices.to_numpy(zero_copy_only=False)]
    return list(index), codes


def _by_group_and_time(codes: np.ndarray, t: np.ndarray, *extra: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The rows' order sorted by (group, time, *extra), and the start of each (group, time) run in it."""
    order = np.lexsort((*reversed(extra), t, codes))
    g, tt = codes[order], t[order]
    changed = np.flatnonzero((g[1:] != g[:-1]) | (tt[1:] != tt[:-1])) + 1
    return order, np.concatenate([[0], changed]).astype(np.int64)


def _sums(
    codes: np.ndarray, t: np.ndarray, table: pa.Table, fn: str, kind: str, step: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    empty = np.zeros(0)
    if len(codes) == 0:
        return empty.astype(np.int64), empty.astype(np.int64), empty
    order, starts = _by_group_and_time(codes, t)
    n = table.column("n").to_numpy()[order]
    total = table.column("total").to_numpy()[order]
    counted = n if kind == "counter" else total
    if fn == "max":
        values = np.maximum.reduceat(table.column("hi").to_numpy()[order], starts)
    elif fn == "avg":
        with np.errstate(divide="ignore", invalid="ignore"):
            values = np.add.reduceat(total, starts) / np.add.reduceat(n, starts)
    else:
        values = np.add.reduceat(counted, starts) / (step if fn == "rate" else 1)
    return codes[order][starts], t[order][starts], values


def _quantiles(
    codes: np.ndarray, t: np.ndarray, bins: np.ndarray, n: np.ndarray, fn: str
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per (group, time): the bin where the cumulative count passes q × (count − 1), as its value."""
    empty = np.zeros(0)
    if len(codes) == 0:
        return empty.astype(np.int64), empty.astype(np.int64), empty
    order, starts = _by_group_and_time(codes, t, bins)
    counts = n[order].astype(np.float64)
    ordered_bins = bins[order]
    cum = np.cumsum(counts)
    before = np.concatenate([[0.0], cum])[starts]  # the count of the runs before each one
    run = np.repeat(np.arange(len(starts)), np.diff(np.append(starts, len(counts))))
    within = cum - before[run]
    totals = np.add.reduceat(counts, starts)
    passed = within > QUANTILES[fn] * (totals[run] - 1)
    # Cumulative counts only grow within a run: its first passing row is after its rows that do not pass.
    first = starts + np.add.reduceat(~passed, starts)
    values = np.array([bin_value(int(b)) for b in ordered_bins[first].tolist()])
    return codes[order][starts], t[order][starts], values


def _sources(store: SeriesStore, tier: int, start: int, end: int) -> tuple[str, list[object]]:
    """The WHERE condition reading `tier` where it is rolled up, and the finer tiers after that."""
    done = store.done_until()
    parts: list[str] = []
    params: list[object] = []
    above: int | None = None  # rows below this are read from a coarser tier already
    for t in range(tier, -1, -1):
        until = done[t]
        if t > 0 and until is None:
            continue  # never rolled up: its rows are all in the finer tier
        condition = "tier = ? AND ts >= ? AND ts < ?"
        low = start if above is None else max(start, above)
        high = end if until is None else min(end, until)
        if low < high:
            parts.append(f"({condition})")
            params += [t, low, high]
        above = until if until is not None else above
        if until is None:
            break
    return (" OR ".join(parts) or "false"), params
