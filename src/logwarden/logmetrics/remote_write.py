"""Prometheus remote-write of the log metrics: the series changed since the last push, as cumulative counters,
sent every `interval` to a configured receiver, from a durable outbox.

**Nothing lost, nothing twice.** Each commit of the subscriber also writes its deltas per series to the series
store's outbox, in the same transaction as the points and the bus cursor (logmetrics/store.py). A push reads the
outbox after its cursor, adds the deltas to the totals pushed so far, and sends one sample per series — the new
total, stamped with the time of the latest commit that touched it. Only after the receiver accepted every request
do the new totals, the emptied outbox and the cursor commit together. A crash in between sends the same chunk
again with the same timestamps and values (plus any newer commits), which Prometheus takes as duplicates: a
counter neither jumps nor loses lines, and it survives restarts (no reset, unlike a scrape of `/metrics/logs`).

**Failures.** No answer, 5xx and 429 are retried with a doubling wait (up to `max_backoff`), the chunk kept; any
other 4xx means the receiver will never take it: the chunk's requests are dropped and counted
(`dropped_samples`), its deltas still folded into the totals so later samples stay right. While the receiver is
down the outbox grows up to `max_pending_rows`, past which the oldest commits are folded unsent (also counted).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import httpx

from logwarden.config.logmetrics import MetricDefinition, RemoteWriteConfig
from logwarden.lazy import lazy_module
from logwarden.logmetrics.exposition import series_pairs, series_samples
from logwarden.logmetrics.store import OutboxChunk, SeriesStore

if TYPE_CHECKING:
    from logwarden.logmetrics import prompb
else:
    # Protobuf messages and snappy (cramjam): only a configured remote write builds them.
    prompb = lazy_module("logwarden.logmetrics.prompb")

log = logging.getLogger(__name__)

MAX_SAMPLES_PER_REQUEST = 2000  # as Prometheus's own queue manager (`max_samples_per_send`)
FIRST_BACKOFF = 0.5  # seconds before the first retry; doubles up to `max_backoff`


class RemoteWriteRejectedError(Exception):
    """The receiver refused a request for good (a 4xx other than 429): retrying cannot help."""


@dataclass(slots=True)
class RemoteWriteStats:
    """What the writer did since start."""

    pushes: int = 0
    requests: int = 0
    sent_samples: int = 0
    retries: int = 0
    dropped_samples: int = 0
    last_error: str | None = None
    errors_by_status: dict[int, int] = field(default_factory=dict)


class RemoteWriter:
    """Pushes the series store's outbox to `config.url` from a thread of its own (`start`), or on `push` calls."""

    def __init__(
        self,
        store: SeriesStore,
        definitions: Mapping[str, MetricDefinition],
        config: RemoteWriteConfig,
        *,
        first_backoff: float = FIRST_BACKOFF,
    ) -> None:
        self.store = store
        self.definitions = definitions
        self.config = config
        self.stats = RemoteWriteStats()
        self._first_backoff = first_backoff
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._push_lock = threading.Lock()
        headers = {**prompb.HEADERS, "User-Agent": "logwarden-remote-write", **config.headers}
        if config.bearer_token is not None:
            headers["Authorization"] = f"Bearer {config.bearer_token.get_secret_value()}"
        self._client = httpx.Client(headers=headers, timeout=config.timeout.total_seconds())

    def start(self) -> None:
        """Push every `interval` from a background thread until `close`."""
        self._thread = threading.Thread(target=self._loop, name="lw-logmetrics-remote-write", daemon=True)
        self._thread.start()

    def close(self, final_push: bool = True) -> None:
        """Stop the thread; with `final_push`, one last attempt (no retries) at what is committed now."""
        self._stop.set()
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join(self.config.timeout.total_seconds() + 5)
        try:
            if final_push:
                self.push(retry=False)
        except Exception:  # still in the outbox: the next start sends it
            log.warning("log metrics remote-write: the last push at stop failed; kept for the next start")
        finally:
            self._client.close()

    def _loop(self) -> None:
        interval = self.config.interval.total_seconds()
        while not self._stop.wait(interval):
            try:
                self.push()
            except Exception:
                log.exception("log metrics remote-write: push failed; retrying at the next interval")

    def push(self, *, retry: bool = True) -> int:
        """Send everything committed so far (retrying unless `retry` is off or the writer stops); the samples sent.
        Raises httpx.HTTPError (or RuntimeError for a 5xx) when the receiver is unreachable and no retry is left."""
        with self._push_lock:
            sent = 0
            self._bound_outbox()
            while (chunk := self.store.outbox_chunk(max_rows=MAX_SAMPLES_PER_REQUEST * 10)) is not None:
                sent += self._send_chunk(chunk, retry)
                self.store.outbox_done(chunk)
                if chunk.series.num_rows == 0:
                    break
            self.stats.pushes += 1
            return sent

    def _bound_outbox(self) -> None:
        """Fold the oldest commits unsent while the outbox holds more than `max_pending_rows` (receiver down)."""
        limit = self.config.max_pending_rows
        while (waiting := self.store.outbox_rows()) > limit:
            chunk = self.store.outbox_chunk(max_rows=waiting - limit)
            if chunk is None:
                return
            self.stats.dropped_samples += chunk.series.num_rows
            log.warning(
                "log metrics remote-write: outbox over %d rows; %d series updates dropped unsent",
                limit,
                chunk.series.num_rows,
            )
            self.store.outbox_done(chunk)

    def _samples(self, chunk: OutboxChunk) -> list[prompb.Sample]:
        """One sample per Prometheus series of each log series in `chunk` (Python per series, never per line)."""
        bins: dict[tuple[str, str, str], dict[int, int]] = {}
        if chunk.bins.num_rows:
            for metric, tenant, labels, index, n in zip(*(c.to_pylist() for c in chunk.bins.columns), strict=True):
                bins.setdefault((metric, tenant, labels), {})[index] = n
        out: list[prompb.Sample] = []
        columns = [chunk.series.column(c).to_pylist() for c in ("metric", "tenant", "labels", "n", "total", "at_ms")]
        for metric, tenant, labels, n, total, at in zip(*columns, strict=True):
            d = self.definitions.get(metric)
            if d is None:
                continue  # a definition removed since: its deltas are folded, not sent
            for name, pairs, value in series_samples(
                d, series_pairs(tenant, labels), n, total, bins.get((metric, tenant, labels), {})
            ):
                out.append(([("__name__", name), *pairs], value, int(at)))
        return out

    def _send_chunk(self, chunk: OutboxChunk, retry: bool) -> int:
        samples = self._samples(chunk)
        sent = 0
        for i in range(0, len(samples), MAX_SAMPLES_PER_REQUEST):
            part = samples[i : i + MAX_SAMPLES_PER_REQUEST]
            try:
                self._post(prompb.encode(part), retry)
                sent += len(part)
            except RemoteWriteRejectedError as exc:
                self.stats.dropped_samples += len(part)
                self.stats.last_error = str(exc)
                log.error("log metrics remote-write: %s; %d samples dropped", exc, len(part))
        self.stats.sent_samples += sent
        return sent

    def _post(self, body: bytes, retry: bool) -> None:
        wait = self._first_backoff
        while True:
            self.stats.requests += 1
            try:
                resp = self._client.post(self.config.url, content=body)
                status = resp.status_code
                if status < 300:
                    return
                self.stats.errors_by_status[status] = self.stats.errors_by_status.get(status, 0) + 1
                problem = f"{self.config.url} answered {status}: {resp.text[:200].strip()}"
                if 400 <= status < 500 and status != 429:
                    raise RemoteWriteRejectedError(problem)
                failure: Exception = RuntimeError(problem)
            except httpx.HTTPError as exc:
                failure = exc
                problem = f"{self.config.url}: {type(exc).__name__}: {exc}"
            self.stats.last_error = problem
            if not retry or self._stop.is_set():
                raise failure
            self.stats.retries += 1
            log.warning("log metrics remote-write: %s; retrying in %.1fs", problem, wait)
            if self._stop.wait(wait):
                raise failure  # stopping: the chunk stays in the outbox for the final push or the next start
            wait = min(wait * 2, self.config.max_backoff.total_seconds())
