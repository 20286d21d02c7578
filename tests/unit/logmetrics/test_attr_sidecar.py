"""Ingest leaves each batch's decoded attribute columns beside its `attrs` (query/batch_attrs.py
`ATTR_COLUMNS`); subscribers read them instead of parsing the JSON. What they read must be exactly what the JSON
gives: the same texts, the same filter matches, the same numbers and the same metric points — and a batch ingest
did not decode in this process (read back from the ingest log, or pushed out) is parsed as before. Nothing is
kept unless a subscriber that reads attributes wants it, and never more than the bound."""

from __future__ import annotations

import weakref
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import orjson
import pyarrow as pa
import pyarrow.compute as pc
import pytest

from logwarden.bus.base import BusBatch
from logwarden.config.logmetrics import MetricDefinition
from logwarden.ingest.ndjson import decode_json_body
from logwarden.ingest.sink import to_core_batch
from logwarden.logmetrics.aggregate import builtin_definitions
from logwarden.logmetrics.batch import MetricBatch
from logwarden.logmetrics.store import SeriesStore
from logwarden.logmetrics.subscriber import LogMetricsSubscriber
from logwarden.model.normalize import BatchContext, dead_letter
from logwarden.query.batch_attrs import (
    ATTR_COLUMNS,
    SHARED_TEXTS,
    AttrColumns,
    BatchAttributes,
    reads_attributes,
)
from logwarden.query.filter import compile_filter
from logwarden.rules.engine import RulesEngine
from logwarden.rules.types.threshold import ThresholdRule
from logwarden.store.arrival import with_seq

from .helpers import T0

RETENTION = [timedelta(days=d) for d in (15, 90, 730, 730)]

# Every kind of value a key may hold, and lines without it; `f` holds doubles the cast spells with an exponent.
LINES: list[dict[str, Any]] = [
    {"msg": "a", "i": 503, "f": 17.5, "b": True, "s": 'q"u\\o\nte é', "n": [1, 2], "o": {"k": "v"}},
    {"msg": "b", "i": -9007199254740993, "f": 100.0, "b": False, "s": "", "g": 0.1},
    {"msg": "c", "f": 1e20, "big": 18446744073709551615},
    {"msg": "d", "i": 0, "f": -0.0, "s": "plain", "g": 2.5},
    {"msg": "e"},
]
KEYS = ["i", "f", "b", "s", "n", "o.k", "g", "big", "absent", "msg"]


def ingested(seq: int, lines: list[dict[str, Any]]) -> pa.Table:
    """A stored batch as the bus hands it after ingest decoded it in this process."""
    body = b"\n".join(orjson.dumps(line) for line in lines)
    table = to_core_batch(decode_json_body(body), BatchContext("default", "http", T0)).table
    return with_seq(seq, table)


def read_back(table: pa.Table) -> pa.Table:
    """The same rows in other memory (as the ingest log gives them back after a restart)."""
    sink = pa.BufferOutputStream()
    with pa.ipc.new_stream(sink, table.schema) as writer:
        writer.write_table(table)
    return pa.ipc.open_stream(sink.getvalue()).read_all()


class Reader:
    """Stands for a subscriber that reads attributes (readers are held weakly)."""


@pytest.fixture
def fresh() -> Iterator[None]:
    SHARED_TEXTS.clear()
    ATTR_COLUMNS.clear()
    yield
    SHARED_TEXTS.clear()
    ATTR_COLUMNS.clear()


@pytest.fixture(autouse=True)
def reader(fresh: None) -> Iterator[Reader]:
    """A subscriber reading attributes is registered: ingest keeps the columns (tests of the policy drop it)."""
    found = Reader()
    ATTR_COLUMNS.want(found)
    yield found
    ATTR_COLUMNS.want(found, False)


def parsed(table: pa.Table) -> BatchAttributes:
    """A reader of `table` that has no decoded columns to read: it parses the JSON."""
    ATTR_COLUMNS.clear()
    SHARED_TEXTS.clear()
    return BatchAttributes(table)


def as_lists(texts: dict[str, pa.Array]) -> dict[str, list[Any]]:
    return {k: v.to_pylist() for k, v in texts.items()}


