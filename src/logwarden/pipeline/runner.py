"""Running pipelines over a wide batch: row selection, error handling, dead letters and per-step counts.

A `PipelineSet` is immutable: hot reload builds a new one and swaps the reference, so every batch
goes through exactly one version from start to end. A batch holds a lease on its set while it runs;
a replaced set is retired, and its processors close as soon as its last lease ends.
"""

from __future__ import annotations

import functools
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from types import TracebackType

import pyarrow as pa
import pyarrow.compute as pc

from logwarden.model.normalize import WIDE_CORE, as_string
from logwarden.pipeline import fields
from logwarden.pipeline.base import Processed, Processor
from logwarden.pipeline.conditions import Condition

log = logging.getLogger(__name__)

ERROR_FIELD = "pipeline_error"
_ROW = "__row"


@dataclass(frozen=True, slots=True)
class Step:
    """One configured processor in its pipeline."""

    id: str
    processor: Processor
    condition: Condition | None = None
    on_error: str = "tag"


@dataclass(frozen=True, slots=True)
class Pipeline:
    """Steps applied, in order, to the rows its condition selects."""

    name: str
    steps: tuple[Step, ...]
    condition: Condition | None = None


@dataclass(slots=True)
class StepStats:
    """What one step did to one batch."""

    pipeline: str
    step: str
    lines_in: int = 0
    lines_out: int = 0
    errors: int = 0
    dead_lettered: int = 0
    seconds: float = 0.0

    @property
    def dropped(self) -> int:
        """Lines removed: dropped on purpose (drop, sample, dedup), folded into another, or on error."""
        return self.lines_in - self.lines_out - self.dead_lettered


@dataclass(slots=True)
class RunOutput:
    """A processed wide batch, the lines sent to the dead-letter stream (wide), and per-step stats."""

    batch: pa.Table
    dead_letters: list[pa.Table] = field(default_factory=list)
    stats: list[StepStats] = field(default_factory=list)

    @property
    def dropped(self) -> int:
        return sum(s.dropped for s in self.stats)


class PipelineSetRetiredError(RuntimeError):
    """A lease was asked of a pipeline set that has been retired or closed: use the current set."""


class _Lifetime:
    """Leases held on one pipeline set, and whether it is retired or closed (guarded by `lock`)."""

    __slots__ = ("closed", "leases", "lock", "retired")

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.leases = 0
        self.retired = False
        self.closed = False


class PipelineLease:
    """One batch's hold on a pipeline set, taken when created: the set's processors stay open until it
    is released (`release()` or leaving its `with` block), even if the set is retired meanwhile.

    Take it where the set's reference is read, and hand it to the thread that runs the batch: a
    release that ends the last lease of a retired set closes the set's processors in that thread.
    """

    __slots__ = ("_released", "pipelines")

    def __init__(self, pipelines: PipelineSet) -> None:
        self.pipelines = pipelines
        self._released = False
        pipelines._acquire()

    def release(self) -> None:
        """End the lease (once; later calls do nothing)."""
        if not self._released:
            self._released = True
            self.pipelines._release()

    def __enter__(self) -> PipelineSet:
        return self.pipelines

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.release()


