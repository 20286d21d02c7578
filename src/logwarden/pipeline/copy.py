"""`copy`: send a copy of lines to a second sink (an HTTP endpoint, or a Kafka topic) while they go on.

Copies are best effort and never slow ingest: lines wait in a bounded queue for a sender thread;
when the queue is full the newest copies are dropped and counted. The stored line is unaffected.
"""

from __future__ import annotations

import collections
import logging
import threading
import time
from datetime import timedelta
from typing import Annotated, Any, Literal

import httpx
import pyarrow as pa
import pyarrow.compute as pc
from pydantic import Field, SecretStr

from logwarden.config.units import Duration
from logwarden.model.attrs_json import encode_objects
from logwarden.model.normalize import pack
from logwarden.pipeline.base import (
    BuildEnv,
    FrozenSettings,
    Processed,
    Processor,
    ProcessorBuildError,
    ProcessorConfig,
)

log = logging.getLogger(__name__)


class HttpSinkConfig(FrozenSettings):
    type: Literal["http"]
    """`http`: POST batches of copies to a URL."""
    url: str = Field(pattern=r"^https?://")
    """Endpoint that receives POSTs of NDJSON (one line per log line; logwarden's own ingest API works)."""
    headers: dict[str, SecretStr] = Field(default_factory=dict)
    """Extra request headers (e.g. Authorization); kept secret in logs."""
    timeout: Duration = timedelta(seconds=5)
    """Per-request timeout."""


class KafkaSinkConfig(FrozenSettings):
    type: Literal["kafka"]
    """`kafka`: produce copies to a topic (needs the `kafka` extra)."""
    topic: str = Field(min_length=1)
    """Topic the copies are produced to (one JSON message per line, keyed by log_id)."""
    brokers: str = Field(min_length=1)
    """Bootstrap servers, `host:port[,host:port]`."""
    settings: dict[str, str] = Field(default_factory=dict)
    """Extra librdkafka producer settings (security.protocol, sasl.*…)."""


SinkSpec = Annotated[HttpSinkConfig | KafkaSinkConfig, Field(discriminator="type")]


class CopyConfig(ProcessorConfig):
    """Copy lines (usually with `if:`) to a second sink; the lines themselves continue unchanged."""

    type: Literal["copy"]
    to: SinkSpec
    """Where copies go: `{type: http, url: …}` or `{type: kafka, topic: …, brokers: …}`."""
    queue_lines: int = Field(100_000, ge=1)
    """Copies waiting to be sent at most; beyond it new copies are dropped and counted."""
    batch_lines: int = Field(1_000, ge=1)
    """Copies sent per request or per producer flush."""
    retries: int = Field(3, ge=0)
    """Attempts after the first before a batch of copies is given up (and counted as failed)."""

    def build(self, env: BuildEnv) -> Processor:
        if isinstance(self.to, KafkaSinkConfig):
            try:
                import confluent_kafka  # noqa: F401
            except ImportError:
                raise ProcessorBuildError("to", "the kafka copy sink needs `pip install 'logwarden[kafka]'`") from None
        return Copy(self)