@pytest.mark.parametrize(
    "lines",
    [
        LINES,
        LINES[3:],
        [{"msg": "x", "f": float(v)} for v in (1, 2.25, 1e-7)],
        [{"msg": "x", "f": v} for v in (1.0, 2.25, 0.3, None)],
        [{"msg": "x", "f": v} for v in (1.0, 2.25, 0.3)],
        # Enough lines with few distinct numbers that each is spelled once; `g` has many.
        [{"msg": "x", "i": k % 7, "f": (k % 5) / 4, "g": k * 0.5, "big": 10 ** (k % 3)} for k in range(600)],
    ],
)
def test_the_decoded_columns_read_as_the_json_does(lines: list[dict[str, Any]]) -> None:
    table = ingested(1, lines)
    assert len(ATTR_COLUMNS) == 1
    got = as_lists(BatchAttributes(table).texts(KEYS))
    numbers = {}
    for key in ("i", "g", "big", "absent"):
        SHARED_TEXTS.clear()
        numbers[key] = BatchAttributes(table).numbers(key)
        assert numbers[key] is not None
    assert got == as_lists(parsed(table).texts(KEYS))
    batch = MetricBatch(table)
    for key, found in numbers.items():
        np.testing.assert_array_equal(found, batch.numbers(key))


def test_filters_match_over_the_decoded_columns_as_over_the_json() -> None:
    table = ingested(1, LINES)
    queries = ("i:>=500", "i:0", "f:>50", "b:true", 's:"plain"', "_exists_:g", "-s:*", "big:>1e19", "f:100")
    filters = [compile_filter(q) for q in queries]
    got = BatchAttributes(table).evaluate(filters, [])
    expected = parsed(table).evaluate(filters, [])
    assert [m.to_pylist() for m in got] == [m.to_pylist() for m in expected]
    assert any(any(m.to_pylist()) for m in got)  # the filters do match something


MIXED: list[dict[str, Any]] = [
    {"msg": "m", "level": "error", "i": "600", "s": 7},  # a number as text, and a text key holding a number
    {"msg": "n", "level": "info", "i": 501, "s": "plain", "f": float("nan")},
    {"msg": "o", "level": "error", "f": float("inf"), "g": -3},
]


@pytest.mark.parametrize("lines", [LINES, MIXED, LINES + MIXED])
def test_attribute_filters_without_the_json_match_as_duckdb_does(lines: list[dict[str, Any]]) -> None:
    """`RowFilter.arrow_mask` given a batch's `BatchAttributes` answers comparisons, existence and equality of
    attributes from the decoded columns, alone or with core fields and message words: the same lines as the SQL
    over the JSON; where the columns cannot tell (a number held as text, wildcards) it leaves the filter to
    DuckDB (None)."""
    table = ingested(1, lines)
    queries = (
        "i:>=500",
        "i:<0",
        "f:>50",
        "f:<=17.5",
        "f:>17.5",
        "i:<503",
        "g:>=-3",
        "g:>0",
        "_exists_:g",
        "_exists_:f",
        "_exists_:s",
        "-_exists_:i",
        "i:0",
        "i:503",
        's:"plain"',
        "b:true",
        "level:error AND i:>=500",
        "-i:>=500",
        "i:>=500 OR a",
        "NOT (f:>50 OR g:<0)",
        "-s:*",
        "s:pla*",
        "big:>1e19",
    )
    filters = [compile_filter(q) for q in queries]
    expected = [m.to_pylist() for m in parsed(table).evaluate(filters, [])]
    fast: list[str] = []
    for f, want in zip(filters, expected, strict=True):
        SHARED_TEXTS.clear()
        ingested(1, lines)  # the decoded columns again (`parsed` forgot them)
        table = ingested(1, lines)
        got = f.arrow_mask(table, {}, BatchAttributes(table))
        if got is not None:
            fast.append(f.text)
            assert got.to_pylist() == want, f.text
    assert any(any(m) for m in expected)  # the filters do match something
    assert "s:pla*" not in fast  # a wildcard: DuckDB decides
    if lines is LINES:  # every kind of value of one type per key: comparisons and existence need no JSON
        assert {"i:>=500", "f:>50", "_exists_:g", "-i:>=500", "level:error AND i:>=500", "i:>=500 OR a"} <= set(fast)
    if lines is MIXED:  # `i` holds text on one line: its comparison is DuckDB's TRY_CAST of the text
        assert "i:>=500" not in fast


def test_the_same_lines_read_back_from_the_log_find_the_columns() -> None:
    table = ingested(1, LINES)
    again = read_back(table)
    assert BatchAttributes(again).numbers("i") is not None  # other memory, the same text: found
    changed = again.set_column(
        again.column_names.index("attrs"), "attrs", pc.utf8_replace_slice(again["attrs"], 1, 2, "X")
    )
    assert BatchAttributes(changed).numbers("i") is None  # a text of the same length but not the same: parsed


