"""The sender thread: ships sealed batches strictly in order, spools them while the server cannot take them.

Order is what makes the server's de-duplication safe (offsets of a stream must arrive increasing), so
there is one queue: the spool (oldest) → the batch held back by a full spool → the memory queue. A batch
is *safe* once the server stored it, the dead-letter directory holds it, or the spool holds it (fsynced);
batches become safe in order, and each one's positions go to the checkpoint file as it does.
"""

from __future__ import annotations

import gzip
import logging
import math
import queue
import threading
import time
from collections.abc import Callable
from typing import Literal

from logwarden.agent import failpoints
from logwarden.agent.backoff import Backoff
from logwarden.agent.batch import Batch
from logwarden.agent.checkpoint import CheckpointStore
from logwarden.agent.metrics import AgentMetrics
from logwarden.agent.shipper import HttpShipper, Outcome, Verdict, gzip_bytes
from logwarden.agent.spool import DeadLetterDir, DiskSpool

log = logging.getLogger("logwarden.agent")

_FAILURE_LOG_INTERVAL = 30.0


class Payload:
    """An NDJSON body, uncompressed and/or gzipped; each form is computed at most once."""

    __slots__ = ("_gz", "_raw", "lines")

    def __init__(self, lines: int, raw: bytes | None = None, gz: bytes | None = None) -> None:
        self.lines = lines
        self._raw = raw
        self._gz = gz

    def raw(self) -> bytes:
        if self._raw is None:
            assert self._gz is not None
            self._raw = gzip.decompress(self._gz)
        return self._raw

    def gz(self) -> bytes:
        if self._gz is None:
            self._gz = gzip_bytes(self.raw())
        return self._gz

    def raw_size(self) -> int:
        if self._raw is not None:
            return len(self._raw)
        assert self._gz is not None
        return int.from_bytes(self._gz[-4:], "little")  # gzip's ISIZE trailer (mod 4 GiB)