@dataclass(frozen=True)
class PipelineSet:
    """Every pipeline of one configuration version, in order.

    Lifetime: batches run under `lease()`; `retire()` (when a reload replaces the set) refuses new
    leases and closes the processors when the last lease ends, at once when none is held; `close()`
    closes them now. Closing happens once.
    """

    pipelines: tuple[Pipeline, ...] = ()
    version: str = ""
    _life: _Lifetime = field(default_factory=_Lifetime, init=False, repr=False, compare=False)

    def __bool__(self) -> bool:
        return bool(self.pipelines)

    def lease(self) -> PipelineLease:
        """Hold the processors open for one batch: `with pipelines.lease(): out = pipelines.run(batch)`.

        Raises PipelineSetRetiredError once the set is retired or closed.
        """
        return PipelineLease(self)

    def retire(self) -> None:
        """No new leases; close the processors when the last lease ends (now, when none is held)."""
        with self._life.lock:
            self._life.retired = True
            idle = self._life.leases == 0
        if idle:
            self.close()

    @property
    def closed(self) -> bool:
        """Whether the processors have been closed."""
        return self._life.closed

    @property
    def leases(self) -> int:
        """How many leases are held now."""
        return self._life.leases

    def _acquire(self) -> None:
        with self._life.lock:
            if self._life.retired or self._life.closed:
                raise PipelineSetRetiredError(f"pipeline set {self.version or '(empty)'} is retired")
            self._life.leases += 1

    def _release(self) -> None:
        with self._life.lock:
            self._life.leases -= 1
            last = self._life.retired and self._life.leases == 0
        if last:
            self.close()

    def run(self, batch: pa.Table) -> RunOutput:
        """Run all pipelines over a wide batch; line order is kept."""
        out = RunOutput(batch)
        if not self.pipelines or batch.num_rows == 0:
            return out
        batch = fields.expand_prebuilt(batch)
        batch = batch.append_column(_ROW, _row_numbers(batch.num_rows))
        for pipeline in self.pipelines:
            if batch.num_rows == 0:
                break
            batch = _on_selected(batch, pipeline.condition, functools.partial(_run_steps, pipeline, out=out))
        rows = batch.column(_ROW)
        if batch.num_rows > 1 and not pc.all(pc.greater(rows[1:], rows[:-1])).as_py():
            batch = batch.take(pc.sort_indices(rows))
        out.batch = batch.drop_columns([_ROW])
        out.dead_letters = [t.drop_columns([_ROW]) for t in out.dead_letters]
        return out

    def close(self) -> None:
        """Close every processor now (once; later calls do nothing); a processor that fails to close is
        logged and the others still close."""
        with self._life.lock:
            if self._life.closed:
                return
            self._life.closed = True
            self._life.retired = True
        for pipeline in self.pipelines:
            for step in pipeline.steps:
                try:
                    step.processor.close()
                except Exception:
                    log.exception("pipeline %s step %s failed to close", pipeline.name, step.id)


def _run_steps(pipeline: Pipeline, batch: pa.Table, *, out: RunOutput) -> pa.Table:
    for step in pipeline.steps:
        if batch.num_rows == 0:
            break
        batch = _on_selected(batch, step.condition, functools.partial(_run_step, pipeline, step, out=out))
    return batch


def _run_step(pipeline: Pipeline, step: Step, batch: pa.Table, *, out: RunOutput) -> pa.Table:
    stats = StepStats(pipeline.name, step.id, lines_in=batch.num_rows)
    out.stats.append(stats)
    started = time.perf_counter()
    try:
        result = step.processor.process(batch)
        if _ROW not in result.batch.column_names:
            raise RuntimeError("the processor lost the row order column")
    except Exception as exc:
        # A bug or an unforeseen input: the lines go on unchanged, marked, never lost.
        log.exception("pipeline %s step %s failed on a batch of %d lines", pipeline.name, step.id, batch.num_rows)
        result = Processed(batch, pa.repeat(pa.scalar(f"internal error: {exc}"), batch.num_rows))
    processed = result.batch
    if result.errors is not None and result.errors.null_count < len(result.errors):
        processed = _handle_errors(step, processed, result.errors, stats, out)
    stats.lines_out = processed.num_rows
    stats.seconds = time.perf_counter() - started
    return processed


def _handle_errors(step: Step, batch: pa.Table, errors: pa.Array, stats: StepStats, out: RunOutput) -> pa.Table:
    failed = pc.is_valid(errors)
    stats.errors = pc.sum(failed).as_py() or 0
    text = pc.binary_join_element_wise(pa.scalar(f"{step.id}: "), pc.cast(errors, pa.string()), "")
    old = fields.get(batch, ERROR_FIELD)
    if old is not None:
        old = as_string(old)
        text = pc.if_else(pc.is_valid(old), pc.binary_join_element_wise(old, text, "; "), text)
    batch = fields.set_field(batch, ERROR_FIELD, text, failed)
    if step.on_error == "tag":
        return batch
    kept = batch.filter(pc.invert(failed))
    if step.on_error == "dead_letter":
        stats.dead_lettered = stats.errors
        out.dead_letters.append(_to_dead_letter(batch.filter(failed)))
    return kept


