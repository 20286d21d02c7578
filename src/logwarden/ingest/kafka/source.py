"""KafkaSource: consume a batch → store it durably → commit exactly its offsets → consume the next.

Every librdkafka call (consume, commit, pause, close, and so the rebalance callbacks that run inside
consume) happens on one dedicated thread, never on the event loop. Offsets are committed explicitly
and synchronously, only after the sink has returned, so a crash re-reads at most the batch in flight.
When the store is behind or failing, the batch is kept, the partitions are paused (consume keeps being
called, so the group membership lives) and the same batch is stored again after `retry_backoff`.
A batch the decoder or normalizer chokes on is split in halves until the offending message is alone;
that message goes to the dead-letter stream, so one bad message never stalls the partition.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import time
from collections import deque
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, TypeVar

from logwarden.config.model import IngestConfig
from logwarden.config.sources.kafka import KafkaConfig, kafka_client_installed
from logwarden.ingest.kafka.decode import FetchedBatch, decode_messages
from logwarden.ingest.kafka.offsets import OffsetTracker, TopicPartition
from logwarden.ingest.ndjson import DecodedBody
from logwarden.ingest.sink import IngestSink
from logwarden.model.normalize import BatchContext
from logwarden.model.tenants import is_tenant
from logwarden.store.base import StoreError
from logwarden.threads import name_current_thread

log = logging.getLogger(__name__)
T = TypeVar("T")

SOURCE = "kafka"
# The same librdkafka complaint (broker down, unknown topic) is logged at most this often.
_REPEAT_LOG_SECONDS = 60.0
_LIBRDKAFKA_LOG = logging.getLogger("logwarden.ingest.kafka.librdkafka")
# The start-up check's own consumer: a broker that is down is reported by the running source, not twice.
_QUIET_LOG = logging.getLogger("logwarden.ingest.kafka.check")
_QUIET_LOG.addHandler(logging.NullHandler())
_QUIET_LOG.propagate = False
# Consumer lag is recomputed at most this often (from cached watermarks: no broker round trip).
_LAG_INTERVAL_SECONDS = 1.0


class KafkaSourceError(Exception):
    """The Kafka consumer cannot be created (a librdkafka setting is invalid, the client is missing)."""


@dataclass(slots=True)
class KafkaSourceStats:
    """Counters of one source's life (the lines themselves are counted per source by the sink's metrics)."""

    batches: int = 0
    messages: int = 0
    commits: int = 0
    commit_failures: int = 0
    store_retries: int = 0
    bisections: int = 0
    # (topic, partition) → messages in the partition after the last committed (else fetched) offset;
    # replaced whole by the consumer thread, read at scrape time.
    lag: dict[tuple[str, int], int] = field(default_factory=dict)


@dataclass(slots=True)
class _Batch:
    """Messages read by one consume call, with the next-offset per partition and the epochs it read under."""

    messages: FetchedBatch
    positions: dict[TopicPartition, int]
    claims: dict[TopicPartition, int]


@dataclass(slots=True)
class _Unit:
    """One sink call: messages of one tenant, or ready-made dead letters."""

    messages: FetchedBatch
    tenant: str
    dead_letters: list[tuple[str, str]] | None = None
    raw_bytes: int = field(default=0)


class _RateLimitedLog:
    def __init__(self) -> None:
        self._last: dict[str, float] = {}

    def warning(self, key: str, msg: str, *args: object) -> None:
        now = time.monotonic()
        if now - self._last.get(key, -_REPEAT_LOG_SECONDS) >= _REPEAT_LOG_SECONDS:
            self._last[key] = now
            log.warning(msg, *args)


class KafkaSource:
    """The `kafka` background source (see the module docstring for the guarantees)."""

    def __init__(self, config: KafkaConfig, ingest: IngestConfig, *, name: str = SOURCE) -> None:
        self.name = name
        self.config = config
        self.tenant = config.tenant or ingest.default_tenant
        self.stats = KafkaSourceStats()
        self._max_message_bytes = ingest.max_line_bytes
        self._max_depth = ingest.max_json_depth
        self._thread = ThreadPoolExecutor(
            1, thread_name_prefix="logwarden-kafka", initializer=name_current_thread, initargs=("lw-kafka",)
        )
        self._tracker = OffsetTracker()
        self._consumer: Any = None
        self._sink: IngestSink | None = None
        self._task: asyncio.Task[None] | None = None
        self._stopping = False
        self._carried: deque[_Batch] = deque()  # read while paused: stored next, in order
        self._holding = False  # a batch waits for the store, its partitions paused
        self._log = _RateLimitedLog()
        self._want_headers = config.metadata or config.tenant_header is not None
        self._committed: dict[TopicPartition, int] = {}  # last committed next-offset per owned partition
        self._next_lag_at = 0.0

    # --- lifecycle (event loop) ----------------------------------------------------------

    async def start(self, sink: IngestSink) -> None:
        """Create the consumer and subscribe; consumption runs in a task until `stop`."""
        self._sink = sink
        try:
            self._consumer = await self._call(self._create_consumer)
        except KafkaSourceError as exc:
            log.error("kafka source %s cannot start: %s", self.name, exc)
            self._thread.shutdown(wait=False)
            raise
        self._task = asyncio.create_task(self._run(), name=f"logwarden-kafka-{self.name}")
        log.info(
            "kafka source %s consuming %s from %s as group %s",
            self.name,
            ", ".join(self.config.topics),
            self.config.bootstrap_servers,
            self.config.group_id,
        )

    async def stop(self) -> None:
        """Finish the batch in flight (stored and committed, unless the store refuses it), leave the group."""
        self._stopping = True
        if self._task is not None:
            await self._task
            self._task = None
        if self._consumer is not None:
            await self._call(self._close_consumer)
            self._consumer = None
        self._thread.shutdown(wait=True)

    async def _call(self, fn: Callable[..., T], *args: Any) -> T:
        return await asyncio.get_running_loop().run_in_executor(self._thread, functools.partial(fn, *args))

    # --- the loop (event loop) -----------------------------------------------------------

    async def _run(self) -> None:
        wait = self.config.batch_wait.total_seconds()
        backoff = self.config.retry_backoff.total_seconds()
        while not self._stopping:
            try:
                batch = self._carried.popleft() if self._carried else await self._call(self._fetch, wait)
                if batch is None:
                    continue
                if not await self._store(batch):
                    return  # stopping while the store refuses the batch: it stays uncommitted
                await self._call(self._commit_stored, batch)
            except asyncio.CancelledError:
                raise
            except Exception:
                # Nothing was committed for the batch at hand; it is read again after a restart.
                log.exception("kafka source %s: unexpected error; continuing in %.1fs", self.name, backoff)
                await asyncio.sleep(backoff)

    async def _store(self, batch: _Batch) -> bool:
        """Store every line of `batch`; False when stopping before the store took all of it."""
        units = deque(self._units(batch.messages))
        backoff = self.config.retry_backoff.total_seconds()
        paused = False
        try:
            while units:
                unit = units[0]
                try:
                    await self._ingest(unit)
                    units.popleft()
                    continue
                except StoreError as exc:
                    refused: Exception = exc
                except Exception as exc:
                    if unit.dead_letters is None:
                        units.popleft()
                        units.extendleft(reversed(self._isolate(unit, exc)))
                        continue
                    refused = exc  # not even a dead letter goes in: the store is at fault, not a message
                # The store is behind or failing: keep the batch, hold the partitions, try again.
                if self._stopping:
                    log.info("kafka source %s stopping with a batch the store did not take: %s", self.name, refused)
                    return False
                self.stats.store_retries += 1
                self._log.warning(
                    "store",
                    "kafka source %s: store refused a batch (%s); paused, retrying every %.1fs",
                    self.name,
                    refused,
                    backoff,
                )
                if not paused:
                    await self._call(self._pause_owned)
                    paused = self._holding = True
                await self._call(self._keep_alive, backoff)
            self.stats.batches += 1
            self.stats.messages += len(batch.messages)
            return True
        finally:
            self._holding = False
            if paused and not self._stopping:
                await self._call(self._resume_owned)

    def _units(self, messages: FetchedBatch) -> list[_Unit]:
        """One unit per tenant (in order of first appearance), plus the dead letters of bad tenant names."""
        header = self.config.tenant_header
        if header is None:
            return [_Unit(messages, self.tenant, raw_bytes=messages.value_bytes)]
        by_tenant: dict[str, list[int]] = {}
        bad: list[tuple[str, str]] = []
        for i, headers in enumerate(messages.headers):
            value = next((v for k, v in headers or () if k == header), None)
            tenant = self.tenant
            if value:
                text = value.decode("utf-8", "replace")
                if not is_tenant(text):
                    raw = messages.values[i] or b""
                    bad.append(
                        (
                            raw.decode("utf-8", "replace"),
                            f"invalid tenant {text!r} in header {header} ({messages.where(i)})",
                        )
                    )
                    continue
                tenant = text
            by_tenant.setdefault(tenant, []).append(i)
        units = []
        for tenant, indices in by_tenant.items():
            part = messages if len(indices) == len(messages) else messages.take(indices)
            units.append(_Unit(part, tenant, raw_bytes=part.value_bytes))
        if bad:
            units.append(_Unit(FetchedBatch(), self.tenant, bad))
        return units

    def _isolate(self, unit: _Unit, exc: Exception) -> list[_Unit]:
        """Split a unit that failed for a reason other than the store, down to the message at fault."""
        self.stats.bisections += 1
        messages = unit.messages
        if len(messages) > 1:
            half = len(messages) // 2
            first = messages.take(list(range(half)))
            second = messages.take(list(range(half, len(messages))))
            return [
                _Unit(first, unit.tenant, raw_bytes=first.value_bytes),
                _Unit(second, unit.tenant, raw_bytes=second.value_bytes),
            ]
        log.warning(
            "kafka source %s: %s could not be ingested (%r); stored as a dead letter", self.name, messages.where(0), exc
        )
        raw = (messages.values[0] or b"").decode("utf-8", "replace")
        return [_Unit(messages, unit.tenant, [(raw, f"could not be ingested: {exc!r} ({messages.where(0)})")])]

    async def _ingest(self, unit: _Unit) -> None:
        assert self._sink is not None
        ctx = BatchContext(
            tenant=unit.tenant,
            source=SOURCE,
            received=datetime.now(UTC),
            default_service=self.config.default_service,
            default_host=self.config.default_host,
        )
        decode: Callable[[], DecodedBody]
        if unit.dead_letters is not None:
            decode = functools.partial(DecodedBody, None, list(unit.dead_letters))
        else:
            decode = functools.partial(
                decode_messages,
                unit.messages,
                self.config.format,
                metadata=self.config.metadata,
                max_message_bytes=self._max_message_bytes,
                max_depth=self._max_depth,
            )
        await self._sink.ingest(decode, ctx, unit.raw_bytes)

    # --- librdkafka calls (consumer thread) ----------------------------------------------

    def _create_consumer(self) -> Any:
        consumer = _new_consumer(self.config, _LIBRDKAFKA_LOG, error_cb=self._on_client_error)
        try:
            _subscribe(
                consumer, self.config, on_assign=self._on_assign, on_revoke=self._on_revoke, on_lost=self._on_lost
            )
        except KafkaSourceError:
            consumer.close()
            raise
        return consumer

    def _close_consumer(self) -> None:
        # Leaves the group (the revoke callback commits what is stored and not yet committed).
        self._consumer.close()

    def _fetch(self, wait: float) -> _Batch | None:
        messages = self._consumer.consume(self.config.batch_max_messages, wait)
        self._update_lag()
        if not messages:
            if self._tracker.to_commit():
                self._commit()  # an earlier commit failed: try again while idle
            return None
        return self._collect(messages)

    def _collect(self, messages: list[Any]) -> _Batch | None:
        batch = FetchedBatch()
        positions: dict[TopicPartition, int] = {}
        want_headers = self._want_headers
        for m in messages:
            err = m.error()
            if err is not None:
                self._on_message_error(err)
                continue
            topic, partition, offset = m.topic(), m.partition(), m.offset()
            batch.values.append(m.value())
            batch.topics.append(topic)
            batch.partitions.append(partition)
            batch.offsets.append(offset)
            batch.keys.append(m.key())
            kind, ts = m.timestamp()
            batch.timestamps.append(ts if kind else None)
            batch.headers.append(m.headers() if want_headers else None)
            positions[(topic, partition)] = offset + 1
        if not positions:
            return None
        return _Batch(batch, positions, self._tracker.claims(positions))

    def _commit_stored(self, batch: _Batch) -> None:
        self._tracker.stored(batch.positions, batch.claims)
        self._commit()

    def _commit(self) -> None:
        from confluent_kafka import KafkaException, TopicPartition

        offsets = self._tracker.to_commit()
        if not offsets:
            return
        try:
            result = self._consumer.commit(
                offsets=[TopicPartition(t, p, o) for (t, p), o in offsets.items()], asynchronous=False
            )
        except KafkaException as exc:
            self.stats.commit_failures += 1
            self._log.warning(
                "commit", "kafka source %s: commit failed (%s); retrying with the next batch", self.name, exc
            )
            return
        done = {}
        for tp in result or ():
            if tp.error is None:
                done[(tp.topic, tp.partition)] = offsets[(tp.topic, tp.partition)]
                self._committed[(tp.topic, tp.partition)] = offsets[(tp.topic, tp.partition)]
            else:
                self.stats.commit_failures += 1
                self._log.warning(
                    "commit",
                    "kafka source %s: commit of %s[%d] failed: %s",
                    self.name,
                    tp.topic,
                    tp.partition,
                    tp.error,
                )
        self._tracker.committed(done)
        self.stats.commits += 1

    def _pause_owned(self) -> None:
        self._pause(self._tracker.owned)

    def _resume_owned(self) -> None:
        from confluent_kafka import TopicPartition

        owned = self._tracker.owned
        if owned:
            self._consumer.resume([TopicPartition(t, p) for t, p in owned])

    def _pause(self, partitions: list[TopicPartition]) -> None:
        from confluent_kafka import TopicPartition

        if partitions:
            self._consumer.pause([TopicPartition(t, p) for t, p in partitions])

    def _keep_alive(self, wait: float) -> None:
        """Call consume while paused (the group drops a member that stops calling it); whatever arrives
        (a partition assigned meanwhile) is kept for later and its partition paused too."""
        messages = self._consumer.consume(self.config.batch_max_messages, wait)
        self._update_lag()
        batch = self._collect(messages) if messages else None
        if batch is not None:
            self._carried.append(batch)
            self._pause(list(batch.positions))

    def _update_lag(self) -> None:
        """Recompute `stats.lag` for the owned partitions: high watermark minus the committed offset (the
        fetch position before the first commit), from the watermarks librdkafka caches from its fetches."""
        now = time.monotonic()
        if now < self._next_lag_at:
            return
        self._next_lag_at = now + _LAG_INTERVAL_SECONDS
        from confluent_kafka import KafkaException, TopicPartition

        owned = self._tracker.owned
        lag: dict[tuple[str, int], int] = {}
        try:
            positions = self._consumer.position([TopicPartition(t, p) for t, p in owned]) if owned else []
        except KafkaException as exc:
            self._log.warning("lag", "kafka source %s: cannot compute consumer lag: %s", self.name, exc)
            return
        for tp in positions:
            key = (tp.topic, tp.partition)
            done = self._committed.get(key, tp.offset)
            try:
                marks = self._consumer.get_watermark_offsets(TopicPartition(tp.topic, tp.partition), cached=True)
            except KafkaException:
                continue  # nothing fetched from this partition yet
            if marks is not None and done >= 0 and marks[1] >= 0:  # negative: librdkafka knows no offset yet
                lag[key] = max(0, marks[1] - done)
        self.stats.lag = lag

    # --- librdkafka callbacks (consumer thread, inside consume/close) ---------------------

    def _on_assign(self, consumer: Any, partitions: list[Any]) -> None:
        self._tracker.assigned((tp.topic, tp.partition) for tp in partitions)
        log.info("kafka source %s assigned %s", self.name, _describe(partitions))

    def _on_revoke(self, consumer: Any, partitions: list[Any]) -> None:
        revoked = [(tp.topic, tp.partition) for tp in partitions]
        # Still the owner during the callback: commit what is stored before letting go.
        if any(tp in self._tracker.to_commit() for tp in revoked):
            self._commit()
        self._tracker.revoked(revoked)
        self._forget(revoked)
        if self._holding:
            log.info(
                "kafka source %s revoked %s while holding a batch for the store: its offsets will not be committed, "
                "whoever owns the partitions next reads it again",
                self.name,
                _describe(partitions),
            )
        else:
            log.info("kafka source %s revoked %s", self.name, _describe(partitions))

    def _on_lost(self, consumer: Any, partitions: list[Any]) -> None:
        self._tracker.revoked((tp.topic, tp.partition) for tp in partitions)
        self._forget([(tp.topic, tp.partition) for tp in partitions])
        log.warning("kafka source %s lost %s (the group moved on without us)", self.name, _describe(partitions))

    def _forget(self, partitions: list[TopicPartition]) -> None:
        for tp in partitions:
            self._committed.pop(tp, None)
        self.stats.lag = {tp: n for tp, n in self.stats.lag.items() if tp not in partitions}

    def _on_client_error(self, err: Any) -> None:
        if err.fatal():
            log.error("kafka source %s: fatal consumer error: %s", self.name, err.str())
        else:
            self._log.warning(f"client:{err.code()}", "kafka source %s: %s", self.name, err.str())

    def _on_message_error(self, err: Any) -> None:
        self._log.warning(f"message:{err.code()}", "kafka source %s: %s", self.name, err.str())


def check_consumer_settings(config: KafkaConfig) -> None:
    """KafkaSourceError with librdkafka's own message when it refuses `config`'s consumer settings (an
    unknown property, an invalid value, a topic pattern that is not a regular expression). Nothing waits
    for a broker, so this is cheap and runs at start, before the server binds its port."""
    consumer = _new_consumer(config, _QUIET_LOG)
    try:
        _subscribe(consumer, config)
    finally:
        consumer.close()


def _new_consumer(config: KafkaConfig, logger: logging.Logger, **callbacks: Any) -> Any:
    if not kafka_client_installed():
        raise KafkaSourceError("the Kafka source needs the confluent-kafka package: pip install 'logwarden[kafka]'")
    from confluent_kafka import Consumer, KafkaException

    settings: dict[str, Any] = {**config.librdkafka_settings(), **callbacks}
    try:
        return Consumer(settings, logger=logger)
    except KafkaException as exc:
        raise KafkaSourceError(f"invalid kafka settings: {exc.args[0].str()}") from None
    except (TypeError, ValueError) as exc:
        raise KafkaSourceError(f"invalid kafka settings: {exc}") from None


def _subscribe(consumer: Any, config: KafkaConfig, **callbacks: Any) -> None:
    """Subscribe to `config.topics`; KafkaSourceError with librdkafka's reason when it refuses."""
    from confluent_kafka import KafkaException

    try:
        consumer.subscribe(list(config.topics), **callbacks)
    except KafkaException as exc:
        raise KafkaSourceError(f"cannot subscribe to kafka.topics {config.topics}: {exc.args[0].str()}") from None


def _describe(partitions: list[Any]) -> str:
    return ", ".join(f"{tp.topic}[{tp.partition}]" for tp in partitions) or "nothing"
