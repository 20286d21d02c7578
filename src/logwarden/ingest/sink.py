"""The one path every source takes into the store: decode → normalize → dead-letter → durable append.

Sources differ only in how they turn bytes into a record table (and a list of rejected lines); the
sink does the rest the same way for all of them, in the decode thread pool, and counts it per source
and tenant. Errors the caller maps to its protocol (store/base.py): StoreBusyError (push back and retry
later), StoreClosedError (stopping), StorageFailureError (nothing acknowledged; retry later). A decoder
that raises DecodeError has the lines it names stored as dead letters (the request succeeds).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import pyarrow as pa

from logwarden.ingest.attr_limits import AttrLimits
from logwarden.ingest.ndjson import DecodedBody
from logwarden.ingest.time_window import FUTURE, TOO_OLD, TimeWindow, apply_window
from logwarden.model.normalize import (
    PREBUILT_ATTRS,
    WIDE_CORE,
    BatchContext,
    attr_key,
    dead_letter,
    normalize,
    one_array,
    pack,
    widen,
    without_int_claims,
)
from logwarden.patterns.miner import PatternMiner
from logwarden.pipeline.copy import MARK_COLUMN
from logwarden.pipeline.runner import PipelineSet, StepStats, concat_wide
from logwarden.query.batch_attrs import ATTR_COLUMNS
from logwarden.store.base import DecodeError, Store

if TYPE_CHECKING:  # the facade over every package's metrics; ingest only uses it
    from logwarden.telemetry.metrics import Metrics

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class IngestResult:
    accepted: int  # good lines now safely stored, re-sent duplicates included
    rejected: int  # lines stored in the dead-letter stream (undecodable, or stamped too far ahead)
    duplicates: int = 0  # accepted lines that were re-sends of lines already stored
    refused: int = 0  # lines not stored at all: older than their tenant's retention
    refused_reason: str | None = None  # what to tell the client about them
    refused_items: tuple[int, ...] = ()  # their positions in the request, when the decoder numbered records
    refused_line_reason: str | None = None  # why one of them was refused (per-item answers)
    rejected_reason: str | None = None  # why lines went to the dead-letter stream, when a limit sent them there


@dataclass(slots=True)
class CoreBatch:
    """What the sink stores for one decoded body, and how it got there."""

    table: pa.Table  # core schema: processed good records, then dead letters
    accepted: int  # good records received and kept (the client's lines, before pipelines dropped any)
    rejected: int  # dead letters: undecodable lines and lines stamped too far ahead
    stats: list[StepStats] = field(default_factory=list)
    refused: int = 0  # records older than retention, left out
    refused_reason: str | None = None
    refused_items: tuple[int, ...] = ()
    refused_line_reason: str | None = None
    rejected_by_reason: dict[str, int] = field(default_factory=dict)
    rejected_reason: str | None = None  # the attribute limits' reason (the client is told)
    refused_keys: int = 0  # attribute keys refused by the tenant's distinct-key limit


def to_core_batch(
    decoded: DecodedBody,
    ctx: BatchContext,
    pipelines: PipelineSet | None = None,
    window: TimeWindow | None = None,
    miner: PatternMiner | None = None,
    limits: AttrLimits | None = None,
) -> CoreBatch:
    """Normalize, run the pipelines, apply the time window (when given) and the attribute limits (when given),
    set each good line's `pattern_id` (with a miner), and add dead letters: one core-schema table."""
    tables = []
    accepted = 0
    stats: list[StepStats] = []
    refused = 0
    reason: str | None = None
    line_reason: str | None = None
    items: tuple[int, ...] = ()
    by_reason: dict[str, int] = {}
    limit_reason: str | None = None
    refused_keys = 0
    if decoded.records is not None and decoded.records.num_rows:
        accepted = decoded.records.num_rows
        wide = widen(decoded.records, ctx)
        if pipelines:
            out = pipelines.run(wide)
            stats = out.stats
            wide = concat_wide([out.batch, *out.dead_letters]) if out.dead_letters else out.batch
        if window is not None:
            outcome = apply_window(wide, window, ctx.received)
            refused, reason, items = outcome.refused, outcome.reason, tuple(outcome.refused_items)
            line_reason = outcome.line_reason
            wide = concat_wide([outcome.kept, outcome.future]) if outcome.future is not None else outcome.kept
            if refused:
                by_reason[TOO_OLD] = refused
            if outcome.future_count:
                by_reason[FUTURE] = outcome.future_count
            accepted -= refused + outcome.future_count
        if limits is not None:
            # On the lines the window kept: the record as it would be stored, after its pipelines.
            limited = limits.apply(wide, ctx.tenant)
            if limited.dead is not None:
                wide = concat_wide([limited.kept, limited.dead])
                by_reason.update(limited.by_reason)
                limit_reason, refused_keys = limited.reason, limited.refused_keys
                accepted -= limited.dead_count
        core = pack(wide) if miner is None else miner.assign(pack(wide))
        if ATTR_COLUMNS.recording:  # a bus subscriber reads attributes: leave it the decoded columns
            _remember_attr_columns(core, wide)
        tables.append(_with_marks(core, wide))
    if decoded.rejected:
        tables.append(dead_letter(decoded.rejected, ctx))
        by_reason[INVALID] = len(decoded.rejected)
    if not tables:
        return CoreBatch(normalize(pa.table({}), ctx), 0, 0)
    # Concatenation keeps the first table's metadata: its integer-attribute claim would cover the dead letters too.
    table = tables[0] if len(tables) == 1 else without_int_claims(pa.concat_tables(tables, promote_options="default"))
    rejected = sum(n for r, n in by_reason.items() if r != TOO_OLD)  # every reason but too_old is a dead letter
    return CoreBatch(
        table, accepted, rejected, stats, refused, reason, items, line_reason, by_reason, limit_reason, refused_keys
    )


