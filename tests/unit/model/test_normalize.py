"""Unit tests for logwarden.model.normalize: field mapping, attrs, defaults, dead letters."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import orjson
import pyarrow as pa
import pytest

from logwarden.model.normalize import (
    PREBUILT_ATTRS,
    BatchContext,
    dead_letter,
    is_core_alias,
    normalize,
)
from logwarden.model.schema import LOG_SCHEMA

RECEIVED = datetime(2024, 3, 10, 12, 0, tzinfo=UTC)
CTX = BatchContext(tenant="acme", source="http", received=RECEIVED)
CTX_DEFAULTS = BatchContext(
    tenant="acme", source="http", received=RECEIVED, default_service="dsvc", default_host="dhost"
)


def utc(y: int, mo: int, d: int, h: int = 0, mi: int = 0, s: int = 0, us: int = 0) -> datetime:
    return datetime(y, mo, d, h, mi, s, us, tzinfo=UTC)


def table(records: list[dict[str, Any]]) -> pa.Table:
    """A record table with one column per key seen in *any* record (absent → null).

    `pa.Table.from_pylist` would infer the columns from the first record only.
    """
    keys = list(dict.fromkeys(k for r in records for k in r))
    return pa.table({k: pa.array([r.get(k) for r in records]) for k in keys})


def run(records: list[dict[str, Any]], ctx: BatchContext = CTX) -> list[dict[str, Any]]:
    out = normalize(table(records), ctx)
    assert out.schema.equals(LOG_SCHEMA)
    assert out.num_rows == len(records)
    rows: list[dict[str, Any]] = out.to_pylist()
    return rows


def column(records: list[dict[str, Any]], name: str, ctx: BatchContext = CTX) -> list[Any]:
    return [row[name] for row in run(records, ctx)]


def attrs(records: list[dict[str, Any]], ctx: BatchContext = CTX) -> list[dict[str, Any] | None]:
    return [None if a is None else orjson.loads(a) for a in column(records, "attrs", ctx)]


# --- output shape ------------------------------------------------------------------------------


def test_full_record() -> None:
    rows = run(
        [
            {
                "ts": "2024-01-02T03:04:05Z",
                "level": "warning",
                "msg": "disk almost full",
                "service": "api",
                "host": "web-1",
                "trace_id": "4bf92f3577b34da6a3ce929d0e0e4736",
                "span_id": "00f067aa0ba902b7",
                "log_id": "id-1",
                "http": {"status": 200, "method": "GET"},
                "user": "bob",
            }
        ]
    )
    assert rows == [
        {
            "ts": utc(2024, 1, 2, 3, 4, 5),
            "observed_ts": RECEIVED,
            "tenant": "acme",
            "service": "api",
            "host": "web-1",
            "level": "WARN",
            "severity": 13,
            "message": "disk almost full",
            "trace_id": "4bf92f3577b34da6a3ce929d0e0e4736",
            "span_id": "00f067aa0ba902b7",
            "source": "http",
            "log_id": "id-1",
            "attrs": '{"http.status":200,"http.method":"GET","user":"bob"}',
            "pattern_id": None,
        }
    ]


def test_output_schema_is_log_schema_including_nullability() -> None:
    out = normalize(table([{"msg": "a"}, {"msg": "b"}]), CTX)
    assert out.schema.equals(LOG_SCHEMA)
    assert [f.nullable for f in out.schema] == [f.nullable for f in LOG_SCHEMA]


def test_zero_rows() -> None:
    out = normalize(pa.table({"msg": pa.array([], pa.string())}), CTX)
    assert out.schema.equals(LOG_SCHEMA)
    assert out.num_rows == 0


def test_tenant_source_observed_ts_from_context() -> None:
    ctx = BatchContext(tenant="t-9", source="syslog", received=utc(2025, 5, 6, 7, 8, 9))
    rows = run([{"msg": "a"}, {"msg": "b"}], ctx)
    assert [(r["tenant"], r["source"], r["observed_ts"]) for r in rows] == [
        ("t-9", "syslog", utc(2025, 5, 6, 7, 8, 9))
    ] * 2
    assert [r["pattern_id"] for r in rows] == [None, None]


def test_record_without_any_core_field() -> None:
    (row,) = run([{"k": "v"}])
    assert row["ts"] == RECEIVED
    assert (row["level"], row["severity"], row["message"], row["service"], row["host"]) == (None,) * 5
    assert (row["trace_id"], row["span_id"]) == (None, None)
    assert row["attrs"] == '{"k":"v"}'


# --- field aliases -----------------------------------------------------------------------------


@pytest.mark.parametrize("alias", ["ts", "timestamp", "@timestamp", "time"])
def test_ts_aliases(alias: str) -> None:
    rows = run([{alias: "2024-01-02T03:04:05+02:00", "x": 1}])
    assert rows[0]["ts"] == utc(2024, 1, 2, 1, 4, 5)
    assert rows[0]["attrs"] == '{"x":1}'


@pytest.mark.parametrize(("alias", "value"), [("level", "warning"), ("severity", "err"), ("lvl", "D")])
def test_level_aliases(alias: str, value: str) -> None:
    expected = {"warning": ("WARN", 13), "err": ("ERROR", 17), "D": ("DEBUG", 5)}[value]
    (row,) = run([{alias: value}])
    assert (row["level"], row["severity"]) == expected
    assert row["attrs"] is None


@pytest.mark.parametrize("alias", ["msg", "message", "log"])
def test_message_aliases(alias: str) -> None:
    (row,) = run([{alias: "hello world"}])
    assert row["message"] == "hello world"
    assert row["attrs"] is None


@pytest.mark.parametrize("alias", ["service", "app"])
def test_service_aliases(alias: str) -> None:
    assert column([{alias: "checkout"}], "service") == ["checkout"]


@pytest.mark.parametrize("alias", ["host", "hostname", "node_id"])
def test_host_aliases(alias: str) -> None:
    assert column([{alias: "node-7"}], "host") == ["node-7"]


@pytest.mark.parametrize("alias", ["trace_id", "traceId"])
def test_trace_id_aliases(alias: str) -> None:
    assert column([{alias: "abc123"}], "trace_id") == ["abc123"]


@pytest.mark.parametrize("alias", ["span_id", "spanId"])
def test_span_id_aliases(alias: str) -> None:
    assert column([{alias: "def456"}], "span_id") == ["def456"]


def test_aliases_are_not_copied_into_attrs() -> None:
    record = {
        "@timestamp": "2024-01-02T03:04:05Z",
        "lvl": "info",
        "log": "m",
        "app": "a",
        "node_id": "n",
        "traceId": "t",
        "spanId": "s",
    }
    (row,) = run([record])
    assert row["attrs"] is None


def test_alias_priority_first_alias_wins_per_row() -> None:
    rows = run(
        [
            {"msg": "m1", "message": "M1", "log": "L1", "service": "s1", "app": "a1", "host": "h1"},
            {"msg": None, "message": "M2", "log": "L2", "service": None, "app": "a2", "hostname": "hn2"},
            {"msg": None, "message": None, "log": "L3", "node_id": "n3"},
        ]
    )
    assert [r["message"] for r in rows] == ["m1", "M2", "L3"]
    assert [r["service"] for r in rows] == ["s1", "a2", None]
    assert [r["host"] for r in rows] == ["h1", "hn2", "n3"]


def test_ts_falls_back_to_next_alias_when_first_does_not_parse() -> None:
    rows = run(
        [
            {"ts": "bogus", "timestamp": "2024-01-02T03:04:05Z"},
            {"ts": "2024-01-02T03:04:06Z", "timestamp": "bogus"},
        ]
    )
    assert [r["ts"] for r in rows] == [utc(2024, 1, 2, 3, 4, 5), utc(2024, 1, 2, 3, 4, 6)]
    # The alias value that was not used stays in attrs under its own key.
    assert [r["attrs"] for r in rows] == ['{"ts":"bogus"}', '{"timestamp":"bogus"}']


def test_is_core_alias() -> None:
    for alias in ("ts", "@timestamp", "lvl", "log", "app", "node_id", "traceId", "spanId", "log_id"):
        assert is_core_alias(alias)
    for other in ("attrs", "tenant", "source", "observed_ts", "http.status", "TS", "Message"):
        assert not is_core_alias(other)


# --- timestamps --------------------------------------------------------------------------------


def test_ts_forms() -> None:
    rows = run([{"time": 1700000000}, {"time": 1700000000123}, {"time": None}])
    assert [r["ts"] for r in rows] == [
        utc(2023, 11, 14, 22, 13, 20),
        utc(2023, 11, 14, 22, 13, 20, 123000),
        RECEIVED,
    ]
    assert [r["attrs"] for r in rows] == [None, None, None]
    assert column([{"ts": 1700000000.25}], "ts") == [utc(2023, 11, 14, 22, 13, 20, 250000)]


def test_arrow_timestamp_ts_column() -> None:
    raw = pa.table({"ts": pa.array([datetime(2024, 1, 2, 3, 4, 5)], pa.timestamp("s")), "msg": ["x"]})
    out = normalize(raw, CTX)
    assert out.column("ts").to_pylist() == [utc(2024, 1, 2, 3, 4, 5)]
    assert out.column("attrs").to_pylist() == [None]


def test_unparseable_ts_uses_observed_time_and_keeps_value_in_attrs() -> None:
    rows = run(
        [
            {"ts": "yesterday-ish", "msg": "a"},
            {"ts": "2024-01-02T03:04:05Z", "msg": "b"},
            {"ts": None, "msg": "c"},
        ]
    )
    assert [r["ts"] for r in rows] == [RECEIVED, utc(2024, 1, 2, 3, 4, 5), RECEIVED]
    assert [r["attrs"] for r in rows] == ['{"ts":"yesterday-ish"}', None, None]


def test_unparsed_ts_next_to_other_attrs() -> None:
    assert attrs([{"ts": "nope", "k": 1}, {"ts": "2024-01-02T03:04:05Z", "k": 2}]) == [
        {"k": 1, "ts": "nope"},
        {"k": 2},
    ]


# --- levels ------------------------------------------------------------------------------------


def test_text_levels_and_severity() -> None:
    rows = run([{"level": v} for v in ["warning", "WARN", "W", "Warning ", "crit", "notice", "INFO2"]])
    assert [(r["level"], r["severity"]) for r in rows] == [
        ("WARN", 13),
        ("WARN", 13),
        ("WARN", 13),
        ("WARN", 13),
        ("FATAL", 21),
        ("INFO", 9),
        ("INFO", 9),
    ]


def test_numeric_severity_keeps_its_otel_number() -> None:
    rows = run([{"severity": n} for n in [1, 3, 10, 16, 18, 24]])
    assert [(r["level"], r["severity"]) for r in rows] == [
        ("TRACE", 1),
        ("TRACE", 3),
        ("INFO", 10),
        ("WARN", 16),
        ("ERROR", 18),
        ("FATAL", 24),
    ]
    assert [r["attrs"] for r in rows] == [None] * 6


def test_float_severity_number() -> None:
    rows = run([{"level": 10.0}, {"level": 21.0}])
    assert [(r["level"], r["severity"]) for r in rows] == [("INFO", 10), ("FATAL", 21)]


def test_numeric_severity_out_of_range_is_unknown() -> None:
    rows = run([{"severity": 0}, {"severity": 25}, {"severity": 9}])
    assert [(r["level"], r["severity"]) for r in rows] == [(None, None), (None, None), ("INFO", 9)]
    assert [r["attrs"] for r in rows] == ['{"severity":0}', '{"severity":25}', None]


def test_numeric_string_level() -> None:
    rows = run([{"level": "17"}, {"level": "5"}])
    assert [r["level"] for r in rows] == ["ERROR", "DEBUG"]


def test_numeric_string_level_keeps_its_otel_number() -> None:
    rows = run([{"level": "18"}, {"level": "10"}])
    assert [(r["level"], r["severity"]) for r in rows] == [("ERROR", 18), ("INFO", 10)]


def test_unknown_level_is_null_and_kept_in_attrs() -> None:
    rows = run([{"level": "LOUD", "msg": "a"}, {"level": "info", "msg": "b"}, {"level": None, "msg": "c"}])
    assert [(r["level"], r["severity"]) for r in rows] == [(None, None), ("INFO", 9), (None, None)]
    assert [r["attrs"] for r in rows] == ['{"level":"LOUD"}', None, None]


def test_level_alias_priority() -> None:
    rows = run([{"level": "error", "severity": "debug"}, {"level": None, "severity": "debug", "lvl": "warn"}])
    assert [(r["level"], r["severity"]) for r in rows] == [("ERROR", 17), ("DEBUG", 5)]


def test_level_falls_back_to_next_alias_when_unknown() -> None:
    rows = run([{"level": "LOUD", "severity": "warn"}])
    assert [(r["level"], r["severity"], r["attrs"]) for r in rows] == [("WARN", 13, '{"level":"LOUD"}')]


def test_severity_is_consistent_with_chosen_level() -> None:
    (row,) = run([{"level": "17", "severity": 5}])
    assert (row["level"], row["severity"]) == ("ERROR", 17)


# --- attrs -------------------------------------------------------------------------------------


def test_nested_objects_flattened_with_dots() -> None:
    assert column([{"http": {"status": 200}}], "attrs") == ['{"http.status":200}']
    assert attrs([{"a": {"b": {"c": {"d": "deep"}}, "e": 1}}]) == [{"a.b.c.d": "deep", "a.e": 1}]


def test_attrs_value_types() -> None:
    (row,) = run([{"i": 7, "f": 1.5, "b": True, "s": "x", "q": 'say "hi"\n'}])
    assert orjson.loads(row["attrs"]) == {"i": 7, "f": 1.5, "b": True, "s": "x", "q": 'say "hi"\n'}


def test_lists_stay_json_arrays() -> None:
    assert attrs([{"tags": ["a", "b"]}, {"tags": []}, {"tags": None}]) == [
        {"tags": ["a", "b"]},
        {"tags": []},
        None,
    ]
    assert attrs([{"ports": [80, 443], "objs": [{"k": 1}, {"k": 2}]}]) == [
        {"ports": [80, 443], "objs": [{"k": 1}, {"k": 2}]}
    ]


def test_sparse_batch_absent_keys_stay_absent() -> None:
    rows = attrs([{"a": 1}, {"b": "z"}, {"a": 4, "b": "y"}, {"msg": "only core"}])
    assert rows == [{"a": 1}, {"b": "z"}, {"a": 4, "b": "y"}, None]
    raw = column([{"a": 1}, {"b": "z"}], "attrs")
    assert raw == ['{"a":1}', '{"b":"z"}']
    assert "null" not in "".join(raw)


def test_sparse_nested_fields() -> None:
    rows = attrs([{"http": {"status": 200}}, {"http": {"method": "GET"}}, {"http": None}, {"x": 1}])
    assert rows == [{"http.status": 200}, {"http.method": "GET"}, None, {"x": 1}]


def test_all_null_column_dropped_from_attrs() -> None:
    assert attrs([{"gone": None, "k": 1}, {"gone": None, "k": 2}]) == [{"k": 1}, {"k": 2}]


def test_homogeneous_attrs_keep_record_key_order() -> None:
    assert column([{"z": 1, "a": 2, "m": 3}], "attrs") == ['{"z":1,"a":2,"m":3}']


def test_prebuilt_attrs_merged() -> None:
    raw = pa.table(
        {
            "msg": ["a", "b", "c", "d"],
            "ts": ["nope", "2024-01-02T03:04:05Z", "nope", "2024-01-02T03:04:05Z"],
            PREBUILT_ATTRS: ['{"x":1}', '{"x":"s"}', None, None],
        }
    )
    out = normalize(raw, CTX)
    assert out.column("message").to_pylist() == ["a", "b", "c", "d"]
    assert [None if a is None else orjson.loads(a) for a in out.column("attrs").to_pylist()] == [
        {"ts": "nope", "x": 1},
        {"x": "s"},
        {"ts": "nope"},
        None,
    ]


def test_prebuilt_attrs_alone() -> None:
    raw = pa.table({"msg": ["a", "b"], PREBUILT_ATTRS: ['{"k":[1,2]}', None]})
    out = normalize(raw, CTX)
    assert out.column("attrs").to_pylist() == ['{"k":[1,2]}', None]


# --- defaults from the batch context -----------------------------------------------------------


def test_defaults_apply_only_when_record_has_none() -> None:
    rows = run(
        [
            {"service": "given", "host": "h-given"},
            {"service": None, "host": None},
            {"app": "from-app", "hostname": "from-hostname"},
            {"msg": "nothing"},
        ],
        CTX_DEFAULTS,
    )
    assert [(r["service"], r["host"]) for r in rows] == [
        ("given", "h-given"),
        ("dsvc", "dhost"),
        ("from-app", "from-hostname"),
        ("dsvc", "dhost"),
    ]


def test_defaults_when_batch_has_no_such_columns() -> None:
    rows = run([{"msg": "a"}, {"msg": "b"}], CTX_DEFAULTS)
    assert [(r["service"], r["host"]) for r in rows] == [("dsvc", "dhost")] * 2


def test_no_defaults_leaves_null() -> None:
    rows = run([{"msg": "a"}, {"service": "s"}], CTX)
    assert [(r["service"], r["host"]) for r in rows] == [(None, None), ("s", None)]


# --- non-string core values --------------------------------------------------------------------


def test_non_string_core_values_become_text() -> None:
    rows = run([{"msg": 42, "host": 7, "span_id": 1.5}])
    assert (rows[0]["message"], rows[0]["host"], rows[0]["span_id"]) == ("42", "7", "1.5")


def test_list_message_becomes_json_text() -> None:
    assert column([{"msg": ["a", "b"]}], "message") == ['["a","b"]']


def test_timestamp_typed_text_column_becomes_iso_text() -> None:
    raw = pa.table({"msg": pa.array([datetime(2024, 1, 2, 3, 4, 5)], pa.timestamp("s"))})
    (message,) = normalize(raw, CTX).column("message").to_pylist()
    assert "%" not in message
    assert datetime.fromisoformat(message) == datetime(2024, 1, 2, 3, 4, 5)


# --- log ids -----------------------------------------------------------------------------------


def test_log_ids_generated_unique() -> None:
    ids = column([{"msg": str(i)} for i in range(500)], "log_id")
    assert len(set(ids)) == 500
    assert all(isinstance(i, str) and i for i in ids)


def test_log_ids_differ_between_batches() -> None:
    first = column([{"msg": "a"}, {"msg": "b"}], "log_id")
    second = column([{"msg": "a"}, {"msg": "b"}], "log_id")
    assert not set(first) & set(second)


def test_given_log_ids_kept() -> None:
    assert column([{"log_id": "id-1"}, {"log_id": "id-2"}], "log_id") == ["id-1", "id-2"]


def test_given_log_ids_kept_and_missing_generated() -> None:
    ids = column([{"log_id": "keep-me"}, {"msg": "x"}, {"log_id": "me-too"}, {"msg": "y"}], "log_id")
    assert ids[0] == "keep-me"
    assert ids[2] == "me-too"
    assert ids[1] and ids[3]
    assert len(set(ids)) == 4


def test_log_id_not_in_attrs() -> None:
    assert column([{"log_id": "x", "k": 1}], "attrs") == ['{"k":1}']


# --- dead letters ------------------------------------------------------------------------------


def test_dead_letter() -> None:
    out = dead_letter([("{not json", "invalid JSON: boom"), ("[1, 2]", "line is JSON but not an object")], CTX)
    assert out.schema.equals(LOG_SCHEMA)
    rows = out.to_pylist()
    assert [r["message"] for r in rows] == ["{not json", "[1, 2]"]
    assert [r["source"] for r in rows] == ["dead_letter", "dead_letter"]
    assert [orjson.loads(r["attrs"]) for r in rows] == [
        {"error": "invalid JSON: boom", "original_source": "http"},
        {"error": "line is JSON but not an object", "original_source": "http"},
    ]
    for r in rows:
        assert (r["ts"], r["observed_ts"], r["tenant"]) == (RECEIVED, RECEIVED, "acme")
        assert (r["level"], r["severity"], r["trace_id"], r["span_id"], r["pattern_id"]) == (None,) * 5
        assert (r["service"], r["host"]) == (None, None)
    assert len({r["log_id"] for r in rows}) == 2


def test_dead_letter_uses_context_defaults() -> None:
    rows = dead_letter([("x", "bad")], CTX_DEFAULTS).to_pylist()
    assert [(r["service"], r["host"]) for r in rows] == [("dsvc", "dhost")]


def test_dead_letter_empty() -> None:
    out = dead_letter([], CTX)
    assert out.schema.equals(LOG_SCHEMA)
    assert out.num_rows == 0
