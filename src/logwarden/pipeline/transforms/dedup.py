"""`dedup`: keep the first of identical lines within a time window and count the repeats.

Within a batch, repeats fold into the first line, which gets `dedup_count` (how many lines it stands
for). Across batches, keys seen within the window are remembered in a bounded LRU and later repeats are
dropped (the runner counts them as dropped lines; `dropped` on the processor counts them too).
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from datetime import timedelta
from typing import TYPE_CHECKING, Literal

import pyarrow as pa
from pydantic import Field, field_validator

from logwarden.lazy import lazy_module
from logwarden.model.units import Duration
from logwarden.pipeline import fields
from logwarden.pipeline.base import BuildEnv, Processed, Processor, ProcessorConfig
from logwarden.pipeline.transforms.names import check_writable

if TYPE_CHECKING:
    import polars as pl
else:
    pl = lazy_module("polars")  # imported on first use (logwarden.lazy)

_SEED = 0x64656475


class DedupConfig(ProcessorConfig):
    """Drop lines identical (on `fields`) to one seen less than `window` ago."""

    type: Literal["dedup"]
    fields: list[str] = Field(default_factory=lambda: ["message", "service", "host", "level"], min_length=1)
    """The fields that make lines identical (compared as text; a missing field counts as empty)."""
    window: Duration = timedelta(seconds=10)
    """How long after a line its repeats are dropped (`10s`, `1m`); counted from the first kept line."""
    clock: Literal["arrival", "event"] = "arrival"
    """Measure the window on arrival time (robust to clock skew) or on the lines' own `ts`."""
    max_keys: int = Field(100_000, ge=1)
    """Recent keys remembered across batches at most (least recently seen forgotten first)."""
    count_field: str = "dedup_count"
    """Attribute set on a kept line to the number of identical lines of its batch it stands for (when > 1)."""

    @field_validator("window")
    @classmethod
    def _positive(cls, v: timedelta) -> timedelta:
        if v <= timedelta(0):
            raise ValueError("the window must be positive")
        return v

    @field_validator("count_field")
    @classmethod
    def _writable(cls, v: str) -> str:
        return check_writable(v)

    def build(self, env: BuildEnv) -> Processor:
        return Dedup(self)


class Dedup(Processor):
    """Thread-safe: the LRU of recent keys is guarded by a lock."""

    def __init__(self, config: DedupConfig, now: Callable[[], float] = time.time) -> None:
        self.names = tuple(config.fields)
        self.window_us = int(config.window.total_seconds() * 1_000_000)
        self.event_clock = config.clock == "event"
        self.max_keys = config.max_keys
        self.count_field = config.count_field
        self.now = now
        self.recent: OrderedDict[int, int] = OrderedDict()  # key hash → time (µs) of the kept line
        self.dropped = 0
        self._lock = threading.Lock()

    def process(self, batch: pa.Table) -> Processed:
        n = batch.num_rows
        keys = {}
        for i, name in enumerate(self.names):
            values = fields.get_strings(batch, name)
            keys[f"k{i}"] = values if values is not None else pa.nulls(n, pa.string())
        frame = pl.DataFrame(keys)
        hashes = frame.select(pl.struct(frame.columns).hash(seed=_SEED)).to_series()
        if self.event_clock:
            ts = pl.Series(values=batch.column("ts").combine_chunks()).cast(pl.Int64)
        else:
            ts = pl.repeat(int(self.now() * 1_000_000), n, dtype=pl.Int64, eager=True)
        rows = pl.DataFrame({"h": hashes, "t": ts, "i": pl.int_range(n, eager=True)})
        groups = rows.group_by("h", maintain_order=True).agg(
            pl.col("i").first().alias("first"),
            pl.len().alias("n"),
            pl.col("t").first().alias("t0"),
            (pl.col("t").max() - pl.col("t").min()).alias("span"),
        )
        if groups.height == n:
            with self._lock:
                if not self.recent:
                    # Nothing to compare with and no repeats: just remember the keys.
                    self._remember(groups["h"].to_list(), groups["t0"].to_list())
                    return Processed(batch)
        kept: list[int] = []
        counts: list[int] = []
        spread: list[int] = []
        with self._lock:
            for h, first, count, t0, span in groups.iter_rows():
                if span > self.window_us:
                    spread.append(h)
                    continue
                if self._seen(h, t0):
                    self.dropped += count
                    continue
                kept.append(first)
                counts.append(count)
            if spread:
                # Repeats of one key spread over more than a window (event clock): decide line by line.
                subset = rows.filter(pl.col("h").is_in(spread))
                open_runs: dict[int, int] = {}  # key → index in kept of the line its repeats fold into
                for h, t, i in subset.iter_rows():
                    if h in open_runs and t - self.recent[h] < self.window_us:
                        counts[open_runs[h]] += 1
                    elif h not in open_runs and self._seen(h, t):
                        self.dropped += 1
                    else:
                        self.recent[h] = t
                        self.recent.move_to_end(h)
                        open_runs[h] = len(kept)
                        kept.append(i)
                        counts.append(1)
            self._evict()
        order = sorted(range(len(kept)), key=kept.__getitem__)
        indices = pa.array([kept[j] for j in order], pa.int64())
        out = batch.take(indices)
        count_values = [counts[j] for j in order]
        if any(c > 1 for c in count_values):
            column = pa.array([c if c > 1 else None for c in count_values], pa.int64())
            out = fields.set_field(out, self.count_field, column, pa.array([c > 1 for c in count_values]))
        return Processed(out)

    def _seen(self, h: int, t: int) -> bool:
        """True when key h was kept less than a window before t; otherwise remember it as kept at t."""
        last = self.recent.get(h)
        if last is not None and 0 <= t - last < self.window_us:
            self.recent.move_to_end(h)
            return True
        self.recent[h] = t
        self.recent.move_to_end(h)
        return False

    def _remember(self, hashes: list[int], times: list[int]) -> None:
        self.recent.update(zip(hashes, times, strict=True))
        self._evict()

    def _evict(self) -> None:
        while len(self.recent) > self.max_keys:
            self.recent.popitem(last=False)


CONFIGS = (DedupConfig,)