def split_ndjson(raw: bytes) -> tuple[Payload, Payload]:
    """Two halves of an NDJSON body of at least two records, cut at a record boundary near the middle."""
    body = raw if raw.endswith(b"\n") else raw + b"\n"
    mid = body.rfind(b"\n", 0, len(body) // 2) + 1
    if mid <= 0:
        mid = body.find(b"\n", len(body) // 2) + 1
    first, second = body[:mid], body[mid:]
    return Payload(first.count(b"\n"), raw=first), Payload(second.count(b"\n"), raw=second)


class Sender:
    """Owns the spool, the dead-letter directory and the checkpoint commits; fed by `put` from the reader."""

    def __init__(
        self,
        *,
        shipper: HttpShipper,
        spool: DiskSpool,
        dead_letters: DeadLetterDir,
        checkpoints: CheckpointStore,
        metrics: AgentMetrics,
        backoff: Backoff,
        gzip: bool,
        when_full: Literal["block", "drop"] = "block",
        queue_batches: int = 4,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._shipper = shipper
        self._spool = spool
        self._dead = dead_letters
        self._checkpoints = checkpoints
        self._metrics = metrics
        self._backoff = backoff
        self._gzip = gzip
        self._when_full = when_full
        self._clock = clock
        self._queue: queue.Queue[Batch] = queue.Queue(maxsize=queue_batches)
        self._held: Batch | None = None  # taken from the queue, not safe yet, no room in the spool
        self._stop = threading.Event()
        self._deadline = math.inf
        self._retry_after = 0.0
        self._failing_since: float | None = None
        self._last_failure_log = 0.0
        self._failures = 0
        self.error: BaseException | None = None  # set when the thread died; the agent then exits
        self._thread = threading.Thread(target=self._run, name="logwarden-agent-sender", daemon=True)
        self._update_spool_gauges()

    def start(self) -> None:
        self._thread.start()

    @property
    def alive(self) -> bool:
        return self._thread.is_alive()

    def put(self, batch: Batch, timeout: float) -> bool:
        """Queue a sealed batch; False if the queue stayed full for `timeout` (the caller retries: backpressure)."""
        try:
            self._queue.put(batch, timeout=timeout)
        except queue.Full:
            return False
        return True

    def stop(self, timeout: float) -> None:
        """Send or spool what is queued within `timeout`, then end the thread."""
        self._deadline = self._clock() + timeout
        self._stop.set()
        if self._thread.is_alive():
            # One request may start just before the deadline: allow it its connect timeout.
            self._thread.join(timeout + self._shipper.config.connect_timeout.total_seconds() + 5)
        self._shipper.close()

    # -- the thread ---------------------------------------------------------------------------------------

    def _run(self) -> None:
        try:
            while not self._stop.is_set():
                if len(self._spool):
                    if not self._send_spooled():
                        self._pause()
                    continue
                batch = self._next(timeout=0.1)
                if batch is not None:
                    self._ship(batch)
            self._drain()
        except BaseException as exc:
            self.error = exc
            log.exception("the sender stopped on an error; the agent will exit")

    def _next(self, timeout: float) -> Batch | None:
        if self._held is not None:
            batch, self._held = self._held, None
            return batch
        try:
            return self._queue.get(timeout=timeout) if timeout > 0 else self._queue.get_nowait()
        except queue.Empty:
            return None

    def _ship(self, batch: Batch) -> None:
        if batch.lines == 0:
            self._checkpoints.commit(batch.positions)
            return
        payload = Payload(batch.lines, raw=batch.payload)
        if self._deliver(payload):
            failpoints.after_ack()
            self._checkpoints.commit(batch.positions)
            return
        if not self._make_safe(batch, payload):
            self._held = batch
        self._pause()

    def _send_spooled(self) -> bool:
        entry = self._spool.oldest()
        assert entry is not None
        if not self._deliver(Payload(entry.lines, gz=self._spool.read(entry))):
            return False
        self._spool.remove(entry)
        self._update_spool_gauges()
        return True

    def _make_safe(self, batch: Batch, payload: Payload) -> bool:
        """Spool a batch that could not be sent (or drop it when so configured); False if it must wait."""
        gz = payload.gz()
        if self._spool.has_room(len(gz)):
            self._spool.append(gz, batch.lines)
            self._update_spool_gauges()
            self._checkpoints.commit(batch.positions)
            return True
        if self._when_full == "drop":
            self._metrics.dropped_lines.labels("spool_full").inc(batch.lines)
            log.warning("spool full (%d bytes): dropped a batch of %d lines", self._spool.size_bytes, batch.lines)
            self._checkpoints.commit(batch.positions)
            return True
        return False

    def _pause(self) -> None:
        """Wait out the backoff; meanwhile move queued batches to the spool so that reading goes on."""
        delay = self._backoff.next_delay(at_least=self._retry_after)
        self._retry_after = 0.0
        end = self._clock() + delay
        while not self._stop.is_set():
            remaining = end - self._clock()
            if remaining <= 0:
                return
            if self._held is not None:
                self._stop.wait(min(remaining, 0.1))
                continue
            try:
                batch = self._queue.get(timeout=min(remaining, 0.1))
            except queue.Empty:
                continue
            if batch.lines == 0:
                self._checkpoints.commit(batch.positions)  # everything before it is safe already
            elif not self._make_safe(batch, Payload(batch.lines, raw=batch.payload)):
                self._held = batch

    def _drain(self) -> None:
        """At shutdown: send what is queued while the server answers, spool the rest, until the deadline."""
        server_down = bool(len(self._spool))
        while self._clock() < self._deadline:
            batch = self._next(timeout=0)
            if batch is None:
                return
            if batch.lines == 0:
                self._checkpoints.commit(batch.positions)
                continue
            payload = Payload(batch.lines, raw=batch.payload)
            if not server_down:
                if self._deliver(payload, timeout=max(0.1, self._deadline - self._clock())):
                    self._checkpoints.commit(batch.positions)
                    continue
                server_down = True
            if not self._make_safe(batch, payload):
                return  # spool full: these lines are read again from the files at the next start

    # -- one delivery ---------------------------------------------------------------------------------------

    def _deliver(self, payload: Payload, timeout: float | None = None) -> bool:
        """True once the payload is stored or dead-lettered; False when it should be retried later."""
        body = payload.gz() if self._gzip else payload.raw()
        outcome = self._shipper.send(body, gzipped=self._gzip, timeout=timeout)
        if outcome.verdict is Verdict.STORED:
            self._stored(payload, outcome)
            return True
        if outcome.verdict is Verdict.RETRY:
            self._failed(outcome)
            return False
        if outcome.verdict is Verdict.TOO_LARGE and payload.lines > 1:
            first, second = split_ndjson(payload.raw())
            log.info("server answered 413 for %d lines; sending them in two halves", payload.lines)
            return self._deliver(first, timeout) and self._deliver(second, timeout)
        path = self._dead.write(payload.raw(), outcome.status or 0, outcome.message)
        self._metrics.dead_letter_batches.inc()
        self._metrics.dead_letter_lines.inc(payload.lines)
        log.error(
            "server refused %d lines with HTTP %s (%s); kept in %s, not retried",
            payload.lines,
            outcome.status,
            outcome.message,
            path,
        )
        return True

    def _stored(self, payload: Payload, outcome: Outcome) -> None:
        m = self._metrics
        m.lines_shipped.inc(payload.lines)
        m.bytes_shipped.inc(payload.raw_size())
        if outcome.duplicates:
            m.duplicates.inc(outcome.duplicates)
        if outcome.rejected:
            m.server_rejected.inc(outcome.rejected)
            log.warning("server could not decode %d lines (stored in its dead-letter stream)", outcome.rejected)
        if self._failing_since is not None:
            log.info(
                "server reachable again after %.1fs and %d failed attempts",
                self._clock() - self._failing_since,
                self._failures,
            )
            self._failing_since = None
            self._failures = 0
        self._backoff.reset()

    def _failed(self, outcome: Outcome) -> None:
        self._metrics.retries.labels(outcome.reason).inc()
        self._retry_after = outcome.retry_after
        self._failures += 1
        now = self._clock()
        if self._failing_since is None or now - self._last_failure_log >= _FAILURE_LOG_INTERVAL:
            if self._failing_since is None:
                self._failing_since = now
            self._last_failure_log = now
            detail = f"HTTP {outcome.status}" if outcome.status else outcome.reason
            log.warning(
                "cannot ship to %s (%s: %s); retrying with backoff, spool holds %d batches",
                self._shipper.url,
                detail,
                outcome.message,
                len(self._spool),
            )

    def _update_spool_gauges(self) -> None:
        self._metrics.spool_bytes.set(self._spool.size_bytes)
        self._metrics.spool_batches.set(len(self._spool))
