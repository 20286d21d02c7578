"""LogwardenHandler: a non-blocking logging.Handler with a bounded queue and a background sender."""

from __future__ import annotations

import atexit
import gzip
import http.client
import logging
import queue
import random
import ssl
import threading
import time
import weakref
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from logwarden.sdk.record import to_json_line

_FLUSH = object()
_STOP = object()


@dataclass
class HandlerStats:
    """Counters of one handler: what was sent, dropped (queue full), failed (gave up) and retried."""

    sent: int = 0
    dropped: int = 0
    failed: int = 0
    retries: int = 0
    batches: int = 0


class LogwardenHandler(logging.Handler):
    """Ships records to `POST <url>/api/v1/ingest` in batches, never blocking the logging call.

    `emit` formats the record and puts it in a bounded queue (`queue_size`); when the queue is full the
    record is dropped and counted (`stats.dropped`) — an application must not stall because its log
    server is slow. A background thread sends batches of up to `batch_size` records or every
    `flush_interval` seconds, gzip-compressed, retrying with exponential backoff and jitter (honouring
    Retry-After on 429/503) up to `max_retries` times. Pending records are flushed at interpreter exit.
    For an `https://` URL, `ca_file` is the CA bundle that signs the server's certificate (default: the system's)
    and `cert_file` / `key_file` the client certificate for a server that asks for one (mTLS).
    """

    def __init__(
        self,
        url: str,
        *,
        service: str | None = None,
        version: str | None = None,
        component: str | None = None,
        node_id: str | None = None,
        tenant: str | None = None,
        api_key: str | None = None,
        batch_size: int = 500,
        flush_interval: float = 1.0,
        queue_size: int = 10_000,
        timeout: float = 10.0,
        max_retries: int = 8,
        max_backoff: float = 30.0,
        compress: bool = True,
        level: int = logging.NOTSET,
        ca_file: str | None = None,
        cert_file: str | None = None,
        key_file: str | None = None,
    ) -> None:
        super().__init__(level)
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(f"LogwardenHandler needs an http(s) URL, got {url!r}")
        self._scheme = parts.scheme
        self._host = parts.hostname
        self._port = parts.port
        self._path = parts.path.rstrip("/") + "/api/v1/ingest"
        self._headers = {"Content-Type": "application/x-ndjson"}
        if compress:
            self._headers["Content-Encoding"] = "gzip"
        if tenant:
            self._headers["X-Scope-OrgID"] = tenant
        if api_key:
            self._headers["Authorization"] = f"Bearer {api_key}"
        self._compress = compress
        # https: the server is checked against `ca_file` (else the system CAs); `cert_file` is sent (mTLS).
        # Built here, so a missing file or a key that does not match fails at once (OSError / ssl.SSLError).
        self._ssl: ssl.SSLContext | None = None
        if parts.scheme == "https":
            self._ssl = ssl.create_default_context(cafile=ca_file)
            if cert_file:
                self._ssl.load_cert_chain(cert_file, key_file)
        self._static = {k: v for k, v in {"service": service, "version": version, "component": component,
                                          "node_id": node_id, "host": node_id}.items() if v}  # fmt: skip
        self.batch_size = batch_size
        self.flush_interval = flush_interval
        self.timeout = timeout
        self.max_retries = max_retries
        self.max_backoff = max_backoff
        self.stats = HandlerStats()
        # Lines (bytes), flush markers (_FLUSH, event) and _STOP.
        self._queue: queue.Queue[Any] = queue.Queue(queue_size)
        self._idle = threading.Event()
        self._idle.set()
        self._conn: http.client.HTTPConnection | None = None
        self._thread = threading.Thread(target=self._run, name="logwarden-sdk", daemon=True)
        self._thread.start()
        _live_handlers.add(self)

    # --- logging.Handler ---------------------------------------------------------------------

    def emit(self, record: logging.LogRecord) -> None:
        try:
            line = to_json_line(record, self.format(record) if self.formatter else record.getMessage(), self._static)
        except Exception:
            self.handleError(record)
            return
        try:
            self._queue.put_nowait(line)
            self._idle.clear()
        except queue.Full:
            self.stats.dropped += 1

    def flush(self) -> None:
        """Send everything queued so far (waits up to `timeout` seconds)."""
        self.drain(self.timeout)

    def drain(self, timeout: float | None = None) -> bool:
        """Send everything queued so far; True if it was sent (or given up on) within `timeout` seconds."""
        if not self._thread.is_alive():
            return self._queue.empty()
        marker = threading.Event()
        try:
            self._queue.put((_FLUSH, marker), timeout=timeout)
        except queue.Full:
            return False
        return marker.wait(timeout)

    def close(self) -> None:
        """Flush, stop the sender thread and release the connection."""
        if self._thread.is_alive():
            self.drain(self.timeout * 2)
            self._queue.put(_STOP)
            self._thread.join(self.timeout * 2)
        _live_handlers.discard(self)
        super().close()

    # --- sender thread -----------------------------------------------------------------------

    def _run(self) -> None:
        batch: list[bytes] = []
        deadline: float | None = None
        while True:
            timeout = None if deadline is None else max(0.0, deadline - time.monotonic())
            try:
                item = self._queue.get(timeout=timeout)
            except queue.Empty:
                item = None
            if isinstance(item, bytes):
                batch.append(item)
                if deadline is None:
                    deadline = time.monotonic() + self.flush_interval
                if len(batch) < self.batch_size:
                    continue
            if batch:
                self._send(batch)
                batch, deadline = [], None
            if isinstance(item, tuple) and item[0] is _FLUSH:
                item[1].set()
            elif item is _STOP:
                self._close_connection()
                return
            if self._queue.empty():
                self._idle.set()

    def _send(self, batch: list[bytes]) -> None:
        body = b"\n".join(batch) + b"\n"
        if self._compress:
            body = gzip.compress(body, compresslevel=5)
        attempt = 0
        while True:
            status, retry_after = self._post(body)
            if status == 200:
                self.stats.sent += len(batch)
                self.stats.batches += 1
                return
            if status in (400, 401, 403, 404, 413, 415) or attempt >= self.max_retries:
                # A request the server will never take, or the server stayed away: give the batch up.
                self.stats.failed += len(batch)
                return
            attempt += 1
            self.stats.retries += 1
            backoff = min(self.max_backoff, 0.2 * 2**attempt)
            time.sleep(max(retry_after or 0.0, random.uniform(0, backoff)))

    def _post(self, body: bytes) -> tuple[int, float | None]:
        """(HTTP status or 0 for a connection error, Retry-After seconds if given)."""
        try:
            conn = self._connection()
            conn.request("POST", self._path, body=body, headers={**self._headers, "Content-Length": str(len(body))})
            resp = conn.getresponse()
            resp.read()
            retry_after = resp.getheader("Retry-After")
            return resp.status, float(retry_after) if retry_after and retry_after.isdigit() else None
        except (OSError, http.client.HTTPException):
            self._close_connection()
            return 0, None

    def _connection(self) -> http.client.HTTPConnection:
        if self._conn is None:
            if self._ssl is not None:
                self._conn = http.client.HTTPSConnection(
                    self._host, self._port, timeout=self.timeout, context=self._ssl
                )
            else:
                self._conn = http.client.HTTPConnection(self._host, self._port, timeout=self.timeout)
        return self._conn

    def _close_connection(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None


_live_handlers: weakref.WeakSet[LogwardenHandler] = weakref.WeakSet()


@atexit.register
def _flush_at_exit() -> None:
    for handler in list(_live_handlers):
        handler.drain(handler.timeout)
