"""The one path every source takes into the store: decode → normalize → dead-letter → durable append.

Sources differ only in how they turn bytes into a record table (and a list of rejected lines); the
sink does the rest the same way for all of them, in the decode thread pool, and counts it per source
and tenant. Errors the caller maps to its protocol: StoreBusyError (push back and retry later),
RuntimeError (store closed), OSError (storage failure).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

import pyarrow as pa

from logwarden.ingest.ndjson import DecodedBody
from logwarden.model.normalize import BatchContext, dead_letter, normalize, pack, widen
from logwarden.pipeline.runner import PipelineSet, StepStats, concat_wide
from logwarden.store.duckdb.store import DuckDBStore
from logwarden.telemetry.metrics import Metrics


@dataclass(frozen=True, slots=True)
class IngestResult:
    accepted: int  # good lines now safely stored, re-sent duplicates included
    rejected: int  # lines stored in the dead-letter stream
    duplicates: int = 0  # accepted lines that were re-sends of lines already stored


@dataclass(slots=True)
class CoreBatch:
    """What the sink stores for one decoded body, and how it got there."""

    table: pa.Table  # core schema: processed good records, then dead letters
    accepted: int  # good records received (the client's lines, before pipelines dropped any)
    rejected: int  # undecodable lines, stored as dead letters
    stats: list[StepStats] = field(default_factory=list)


def to_core_batch(decoded: DecodedBody, ctx: BatchContext, pipelines: PipelineSet | None = None) -> CoreBatch:
    """Normalize, run the pipelines, and add dead letters: one core-schema table."""
    tables = []
    accepted = 0
    stats: list[StepStats] = []
    if decoded.records is not None and decoded.records.num_rows:
        accepted = decoded.records.num_rows
        wide = widen(decoded.records, ctx)
        if pipelines:
            out = pipelines.run(wide)
            stats = out.stats
            wide = concat_wide([out.batch, *out.dead_letters]) if out.dead_letters else out.batch
        tables.append(pack(wide))
    if decoded.rejected:
        tables.append(dead_letter(decoded.rejected, ctx))
    if not tables:
        return CoreBatch(normalize(pa.table({}), ctx), 0, 0)
    table = tables[0] if len(tables) == 1 else pa.concat_tables(tables)
    return CoreBatch(table, accepted, len(decoded.rejected), stats)


class IngestSink:
    """Shared by all sources of one server."""

    def __init__(self, store: DuckDBStore, metrics: Metrics, pool: ThreadPoolExecutor) -> None:
        self.store = store
        self.metrics = metrics
        self.pool = pool
        # Called on the event loop with each core-schema batch once it is durable (live tail, rules).
        self.listeners: list[Callable[[pa.Table], None]] = []
        # Replaced whole on reload; each batch reads it once, so it meets exactly one version.
        self.pipelines = PipelineSet()

    async def ingest(self, decode: Callable[[], DecodedBody], ctx: BatchContext, raw_bytes: int) -> IngestResult:
        """Run `decode` and the normalization in the decode pool, store durably, count."""

        pipelines = self.pipelines

        def work() -> CoreBatch:
            return to_core_batch(decode(), ctx, pipelines)

        batch = await asyncio.get_running_loop().run_in_executor(self.pool, work)
        table, accepted, rejected = batch.table, batch.accepted, batch.rejected
        duplicates = (await self.store.append(table)).duplicates if table.num_rows else 0
        if batch.stats:
            self.metrics.observe_pipeline(batch.stats)
        if table.num_rows:
            for listener in self.listeners:
                listener(table)
        stored = table.num_rows - rejected
        self.metrics.ingested_lines.labels(ctx.source, ctx.tenant).inc(stored - duplicates)
        self.metrics.ingested_bytes.labels(ctx.source, ctx.tenant).inc(raw_bytes)
        if rejected:
            self.metrics.rejected_lines.labels(ctx.source, ctx.tenant).inc(rejected)
        if duplicates:
            self.metrics.duplicate_lines.labels(ctx.source, ctx.tenant).inc(duplicates)
        return IngestResult(accepted, rejected, duplicates)
