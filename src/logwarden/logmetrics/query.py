"""Range queries over the series: `fn` of a metric per `step`, grouped `by` labels, from the coarsest tier that
fits the step.

**Tier choice.** The coarsest tier whose width divides the step; when that tier no longer holds `start` (its
retention), the finest tier that does (the step then grows to its width). Buckets of the chosen tier not yet
rolled up (the last minutes or hours) are read from the finer tiers, so a query always reaches `end`.
Percentiles merge the distribution bins of every bucket in a step (logmetrics/sketch.py), so they are as
exact from the 1 h tier as from the 10 s one.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import duckdb
import numpy as np
import orjson
import pyarrow as pa

from logwarden.config.logmetrics import MetricDefinition
from logwarden.logmetrics.sketch import GAMMA, MAX_BIN, ZERO_BIN
from logwarden.logmetrics.store import TIERS, SeriesStore, per_tier

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
    retention = per_tier(retention)
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
    cur = store.reader()
    names = cur.execute(
        "SELECT sid, labels FROM series WHERE metric = ? AND tenant = ?", [definition.name, tenant]
    ).fetchall()
    groups, group_of = _group_codes(names, q.by)
    # The series as a list: a hash semi-join on the series table costs more than the scan it filters.
    where = f"WHERE ({sources}) AND list_contains(?, sid)"
    args = [*params, [sid for sid, _ in names]]
    nsteps = max(1, -(-(q.end - start) // step))
    if q.fn in QUANTILES:
        keys, times, values = _quantiles(
            cur, where, args, group_of, len(groups), start, step, nsteps, q.fn, step != width
        )
    else:
        # DuckDB sums per series and step (integers only); numpy then sums the series of each `by` group.
        bucket = f"ts // {step} * {step} AS t"
        sql = f"SELECT sid, {bucket}, sum(n) AS n, sum(total) AS total, max(hi) AS hi FROM points {where} GROUP BY ALL"
        if step == width:  # one row per series and step already (the tiers read do not overlap): no grouping
            sql = sql.replace(" GROUP BY ALL", "").replace("sum(", "(").replace("max(", "(")
        table = cur.sql(sql, params=args).to_arrow_table()
        codes = group_of[table.column("sid").to_numpy()] if table.num_rows else np.zeros(0, dtype=np.int64)
        keys, times, values = _sums(codes, table.column("t").to_numpy(), table, q.fn, definition.type, step)
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


def _group_codes(names: list[tuple[int, str]], by: tuple[str, ...]) -> tuple[list[str], np.ndarray]:
    """Each series' `by` group (its label values joined by SEP): (distinct groups, an array indexed by series
    number giving its group's index). Python per series, never per point."""
    index: dict[str, int] = {}
    group_of = np.zeros(max((sid for sid, _ in names), default=0) + 1, dtype=np.int64)
    for sid, text in names:
        found = orjson.loads(text)
        key = SEP.join(str(found.get(name, "")) for name in by)
        group_of[sid] = index.setdefault(key, len(index))
    return list(index), group_of


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


DENSE_CELLS = 4_000_000  # groups × steps × bins counted in one numpy array at most (32 MB); beyond: sorted runs
LOOPED_BINS = 2048  # up to this many bins, the running counts are summed one bin at a time over every cell