class Copy(Processor):
    """Queues copies; a daemon thread delivers them."""

    def __init__(self, config: CopyConfig) -> None:
        self.config = config
        self.sent = 0
        self.failed = 0
        self.dropped = 0
        self._queue: collections.deque[tuple[str, bytes]] = collections.deque()
        self._cond = threading.Condition()
        self._closed = False
        self._thread = threading.Thread(target=self._run, name="lw-copy", daemon=True)
        self._thread.start()

    def process(self, batch: pa.Table) -> Processed:
        lines = list(zip(batch.column("log_id").to_pylist(), ndjson_lines(batch), strict=True))
        with self._cond:
            room = self.config.queue_lines - len(self._queue)
            if room < len(lines):
                self.dropped += len(lines) - max(room, 0)
                lines = lines[: max(room, 0)]
            self._queue.extend(lines)
            self._cond.notify()
        return Processed(batch)

    def close(self) -> None:
        """Deliver what is queued (for up to 5 s), then stop."""
        with self._cond:
            self._closed = True
            self._cond.notify()
        self._thread.join(timeout=10)

    def _run(self) -> None:
        send = self._http_sender() if isinstance(self.config.to, HttpSinkConfig) else self._kafka_sender()
        deadline: float | None = None
        while True:
            with self._cond:
                while not self._queue and not self._closed:
                    self._cond.wait()
                if self._closed and (not self._queue or (deadline and time.monotonic() > deadline)):
                    self.dropped += len(self._queue)
                    return
                if self._closed and deadline is None:
                    deadline = time.monotonic() + 5
                chunk = [self._queue.popleft() for _ in range(min(self.config.batch_lines, len(self._queue)))]
            for attempt in range(self.config.retries + 1):
                try:
                    send(chunk)
                    self.sent += len(chunk)
                    break
                except Exception as exc:
                    if attempt == self.config.retries:
                        self.failed += len(chunk)
                        log.warning("copy to %s failed, %d lines given up: %s", self._target(), len(chunk), exc)
                    else:
                        time.sleep(min(0.2 * 2**attempt, 2.0))

    def _target(self) -> str:
        to = self.config.to
        return to.url if isinstance(to, HttpSinkConfig) else f"kafka topic {to.topic}"

    def _http_sender(self) -> Any:
        to = self.config.to
        assert isinstance(to, HttpSinkConfig)
        headers = {k: v.get_secret_value() for k, v in to.headers.items()}
        headers.setdefault("Content-Type", "application/x-ndjson")
        client = httpx.Client(timeout=to.timeout.total_seconds(), headers=headers)

        def send(chunk: list[tuple[str, bytes]]) -> None:
            response = client.post(to.url, content=b"\n".join(line for _, line in chunk) + b"\n")
            if response.status_code >= 300:
                raise RuntimeError(f"HTTP {response.status_code}: {response.text[:200]}")

        return send

    def _kafka_sender(self) -> Any:
        from confluent_kafka import Producer

        to = self.config.to
        assert isinstance(to, KafkaSinkConfig)
        producer = Producer({"bootstrap.servers": to.brokers, "enable.idempotence": True, **to.settings})

        def send(chunk: list[tuple[str, bytes]]) -> None:
            errors: list[str] = []

            def delivered(err: Any, _msg: Any) -> None:
                if err is not None:
                    errors.append(str(err))

            for key, line in chunk:
                producer.produce(to.topic, line, key=key, on_delivery=delivered)
            remaining = producer.flush(30)
            if remaining or errors:
                raise RuntimeError(errors[0] if errors else f"{remaining} copies not delivered in 30 s")

        return send


def ndjson_lines(batch: pa.Table) -> list[bytes]:
    """Each line of a wide batch as one JSON object (core fields, `attrs` as an object)."""
    core = pack(batch.select([c for c in batch.column_names if c != "__row"]))
    iso = "%Y-%m-%dT%H:%M:%SZ"
    columns = {
        name: pc.strftime(core.column(name), iso) if name in ("ts", "observed_ts") else core.column(name)
        for name in ("ts", "observed_ts", "tenant", "service", "host", "level", "message", "trace_id", "span_id")
    }
    columns.update({name: core.column(name) for name in ("source", "log_id")})
    objects = encode_objects({k: v.combine_chunks() for k, v in columns.items()}, core.num_rows)
    attrs = core.column("attrs").combine_chunks()
    with_attrs = pc.binary_join_element_wise(pc.utf8_slice_codeunits(objects, 0, -1), ',"attrs":', attrs, "}", "")
    texts = pc.coalesce(with_attrs, objects)
    return [t.encode() for t in texts.to_pylist()]


__all__ = ["CONFIGS", "Copy", "CopyConfig", "ndjson_lines"]

CONFIGS = (CopyConfig,)
