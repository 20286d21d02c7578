"""decode_messages: Kafka message batches → record tables with kafka.* columns, and dead letters."""

from __future__ import annotations

from datetime import UTC, datetime

import orjson
import pyarrow as pa

from logwarden.ingest.kafka.decode import DEAD_LETTER_PREFIX_BYTES, FetchedBatch, decode_messages
from logwarden.ingest.sink import to_core_batch
from logwarden.model.normalize import BatchContext

NOW = datetime(2026, 11, 21, 12, 0, tzinfo=UTC)
KAFKA_MS = int(datetime(2026, 11, 21, 11, 0, tzinfo=UTC).timestamp() * 1000)
CTX = BatchContext("default", "kafka", NOW)


def batch(*values: bytes | None, topic: str = "logs", partition: int = 0, first_offset: int = 0) -> FetchedBatch:
    n = len(values)
    return FetchedBatch(
        list(values),
        [topic] * n,
        [partition] * n,
        list(range(first_offset, first_offset + n)),
        [None] * n,
        [KAFKA_MS] * n,
        [None] * n,
    )


def stored(b: FetchedBatch, fmt: str = "json", *, metadata: bool = True, max_bytes: int = 1 << 20) -> list[dict]:
    """The core rows (attrs parsed) that the sink would store for this batch."""
    table = to_core_batch(decode_messages(b, fmt, metadata=metadata, max_message_bytes=max_bytes), CTX).table
    rows = table.to_pylist()
    for row in rows:
        row["attrs"] = orjson.loads(row["attrs"]) if row["attrs"] else {}
    return rows


def test_one_object_per_message_with_metadata_in_attrs() -> None:
    b = batch(b'{"msg": "a", "level": "error"}', b'{"msg": "b", "user": "ann"}', first_offset=40)
    b.keys = [b"k1", None]
    b.headers = [[("trace", b"t1"), ("empty", None)], None]
    rows = stored(b)
    assert [r["message"] for r in rows] == ["a", "b"]
    assert rows[0]["level"] == "ERROR"
    assert rows[0]["attrs"] == {
        "kafka.topic": "logs",
        "kafka.partition": 0,
        "kafka.offset": 40,
        "kafka.key": "k1",
        "kafka.header.trace": "t1",
    }
    assert rows[1]["attrs"] == {"user": "ann", "kafka.topic": "logs", "kafka.partition": 0, "kafka.offset": 41}


def test_ndjson_messages_and_blank_lines_keep_each_line_with_its_message() -> None:
    b = batch(b'{"msg": "a1"}\n{"msg": "a2"}\n', b"\n  \n", b'{"msg": "c1"}\r\n\r\n{"msg": "c2"}', b'{"msg": "d"}')
    rows = stored(b)
    assert [(r["message"], r["attrs"]["kafka.offset"]) for r in rows] == [
        ("a1", 0),
        ("a2", 0),
        ("c1", 2),
        ("c2", 2),
        ("d", 3),
    ]


def test_bad_lines_are_dead_lettered_with_their_position_and_the_rest_keep_theirs() -> None:
    b = batch(
        b'{"msg": "ok 0"}',
        b'{"msg": broken',
        b'{"msg": "ok 2"}\n42\n{"msg": "ok 2b"}',
        b"[1, 2]",
        b'{"msg": "ok 4 \xff"}',
        b'{"msg": "ok 5"}',
        partition=3,
        first_offset=100,
    )
    rows = stored(b)
    good = [(r["message"], r["attrs"]["kafka.offset"]) for r in rows if r["source"] == "kafka"]
    assert good == [("ok 0", 100), ("ok 2", 102), ("ok 2b", 102), ("ok 5", 105)]
    letters = {r["message"]: r["attrs"]["error"] for r in rows if r["source"] == "dead_letter"}
    assert set(letters) == {'{"msg": broken', "42", "[1, 2]", '{"msg": "ok 4 \ufffd"}'}
    assert letters['{"msg": broken'].startswith("invalid JSON") and letters['{"msg": broken'].endswith(
        "(kafka logs[3]@101)"
    )
    assert letters["42"] == "message is JSON but not an object (kafka logs[3]@102)"
    assert letters["[1, 2]"] == "message is JSON but not an object (kafka logs[3]@103)"
    assert "(kafka logs[3]@104)" in letters['{"msg": "ok 4 \ufffd"}']


def test_a_batch_of_one_json_array_message_is_not_expanded() -> None:
    rows = stored(batch(b'[{"msg": "x"}, {"msg": "y"}]'))
    assert [(r["source"], r["message"]) for r in rows] == [("dead_letter", '[{"msg": "x"}, {"msg": "y"}]')]