def _quantiles(
    cur: duckdb.DuckDBPyConnection,
    where: str,
    args: list[object],
    group_of: np.ndarray,
    ngroups: int,
    start: int,
    step: int,
    nsteps: int,
    fn: str,
    grouped: bool,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per (group, step): the bin where the cumulative count passes q × (count − 1), as its value.

    DuckDB sums the bins per series, step and bin (integers only; nothing to sum when the tier's buckets are the
    steps); numpy then counts them into one dense (bin, cell) array — a cell is a group's step — and finds each
    quantile from running counts, no sort, unless that array would be too large (a wide spread of bins over many
    steps), when the runs are sorted instead."""
    # Seconds from `start` (every row read is in [start, start + nsteps × step)): 32-bit integers when they fit.
    narrow = max(nsteps * step, ngroups * nsteps) < 2**31
    dt = f"(ts - {start})::{'INTEGER' if narrow else 'BIGINT'}"
    if grouped:
        sql = f"SELECT sid, {dt} // {step} * {step} AS dt, bin, sum(n)::DOUBLE AS n FROM bins {where} GROUP BY ALL"
    else:
        sql = f"SELECT sid, {dt} AS dt, bin, n::DOUBLE AS n FROM bins {where}"
    table = cur.sql(sql, params=args).to_arrow_table()
    empty = np.zeros(0)
    if table.num_rows == 0:
        return empty.astype(np.int64), empty.astype(np.int64), empty
    low = MAX_BIN  # the least bin but the zero bin's (MAX_BIN and width 2 when every value is in the zero bin)
    high = ZERO_BIN
    for chunk in table.column("bin").chunks:
        some = chunk.to_numpy()
        if len(some) == 0:
            continue
        low = min(low, int(np.min(some, where=some != ZERO_BIN, initial=MAX_BIN)))
        high = max(high, int(some.max()))
    width = max(high - low, 0) + 2  # slot 0: the zero bin
    lookup = group_of.astype(np.int32) if narrow else group_of
    q = QUANTILES[fn]
    ncells = ngroups * nsteps
    if ncells * width <= DENSE_CELLS:
        counted = np.zeros(width * ncells)
        # Batch by batch (DuckDB's row groups): arrays of a batch's size are reused by the allocator, where arrays
        # of all rows would be new pages, each a page fault, on every query.
        for batch in table.to_batches():
            sid, dt, bins, n = (column.to_numpy() for column in batch.columns)
            at = bins.astype(np.int64)  # becomes each row's place in the (bin, cell) array
            at -= low - 1
            at[bins == ZERO_BIN] = 0
            at *= ncells
            cells = np.take(lookup, sid)
            cells *= nsteps
            cells += dt // step  # numpy divides by a constant faster than DuckDB
            at += cells
            np.add.at(counted, at, n)  # unbuffered: rows of one place add up
        # Bin-major: the running count of a bin is one vector add over every cell (a cumulative sum along
        # each cell's few bins would run element by element).
        running = counted.reshape(width, ncells)
        if width <= LOOPED_BINS:
            for row in range(1, width):
                np.add(running[row], running[row - 1], out=running[row])
        else:
            running = np.cumsum(running, axis=0)
        totals = running[-1]
        seen = np.flatnonzero(totals > 0)
        # Counts are integers: one passes q × (count − 1) when it passes its floor; the bins of a cell that do not
        # pass are the ones before the first that does (running counts only grow). Empty cells: rank −1, dropped.
        rank = np.floor(q * (totals - 1))
        first = np.add.reduce(running <= rank, axis=0, dtype=np.int64)[seen]
        chosen = np.where(first == 0, ZERO_BIN, first + low - 1)
        return seen // nsteps, start + (seen % nsteps) * step, _bin_values(chosen)
    codes = np.take(group_of, table.column("sid").to_numpy())
    steps = table.column("dt").to_numpy().astype(np.int64) // step
    bins = table.column("bin").to_numpy().astype(np.int64)
    n = table.column("n").to_numpy()
    order, starts = _by_group_and_time(codes, steps, bins)
    counts = n[order]
    cum = np.cumsum(counts)
    before = np.concatenate([[0.0], cum])[starts]  # the count of the runs before each one
    run = np.repeat(np.arange(len(starts)), np.diff(np.append(starts, len(counts))))
    passed = cum - before[run] > q * (np.add.reduceat(counts, starts)[run] - 1)
    # Cumulative counts only grow within a run: its first passing row is after its rows that do not pass.
    first_row = starts + np.add.reduceat(~passed, starts)
    return codes[order][starts], start + steps[order][starts] * step, _bin_values(bins[order][first_row])


def _bin_values(bins: np.ndarray) -> np.ndarray:
    """`sketch.bin_value` of each bin, vectorized."""
    with np.errstate(over="ignore"):
        values = 2 * np.power(GAMMA, bins.astype(np.float64)) / (GAMMA + 1)
    return np.where(bins == ZERO_BIN, 0.0, values)


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


def series_tenants(store: SeriesStore, metric: str) -> list[str]:
    """The tenants that have series of `metric`."""
    rows = store.reader().execute("SELECT DISTINCT tenant FROM series WHERE metric = ? ORDER BY 1", [metric]).fetchall()
    return [str(tenant) for (tenant,) in rows]


def window_values(
    store: SeriesStore,
    definition: MetricDefinition,
    tenant: str,
    fn: str,
    by: tuple[str, ...],
    start: int,
    end: int,
    now: datetime,
    match: Mapping[str, Sequence[str]] | None = None,
) -> list[tuple[dict[str, str], float]]:
    """`fn` of the metric over exactly `[start, end)` (epoch seconds, multiples of 10) per `by` group of
    `tenant`'s series, as (labels, value): what an `aggregate` rule over a metric compares with its threshold.

    One step spanning the window, from the coarsest tier whose buckets tile it (the finer tiers where it is not
    rolled up yet); groups without points in the window have no value. `rate` is per second of the window.
    `match`: only the series whose label has one of the values given, per label."""
    check(RangeQuery(definition.name, fn, start, end, end - start, by), definition)
    unknown = [name for name in match or {} if name not in definition.labels]
    if unknown:
        known = ", ".join(definition.labels) or "none"
        raise MetricQueryError(f"match: metric {definition.name!r} has no label {unknown[0]!r} (its labels: {known})")
    tier = choose_tier(math.gcd(start, end), start, int(now.timestamp()), store.retention)
    sources, params = _sources(store, tier, start, end)
    cur = store.reader()
    names = cur.execute(
        "SELECT sid, labels FROM series WHERE metric = ? AND tenant = ?", [definition.name, tenant]
    ).fetchall()
    if match:  # per series, in Python: a metric has at most `max_series` per tenant
        names = [(sid, text) for sid, text in names if _matches(orjson.loads(text), match)]
    if not names:
        return []
    groups, group_of = _group_codes(names, by)
    where = f"WHERE ({sources}) AND list_contains(?, sid)"
    args = [*params, [sid for sid, _ in names]]
    step = end - start
    if fn in QUANTILES:
        keys, _, values = _quantiles(cur, where, args, group_of, len(groups), start, step, 1, fn, True)
    else:
        sums = "sum(n) AS n, sum(total) AS total, max(hi) AS hi"
        sql = f"SELECT sid, 0::BIGINT AS t, {sums} FROM points {where} GROUP BY sid"
        table = cur.sql(sql, params=args).to_arrow_table()
        codes = group_of[table.column("sid").to_numpy()] if table.num_rows else np.zeros(0, dtype=np.int64)
        keys, _, values = _sums(codes, table.column("t").to_numpy(), table, fn, definition.type, step)
    out = []
    for code, value in zip(keys.tolist(), values.tolist(), strict=True):
        if math.isfinite(value):
            out.append((dict(zip(by, groups[code].split(SEP) if by else [], strict=True)), float(value)))
    return out


def _matches(labels: dict[str, object], match: Mapping[str, Sequence[str]]) -> bool:
    return all(str(labels.get(name, "")) in values for name, values in match.items())
