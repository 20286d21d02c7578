"""The output behind `copy` steps: a lossless bus subscriber shipping the rows marked for it.

Each durable batch is filtered to the rows its steps marked (vectorized), encoded as NDJSON and sent in
chunks of `batch_lines`. A chunk that fails raises, and the bus hands the batch again after a pause; the
chunks of that batch already delivered are not sent again, so only a crash can repeat lines (at most the
last moments before it, since the bus commits the cursor every fraction of a second). Every line carries
its `log_id`; HTTP requests carry an `Idempotency-Key` of output, batch and chunk, and Kafka messages are
keyed by `log_id`, so receivers can drop such repeats.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

import httpx

from logwarden.bus.base import BusBatch
from logwarden.pipeline.copy import CopyConfig, HttpSinkConfig, KafkaSinkConfig, marked_for, ndjson_lines, stats_for

log = logging.getLogger(__name__)

Sender = Callable[[list[tuple[str, bytes]], str], None]  # (log_id, line) pairs, idempotency key


class CopyOutput:
    """Ships the rows marked for `config.output_name` from every durable batch."""

    def __init__(self, config: CopyConfig) -> None:
        self.config = config
        self.name = config.output_name
        self.stats = stats_for(self.name)
        self._send: Sender | None = None
        self._close: Callable[[], None] = lambda: None
        self._done: tuple[int, int] = (0, 0)  # (seq, chunks of it delivered): a retried batch skips them

    def handle(self, batch: BusBatch) -> None:
        mask = marked_for(batch.table, self.name)
        rows = batch.table.filter(mask) if batch.table.num_rows else batch.table
        if rows.num_rows == 0:
            return
        if self._send is None:
            self._send, self._close = self._sender()
        ids = rows.column("log_id").to_pylist()
        lines = list(zip(ids, ndjson_lines(rows), strict=True))
        step = self.config.batch_lines
        chunks = [lines[i : i + step] for i in range(0, len(lines), step)]
        skip = self._done[1] if self._done[0] == batch.seq else 0
        for index in range(skip, len(chunks)):
            chunk = chunks[index]
            try:
                self._send(chunk, f"{self.name}:{batch.seq}:{index}")
            except Exception as exc:
                self.stats.failed += len(chunk)
                raise CopyDeliveryError(f"copy to {self._target()} failed: {exc}") from exc
            self.stats.sent += len(chunk)
            self._done = (batch.seq, index + 1)

    def close(self) -> None:
        self._close()

    def _target(self) -> str:
        to = self.config.to
        return to.url if isinstance(to, HttpSinkConfig) else f"kafka topic {to.topic}"

    def _sender(self) -> tuple[Sender, Callable[[], None]]:
        to = self.config.to
        if isinstance(to, HttpSinkConfig):
            return _http_sender(to)
        return _kafka_sender(to)


class CopyDeliveryError(Exception):
    """A chunk of copies was not accepted; the bus retries the batch."""


def _http_sender(to: HttpSinkConfig) -> tuple[Sender, Callable[[], None]]:
    headers = {k: v.get_secret_value() for k, v in to.headers.items()}
    headers.setdefault("Content-Type", "application/x-ndjson")
    client = httpx.Client(timeout=to.timeout.total_seconds(), headers=headers)

    def send(chunk: list[tuple[str, bytes]], key: str) -> None:
        body = b"\n".join(line for _, line in chunk) + b"\n"
        response = client.post(to.url, content=body, headers={"Idempotency-Key": key})
        if response.status_code >= 300:
            raise RuntimeError(f"HTTP {response.status_code}: {response.text[:200]}")

    return send, client.close


def _kafka_sender(to: KafkaSinkConfig) -> tuple[Sender, Callable[[], None]]:
    from confluent_kafka import Producer

    producer = Producer({"bootstrap.servers": to.brokers, "enable.idempotence": True, **to.settings})

    def send(chunk: list[tuple[str, bytes]], key: str) -> None:
        errors: list[str] = []

        def delivered(err: Any, _msg: Any) -> None:
            if err is not None:
                errors.append(str(err))

        for log_id, line in chunk:
            producer.produce(to.topic, line, key=log_id, on_delivery=delivered)
        remaining = producer.flush(30)
        if remaining or errors:
            raise RuntimeError(errors[0] if errors else f"{remaining} copies not delivered in 30 s")

    def close() -> None:
        producer.flush(10)

    return send, close


def copy_configs(pipelines: Any) -> dict[str, CopyConfig]:
    """The outputs a pipeline set's `copy` steps name, by output name (the first step's settings win)."""
    from logwarden.pipeline.copy import Copy

    found: dict[str, CopyConfig] = {}
    for pipeline in pipelines.pipelines:
        for step in pipeline.steps:
            if isinstance(step.processor, Copy):
                found.setdefault(step.processor.output, step.processor.config)
    return found


def _same(a: CopyConfig, b: CopyConfig) -> bool:
    return a.to == b.to and a.batch_lines == b.batch_lines


class CopyOutputs:
    """Keeps the bus's copy outputs in step with the running pipelines (start, reload)."""

    def __init__(self, bus: Any) -> None:
        self._bus = bus
        self._running: dict[str, CopyConfig] = {}

    def sync(self, pipelines: Any) -> None:
        """Add outputs new steps name, replace those whose settings changed, remove those no step names."""
        wanted = copy_configs(pipelines)
        for name in self._running.keys() - wanted.keys():
            log.info("copy output %s removed", name)
            self._bus.remove(name)
        for name, config in wanted.items():
            current = self._running.get(name)
            if current is None:
                self._bus.add(CopyOutput(config), lossless=True)
            elif not _same(current, config):
                log.info("copy output %s replaced (settings changed); it resumes at its cursor", name)
                self._bus.replace(CopyOutput(config))
        self._running = wanted

    @property
    def names(self) -> list[str]:
        return sorted(self._running)


__all__ = ["CopyDeliveryError", "CopyOutput", "CopyOutputs", "copy_configs"]