def test_tombstones_are_skipped_and_oversized_messages_dead_lettered_with_a_prefix() -> None:
    big = b'{"msg": "' + b"x" * (2 * DEAD_LETTER_PREFIX_BYTES) + b'"}'
    rows = stored(batch(None, big, b'{"msg": "small"}', first_offset=7), max_bytes=1000)
    assert [(r["message"], r["attrs"]["kafka.offset"]) for r in rows if r["source"] == "kafka"] == [("small", 9)]
    [letter] = [r for r in rows if r["source"] == "dead_letter"]
    assert len(letter["message"]) == DEAD_LETTER_PREFIX_BYTES
    assert letter["attrs"]["error"] == (f"message of {len(big)} bytes exceeds ingest.max_line_bytes (kafka logs[0]@8)")
    assert stored(batch(None, None)) == []


def test_kafka_timestamp_stands_in_only_for_records_without_their_own_time() -> None:
    rows = stored(
        batch(b'{"msg": "no ts"}', b'{"msg": "own", "ts": "2026-11-21T10:30:00Z"}', b'{"msg": "x", "time": 1}')
    )
    kafka_time = datetime.fromtimestamp(KAFKA_MS / 1000, UTC)
    assert rows[0]["ts"] == kafka_time
    assert rows[1]["ts"] == datetime(2026, 11, 21, 10, 30, tzinfo=UTC)
    assert rows[2]["ts"] == datetime.fromtimestamp(1, UTC)  # its own epoch seconds
    assert all("@timestamp" not in r["attrs"] and "time" not in r["attrs"] for r in rows)
    # Three of the four aliases in the batch: the fourth carries the Kafka time where none is set.
    mixed = stored(batch(b'{"ts": "2026-11-21T10:00:00Z"}', b'{"timestamp": 1}', b'{"time": 2}', b'{"msg": "none"}'))
    assert [r["ts"] for r in mixed] == [
        datetime(2026, 11, 21, 10, 0, tzinfo=UTC),
        datetime.fromtimestamp(1, UTC),
        datetime.fromtimestamp(2, UTC),
        kafka_time,
    ]
    assert all(set(r["attrs"]) == {"kafka.topic", "kafka.partition", "kafka.offset"} for r in mixed)  # no leftovers
    # No timestamp from Kafka (type NOT_AVAILABLE): the receive time, as for any other source.
    b = batch(b'{"msg": "no ts"}')
    b.timestamps = [None]
    assert stored(b)[0]["ts"] == NOW


def test_metadata_can_be_left_out() -> None:
    rows = stored(batch(b'{"msg": "a", "k": 1}'), metadata=False)
    assert rows[0]["attrs"] == {"k": 1}
    assert rows[0]["ts"] == datetime.fromtimestamp(KAFKA_MS / 1000, UTC)


def test_a_records_own_kafka_fields_win() -> None:
    rows = stored(batch(b'{"msg": "a", "kafka.topic": "mine"}', b'{"msg": "b", "kafka": {"offset": -1}}'))
    assert rows[0]["attrs"]["kafka.topic"] == "mine"
    assert rows[1]["attrs"]["kafka.offset"] == -1 and rows[1]["attrs"]["kafka.topic"] == "logs"


def test_raw_messages_are_lines_as_sent() -> None:
    b = batch(
        b"GET /index.html 200",
        b"trailing newline\n",
        b"",
        b"\r\n",
        b"multi\nline\n",
        b'{"msg": "json kept as text"}',
        b"bad \xff utf8",
        b"last",
    )
    b.keys = [b"web-1"] + [None] * 7
    rows = stored(b, "raw")
    good = [(r["message"], r["attrs"]["kafka.offset"]) for r in rows if r["source"] == "kafka"]
    assert good == [
        ("GET /index.html 200", 0),
        ("trailing newline", 1),
        ("multi\nline", 4),
        ('{"msg": "json kept as text"}', 5),
        ("last", 7),
    ]
    assert rows[0]["attrs"]["kafka.key"] == "web-1" and rows[0]["ts"] == datetime.fromtimestamp(KAFKA_MS / 1000, UTC)
    [letter] = [r for r in rows if r["source"] == "dead_letter"]
    assert letter["message"] == "bad \ufffd utf8"
    assert letter["attrs"]["error"] == "message is not valid UTF-8 (kafka logs[0]@6)"


def test_large_batches_stay_on_the_vectorized_path() -> None:
    n = 20_000
    values = [orjson.dumps({"msg": f"line {i}", "i": i}) for i in range(n)]
    decoded = decode_messages(batch(*values), "json", metadata=True, max_message_bytes=1 << 20)
    assert decoded.rejected == []
    assert decoded.records is not None and decoded.records.num_rows == n
    offsets = decoded.records.column("kafka.offset")
    assert offsets.type == pa.int64() and offsets.to_pylist() == decoded.records.column("i").to_pylist()