def test_a_coalesced_run_reads_every_chunk_and_an_unknown_chunk_means_parsing() -> None:
    one, two = ingested(1, LINES), ingested(2, LINES[1:3])
    both = pa.concat_tables([one, two])
    got = as_lists(BatchAttributes(both).texts(["i", "s"]))
    # A dead letter's chunk is not decoded attributes: the whole run is parsed (and still right).
    dead = with_seq(3, dead_letter([("{oops", "bad json")], BatchContext("default", "http", T0)))
    mixed = pa.concat_tables([one, dead], promote_options="default")
    assert BatchAttributes(mixed).numbers("i") is None
    texts = as_lists(BatchAttributes(mixed).texts(["i", "error"]))
    assert got == as_lists(parsed(both).texts(["i", "s"]))
    assert texts["i"] == as_lists(parsed(one).texts(["i"]))["i"] + [None]
    assert texts["error"] == [None] * len(LINES) + ["bad json"]


def test_a_run_combined_into_one_chunk_is_found_piece_by_piece() -> None:
    one, two = ingested(1, LINES), ingested(2, LINES[1:3])
    combined = pa.concat_tables([one, two, one]).combine_chunks()  # as the rules engine reads a coalesced run
    assert combined.column("attrs").num_chunks == 1
    reader = BatchAttributes(combined)
    assert reader.numbers("i") is not None
    assert as_lists(reader.texts(KEYS)) == as_lists(parsed(combined).texts(KEYS))
    # A stretch that is no kept chunk (a dead letter's) leaves the whole run to the parse.
    dead = with_seq(3, dead_letter([("{oops", "bad json")], BatchContext("default", "http", T0)))
    ingested(1, LINES)
    mixed = pa.concat_tables([one, dead], promote_options="default").combine_chunks()
    assert BatchAttributes(mixed).numbers("i") is None


def test_numbers_of_a_text_attribute_come_from_the_text() -> None:
    table = ingested(1, [{"msg": "a", "v": "12"}, {"msg": "b", "v": "x"}])
    assert BatchAttributes(table).numbers("v") is None
    batch = MetricBatch(table)
    batch.prepare([], [], ["v"])
    np.testing.assert_array_equal(batch.numbers("v"), [12.0, np.nan])


def test_the_oldest_chunks_go_beyond_the_bound() -> None:
    chunks = [pa.array([f'{{"v":{i}}}'] * 100) for i in range(4)]  # same lengths, not the same text
    values = {"v": pa.array(np.arange(100, dtype=np.int64))}
    columns = AttrColumns(max_bytes=3 * (values["v"].get_total_buffer_size() + chunks[0].get_total_buffer_size()))
    reader = Reader()
    columns.want(reader)
    for chunk in chunks:
        columns.put(chunk, values)
    assert len(columns) == 3
    assert columns.chunks(pa.chunked_array([chunks[0]])) is None
    found = columns.chunks(pa.chunked_array(chunks[1:]))
    assert found is not None and [(rows, dict(c)) for rows, c in found] == [(100, values)] * 3
    assert columns.nbytes <= columns.max_bytes


def points(tmp_path: Path, name: str, batches: list[pa.Table]) -> list[tuple[Any, ...]]:
    definitions = [
        MetricDefinition(name="by_status", query="i:>=0", labels=["s"]),
        MetricDefinition(name="g_sum", type="sum", field="g", labels=["i"]),
        MetricDefinition(name="f_hist", type="histogram", field="f"),
        MetricDefinition(name="i_summary", type="summary", field="i", labels=["b"]),
    ]
    sub = LogMetricsSubscriber(
        SeriesStore(tmp_path / f"{name}.duckdb", RETENTION),
        definitions,
        clock=lambda: datetime(2026, 3, 2, 12, 5, tzinfo=UTC),
        compact_interval=None,
    )
    for i, table in enumerate(batches):
        sub.handle(BusBatch(i + 1, table))
    sub.flush()
    rows = sub.store.reader().execute(
        "SELECT metric, labels, ts, n, total, lo, hi FROM series_points WHERE tier = 0 ORDER BY ALL"
    )
    found: list[tuple[Any, ...]] = rows.fetchall()
    bins = sub.store.reader().execute(
        "SELECT s.metric, s.labels, b.ts, b.bin, sum(b.n) FROM bins b JOIN series s USING (sid) WHERE b.tier = 0 "
        "GROUP BY ALL ORDER BY ALL"
    )
    found += bins.fetchall()
    sub.close()
    return found


def test_the_metric_points_are_the_same_from_the_decoded_columns(tmp_path: Path) -> None:
    batches = [ingested(1, LINES), ingested(2, LINES[::-1])]
    got = points(tmp_path, "decoded", batches)
    ATTR_COLUMNS.clear()
    SHARED_TEXTS.clear()
    assert got == points(tmp_path, "parsed", batches)
    assert len(got) > 8


def threshold(query: str, group_by: list[str]) -> ThresholdRule:
    return ThresholdRule.model_validate(
        {
            "name": "r",
            "type": "threshold",
            "query": query,
            "group_by": group_by,
            "window": timedelta(minutes=1),
            "threshold": 3,
            "severity": "critical",
        }
    )


