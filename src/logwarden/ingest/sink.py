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
from dataclasses import dataclass

import pyarrow as pa

from logwarden.ingest.ndjson import DecodedBody
from logwarden.model.normalize import BatchContext, dead_letter, normalize
from logwarden.store.duckdb.store import DuckDBStore
from logwarden.telemetry.metrics import Metrics


@dataclass(frozen=True, slots=True)
class IngestResult:
    accepted: int  # good lines now safely stored, re-sent duplicates included
    rejected: int  # lines stored in the dead-letter stream
    duplicates: int = 0  # accepted lines that were re-sends of lines already stored


def to_core_batch(decoded: DecodedBody, ctx: BatchContext) -> tuple[pa.Table, int, int]:
    """One core-schema table (good records + dead letters), accepted count, rejected count."""
    tables = []
    accepted = 0
    if decoded.records is not None and decoded.records.num_rows:
        good = normalize(decoded.records, ctx)
        accepted = good.num_rows
        tables.append(good)
    if decoded.rejected:
        tables.append(dead_letter(decoded.rejected, ctx))
    if not tables:
        return normalize(pa.table({}), ctx), 0, 0
    return (tables[0] if len(tables) == 1 else pa.concat_tables(tables)), accepted, len(decoded.rejected)


class IngestSink:
    """Shared by all sources of one server."""

    def __init__(self, store: DuckDBStore, metrics: Metrics, pool: ThreadPoolExecutor) -> None:
        self.store = store
        self.metrics = metrics
        self.pool = pool
        # Called on the event loop with each core-schema batch once it is durable (live tail, rules).
        self.listeners: list[Callable[[pa.Table], None]] = []

    async def ingest(self, decode: Callable[[], DecodedBody], ctx: BatchContext, raw_bytes: int) -> IngestResult:
        """Run `decode` and the normalization in the decode pool, store durably, count."""

        def work() -> tuple[pa.Table, int, int]:
            return to_core_batch(decode(), ctx)

        table, accepted, rejected = await asyncio.get_running_loop().run_in_executor(self.pool, work)
        duplicates = (await self.store.append(table)).duplicates if table.num_rows else 0
        if table.num_rows:
            for listener in self.listeners:
                listener(table)
        self.metrics.ingested_lines.labels(ctx.source, ctx.tenant).inc(accepted - duplicates)
        self.metrics.ingested_bytes.labels(ctx.source, ctx.tenant).inc(raw_bytes)
        if rejected:
            self.metrics.rejected_lines.labels(ctx.source, ctx.tenant).inc(rejected)
        if duplicates:
            self.metrics.duplicate_lines.labels(ctx.source, ctx.tenant).inc(duplicates)
        return IngestResult(accepted, rejected, duplicates)
