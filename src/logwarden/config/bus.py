"""Settings of the batch bus (`bus:` in the config file; docs/config.md is generated from these)."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from logwarden.model.units import ByteSize


class BusConfig(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", use_attribute_docstrings=True)

    max_lag_bytes: ByteSize = Field(512 * 1024**2, ge=1024**2)
    """How far (bytes of the ingest log) a lossless subscriber (a copy output, later rules) may fall behind
    the newest durable batch. Beyond it ingest answers 429 naming the subscriber, until it catches up: the
    ingest log keeps every segment a subscriber still needs, so this bounds the disk it may hold."""
    memory_bytes: ByteSize = Field(64 * 1024**2, ge=0)
    """Recent batches kept in memory for subscribers that keep up; one that falls further behind reads the
    ingest log from disk instead (slower, same lines)."""
    tail_pending_batches: int = Field(64, ge=1)
    """Batches a lossy subscriber (live tail) may have waiting; beyond it new batches are dropped for it and
    counted in logwarden_bus_dropped_lines_total."""
