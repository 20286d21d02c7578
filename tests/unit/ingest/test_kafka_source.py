"""KafkaSource without a broker: bad librdkafka settings stop the start, a poisonous message is isolated."""

from __future__ import annotations

import math
from collections.abc import AsyncIterator, Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from pathlib import Path

import orjson
import pytest
from starlette.testclient import TestClient

from logwarden.api.app import create_app
from logwarden.ingest.kafka.decode import FetchedBatch
from logwarden.ingest.kafka.source import KafkaSource, KafkaSourceError, _Batch
from logwarden.ingest.ndjson import DecodedBody
from logwarden.ingest.sink import IngestResult, IngestSink
from logwarden.model.normalize import BatchContext
from logwarden.store.base import SearchQuery
from logwarden.store.duckdb import DuckDBStore
from logwarden.telemetry.metrics import Metrics
from tests.conftest import make_config

ALL_TIME = (datetime(2000, 1, 1, tzinfo=UTC), datetime(2100, 1, 1, tzinfo=UTC))


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        ({"consumer": {"no.such.property": "1"}}, r"invalid kafka settings: .*no\.such\.property"),
        ({"topics": ["^[unclosed"]}, r"cannot subscribe to kafka\.topics \['\^\[unclosed'\]"),
    ],
)
def test_settings_librdkafka_refuses_stop_the_start_with_a_clear_error(
    tmp_path: Path, settings: dict[str, object], message: str
) -> None:
    config = make_config(tmp_path, kafka={"enabled": True, "topics": ["logs"], **settings})
    app = create_app(config, run_maintenance=False)
    with pytest.raises(KafkaSourceError, match=message), TestClient(app):
        pass


class PoisonSink(IngestSink):
    """The real sink and store, except that decoding a batch holding "poison" raises (a decoder bug)."""

    calls = 0

    async def ingest(self, decode: Callable[[], DecodedBody], ctx: BatchContext, raw_bytes: int) -> IngestResult:
        self.calls += 1
        decoded = decode()
        if decoded.records is not None and "poison" in str(decoded.records.column("msg").to_pylist()):
            raise ValueError("decoder bug")
        return await super().ingest(lambda: decoded, ctx, raw_bytes)


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[DuckDBStore]:
    s = DuckDBStore(make_config(tmp_path))
    yield s
    await s.close()


async def test_a_message_that_breaks_the_batch_is_isolated_and_dead_lettered(
    tmp_path: Path, store: DuckDBStore
) -> None:
    config = make_config(tmp_path, kafka={"topics": ["logs"]})
    n, poisoned = 1000, 637
    values: list[bytes | None] = [orjson.dumps({"msg": "poison" if i == poisoned else f"line {i}"}) for i in range(n)]
    messages = FetchedBatch(values, ["logs"] * n, [0] * n, list(range(n)), [None] * n, [None] * n, [None] * n)
    with ThreadPoolExecutor(2) as pool:
        sink = PoisonSink(store, Metrics(), pool)
        source = KafkaSource(config.kafka, config.ingest)
        source._sink = sink  # driven without a consumer: only the store path is under test
        assert await source._store(_Batch(messages, {("logs", 0): n}, {}))
        source._thread.shutdown()
    result = await store.search(SearchQuery("default", *ALL_TIME, limit=10_000))
    by_source: dict[str, list[dict]] = {}
    for hit in result.hits:
        by_source.setdefault(hit["source"], []).append(hit)
    assert len(by_source["kafka"]) == n - 1
    [letter] = by_source["dead_letter"]
    assert letter["message"] == '{"msg":"poison"}'
    assert "could not be ingested: ValueError('decoder bug') (kafka logs[0]@637)" in letter["attrs"]["error"]
    # Halving finds the message in about two sink calls per level, not one call per message.
    assert sink.calls <= 2 * math.ceil(math.log2(n)) + 2