def _to_dead_letter(batch: pa.Table) -> pa.Table:
    """Failed lines as dead letters: source `dead_letter`, the reason in attrs.error (as for undecodable input)."""
    batch = fields.set_field(batch, "attrs.original_source", batch.column("source").combine_chunks())
    batch = fields.set_field(batch, "attrs.error", batch.column(ERROR_FIELD).combine_chunks())
    return fields.set_field(batch, "source", pa.repeat(pa.scalar("dead_letter"), batch.num_rows))


def _on_selected(batch: pa.Table, condition: Condition | None, fn: Callable[[pa.Table], pa.Table]) -> pa.Table:
    """Apply fn to the rows the condition selects; the other rows pass unchanged."""
    if condition is None:
        return fn(batch)
    mask = pc.fill_null(condition(batch), False)
    selected = pc.sum(mask).as_py() or 0
    if selected == 0:
        return batch
    if selected == batch.num_rows:
        return fn(batch)
    return concat_wide([fn(batch.filter(mask)), batch.filter(pc.invert(mask))])


def concat_wide(tables: list[pa.Table]) -> pa.Table:
    """Concatenate wide tables whose attribute columns differ in presence or type.

    A column missing from a table, or all null in it, takes the type the other tables give it; int and
    float versions of a field become float; other disagreements make every value of the field text.
    """
    tables = [t for t in tables if t.num_rows] or tables[:1]
    if len(tables) == 1:
        return tables[0]
    names: list[str] = []
    types: dict[str, pa.DataType | None] = {}
    textual: set[str] = set()
    for table in tables:
        for f in table.schema:
            if f.name not in types:
                names.append(f.name)
                types[f.name] = None
            col = table.column(f.name)
            if col.null_count == len(col) or pa.types.is_null(f.type):
                continue  # no values: its type does not matter
            seen = types[f.name]
            if seen is None or seen == f.type:
                types[f.name] = f.type
            elif _numeric(seen) and _numeric(f.type):
                types[f.name] = pa.float64()
            else:
                textual.add(f.name)
    aligned = []
    for table in tables:
        arrays = []
        for name in names:
            wanted = pa.string() if name in textual else types[name] or _first_type(tables, name)
            if name not in table.column_names:
                arrays.append(pa.nulls(table.num_rows, wanted))
                continue
            col = table.column(name).combine_chunks()
            if col.type == wanted:
                arrays.append(col)
            elif col.null_count == len(col):
                arrays.append(pa.nulls(len(col), wanted))
            elif name in textual:
                arrays.append(as_string(col))
            else:
                arrays.append(pc.cast(col, wanted))
        schema = pa.schema(
            [
                pa.field(n, a.type, nullable=not (n in WIDE_CORE and n in _NOT_NULL))
                for n, a in zip(names, arrays, strict=True)
            ]
        )
        aligned.append(pa.Table.from_arrays(arrays, schema=schema))
    return pa.concat_tables(aligned)


def _first_type(tables: list[pa.Table], name: str) -> pa.DataType:
    """The declared type of a column no table has values in."""
    return next(t.schema.field(name).type for t in tables if name in t.column_names)


_NOT_NULL = frozenset({"ts", "observed_ts", "tenant", "source", "log_id"})


def _numeric(t: pa.DataType) -> bool:
    return bool(pa.types.is_integer(t) or pa.types.is_floating(t))


@functools.cache
def _row_number_block(size: int) -> pa.Array:
    return pa.array(range(size), pa.int64())


def _row_numbers(n: int) -> pa.Array:
    """0 … n-1 sliced from a cached block (sizes are powers of two)."""
    return _row_number_block(max(1024, 1 << max(n - 1, 0).bit_length())).slice(0, n)


__all__ = [
    "ERROR_FIELD",
    "Pipeline",
    "PipelineLease",
    "PipelineSet",
    "PipelineSetRetiredError",
    "RunOutput",
    "Step",
    "StepStats",
]