def test_which_subscribers_read_attributes() -> None:
    assert not reads_attributes([compile_filter(q) for q in ("*", "level:error", "timeout", '"cache miss"')], [])
    assert not reads_attributes([], ["tenant", "service", "level", "host"])
    for query in ("status:>=500", "_exists_:user_id", "service:api OR route:x", "-attrs.k:v"):
        assert reads_attributes([compile_filter(query)], ["service"]), query
    assert reads_attributes([], ["route"]) and reads_attributes([], ["attrs.service"])


def recording() -> bool:
    """Whether ingest keeps decoded columns now (a call: each assert reads it anew)."""
    return ATTR_COLUMNS.recording


def test_nothing_is_kept_unless_a_subscriber_reads_attributes(
    tmp_path: Path, reader: Reader, monkeypatch: pytest.MonkeyPatch
) -> None:
    ATTR_COLUMNS.want(reader, False)
    # Readers of other tests' subscribers still alive in this process (held weakly) do not count here.
    monkeypatch.setattr(ATTR_COLUMNS, "_readers", weakref.WeakSet())
    assert not recording()
    # The defaults: the built-in series and rules on core fields read no attribute.
    builtin = LogMetricsSubscriber(
        SeriesStore(tmp_path / "b.duckdb", RETENTION), builtin_definitions(), compact_interval=None
    )
    rules = RulesEngine(tmp_path / "rules", [threshold("level:error", ["service"])], tick=None)
    table = ingested(1, LINES)
    assert not recording() and len(ATTR_COLUMNS) == 0 and ATTR_COLUMNS.nbytes == 0
    builtin.handle(BusBatch(1, table))
    rules.handle(BusBatch(1, table))
    assert len(ATTR_COLUMNS) == 0
    # A definition labelled by an attribute: kept while its subscriber is open.
    labelled = [*builtin_definitions(), MetricDefinition(name="by_s", labels=["s"])]
    metrics = LogMetricsSubscriber(SeriesStore(tmp_path / "m.duckdb", RETENTION), labelled, compact_interval=None)
    assert recording()
    ingested(2, LINES[1:])
    assert len(ATTR_COLUMNS) == 1
    # Its definitions replaced by ones that read no attribute, then closed: nothing kept any more.
    metrics.replace_definitions(builtin_definitions())
    assert not recording() and ATTR_COLUMNS.nbytes == 0
    metrics.replace_definitions(labelled)
    assert recording()
    metrics.close()
    assert not recording()
    # Rules: one filtering on an attribute, then one grouping by one; none once the engine closes.
    rules.set_rules([threshold("status:>=500", ["service"])])
    assert recording()
    rules.set_rules([threshold("level:error", ["service"])])
    assert not recording()
    rules.set_rules([threshold("level:error", ["route"])])
    ingested(3, LINES[2:])
    assert len(ATTR_COLUMNS) == 1
    rules.close()
    assert not recording() and len(ATTR_COLUMNS) == 0 and ATTR_COLUMNS.nbytes == 0
    builtin.close()
    # A reader dropped without saying so stops the recording too (held weakly).
    gone = Reader()
    ATTR_COLUMNS.want(gone)
    ingested(4, LINES)
    assert len(ATTR_COLUMNS) == 1
    del gone
    ingested(5, LINES)
    assert len(ATTR_COLUMNS) == 0 and ATTR_COLUMNS.nbytes == 0


def test_batches_pushed_out_by_the_bound_are_parsed_to_the_same_points(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    runs = [[{**line, "k": k} for line in LINES] for k in range(1, 5)]  # texts of the same length, not the same
    first = ingested(1, runs[0])
    one = ATTR_COLUMNS.nbytes
    monkeypatch.setattr(ATTR_COLUMNS, "max_bytes", 2 * one + one // 2)  # room for two such batches
    batches = [first] + [ingested(k + 1, lines) for k, lines in enumerate(runs[1:], 1)]
    assert len(ATTR_COLUMNS) == 2 and ATTR_COLUMNS.nbytes <= ATTR_COLUMNS.max_bytes
    assert BatchAttributes(batches[1]).numbers("i") is None  # pushed out: parsed
    assert BatchAttributes(batches[3]).numbers("i") is not None
    # A coalesced run of a kept and a pushed-out batch is parsed whole.
    assert BatchAttributes(pa.concat_tables(batches[1:3])).numbers("i") is None
    coalesced = [pa.concat_tables(batches[:2]), pa.concat_tables(batches[2:])]
    got = points(tmp_path, "bounded", batches) + points(tmp_path, "bounded_coalesced", coalesced)
    ATTR_COLUMNS.clear()
    SHARED_TEXTS.clear()
    assert got == points(tmp_path, "parsed", batches) + points(tmp_path, "parsed_coalesced", coalesced)
