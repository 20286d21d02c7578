"""Gather syslog frames into batches and send each batch through the ingest sink.

A batch closes when it holds `batch_max_frames` frames or `batch_max_bytes` bytes, or when its first
frame has waited `batch_max_delay`; then it is parsed (in the decode pool) and stored durably in one
append. A listener keeps at most one batch in the sink and one filling, so memory stays bounded.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime

from logwarden.config.sources.syslog import SyslogConfig
from logwarden.ingest.sink import IngestSink
from logwarden.ingest.syslog.parser import decode_frames
from logwarden.model.normalize import BatchContext
from logwarden.store.base import StorageFailureError, StoreBusyError, StoreClosedError

SOURCE = "syslog"
log = logging.getLogger(__name__)


@dataclass(slots=True)
class FrameBatch:
    """Frames received together: from one TCP connection (one peer) or from many UDP senders."""

    peer: str | None = None  # the one sender of a TCP batch; None for UDP (see peers)
    frames: list[bytes] = field(default_factory=list)
    peers: list[str] = field(default_factory=list)
    rejected: list[tuple[bytes, str, str]] = field(default_factory=list)  # (frame, reason, sender)
    nbytes: int = 0
    started: float = 0.0

    def __len__(self) -> int:
        return len(self.frames) + len(self.rejected)

    def full(self, settings: SyslogConfig) -> bool:
        return len(self) >= settings.batch_max_frames or self.nbytes >= settings.batch_max_bytes

    def due_in(self, settings: SyslogConfig, now: float) -> float:
        """Seconds until the batch must be stored even if not full."""
        return max(0.0, self.started + settings.batch_max_delay.total_seconds() - now)

    def mark_started(self) -> None:
        if not self.started:
            self.started = time.monotonic()


class BatchWriter:
    """Stores batches of one listener through the sink, for one tenant."""

    def __init__(self, settings: SyslogConfig, tenant: str, listener: str) -> None:
        self.settings = settings
        self.tenant = tenant
        self.listener = listener
        self.sink: IngestSink | None = None

    def context(self) -> BatchContext:
        return BatchContext(tenant=self.tenant, source=SOURCE, received=datetime.now(UTC))

    async def write(self, batch: FrameBatch, *, wait_when_busy: bool) -> bool:
        """Parse and store `batch`; True once it is durable.

        With `wait_when_busy` (TCP) a busy or failing store is retried after syslog.busy_retry_delay until
        it takes the batch: the caller reads nothing meanwhile, so TCP flow control slows the sender down.
        Without it (UDP, which cannot push back) the batch is dropped and counted.
        """
        sink = self.sink
        if sink is None:
            raise RuntimeError("the syslog listener is not started")
        if not len(batch):
            return True
        ctx = self.context()
        peers: list[str] | str = batch.peer if batch.peer is not None else batch.peers
        decode = functools.partial(
            decode_frames,
            batch.frames,
            peers,
            ctx.received,
            timezone=self.settings.rfc3164_timezone,
            rejected=batch.rejected,
        )
        metrics = sink.metrics
        delay = self.settings.busy_retry_delay.total_seconds()
        while True:
            try:
                await sink.ingest(decode, ctx, batch.nbytes)
                return True
            except StoreBusyError:
                reason = "store_busy"
            except StoreClosedError:
                # The store is closed: the server is stopping and nothing more can be stored.
                log.warning("syslog %s: store closed, %d frames not stored", self.listener, len(batch))
                metrics.syslog_dropped_frames.labels(self.listener, "store_closed").inc(len(batch))
                return False
            except StorageFailureError as exc:
                log.error("syslog %s: storing a batch failed: %s", self.listener, exc)
                reason = "store_error"
            if not wait_when_busy:
                metrics.syslog_dropped_frames.labels(self.listener, reason).inc(len(batch))
                return False
            metrics.syslog_store_waits.labels(self.listener).inc()
            await asyncio.sleep(delay)