INVALID = "invalid"  # the reason label of lines that could not be decoded


def _text(line: bytes) -> str:
    return line.decode("utf-8", errors="replace")


def _remember_attr_columns(core: pa.Table, wide: pa.Table) -> None:
    """Leave the typed attribute columns `pack` encoded beside the batch's `attrs` (query/batch_attrs.py), so bus
    subscribers read them instead of parsing the JSON (only while one wants them: `ATTR_COLUMNS.recording`). The
    same selection as `pack`; none when a decoder built JSON itself (its keys are not columns)."""
    names = wide.schema.names  # once: `Table.column_names` costs ~20 µs a call
    attrs = core.column("attrs")
    if PREBUILT_ATTRS in names or attrs.num_chunks != 1:
        return
    n = wide.num_rows
    columns: dict[str, pa.Array] = {}
    for i, name in enumerate(names):
        if name in WIDE_CORE or name.startswith("__"):
            continue
        col = one_array(wide.column(i))
        if not pa.types.is_null(col.type) and col.null_count < n:
            columns[attr_key(name)] = col
    ATTR_COLUMNS.put(attrs.chunk(0), columns)


def _with_marks(core: pa.Table, wide: pa.Table) -> pa.Table:
    """Carry the `copy` steps' output marks (an internal wide column) into the stored batch: the ingest log
    keeps them, and the bus hands them to the outputs (the hot store does not store them)."""
    if MARK_COLUMN not in wide.column_names:
        return core
    return core.append_column(MARK_COLUMN, wide.column(MARK_COLUMN).cast(pa.string()))


class IngestSink:
    """Shared by all sources of one server."""

    def __init__(
        self,
        store: Store,
        metrics: Metrics,
        pool: ThreadPoolExecutor,
        window_for: Callable[[str], TimeWindow] | None = None,
    ) -> None:
        self.store = store
        self.metrics = metrics
        self.pool = pool
        # tenant → which event times its lines may have (None: any time the store can hold).
        self.window_for = window_for
        # Replaced whole on reload; each batch reads it once, so it meets exactly one version.
        self.pipelines = PipelineSet()
        self.miner: PatternMiner | None = None  # sets every good line's pattern_id (config `patterns`)
        self.attr_limits: AttrLimits | None = None  # fields per record, keys per tenant (config `limits`)

    async def ingest(self, decode: Callable[[], DecodedBody], ctx: BatchContext, raw_bytes: int) -> IngestResult:
        """Run `decode` and the normalization in the decode pool, store durably, count."""

        pipelines = self.pipelines
        # Held until the batch has run through them: a reload closes the old pipelines after their last batch.
        lease = pipelines.lease()
        window = self.window_for(ctx.tenant) if self.window_for is not None else None
        miner = self.miner
        limits = self.attr_limits

        def work() -> CoreBatch:
            try:
                try:
                    decoded = decode()
                except DecodeError as exc:
                    # The decoder could not make rows of these lines: they are kept as dead letters, never
                    # mistaken for a store failure (503) or lost.
                    rejected = [(_text(line), str(exc)) for line in exc.lines] or [("", str(exc))]
                    decoded = DecodedBody(None, rejected)
                return to_core_batch(decoded, ctx, pipelines, window, miner, limits)
            finally:
                lease.release()

        batch = await asyncio.get_running_loop().run_in_executor(self.pool, work)
        table, accepted, rejected = batch.table, batch.accepted, batch.rejected
        duplicates = (await self.store.append(table)).duplicates if table.num_rows else 0
        if batch.stats:
            self.metrics.observe_pipeline(batch.stats)
        stored = table.num_rows - rejected
        self.metrics.ingested_lines.labels(ctx.source, ctx.tenant).inc(stored - duplicates)
        self.metrics.ingested_bytes.labels(ctx.source, ctx.tenant).inc(raw_bytes)
        for reason, count in batch.rejected_by_reason.items():
            self.metrics.rejected_lines.labels(ctx.source, ctx.tenant, reason).inc(count)
        if batch.refused_keys:
            self.metrics.ingest.rejected_attr_keys.labels(ctx.tenant).inc(batch.refused_keys)
        if duplicates:
            self.metrics.duplicate_lines.labels(ctx.source, ctx.tenant).inc(duplicates)
        if batch.refused:
            log.info("%s (source %s)", batch.refused_reason, ctx.source)
        return IngestResult(
            accepted,
            rejected,
            duplicates,
            batch.refused,
            batch.refused_reason,
            batch.refused_items,
            batch.refused_line_reason,
            batch.rejected_reason,
        )
