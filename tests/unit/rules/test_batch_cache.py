"""The per-batch work rules share: every filter evaluated at once (pyarrow where it can, the rest and every
attribute field in one DuckDB pass) gives exactly the masks and values each filter and field gives alone."""

from __future__ import annotations

from datetime import UTC, datetime

import orjson

from logwarden.ingest.ndjson import decode_json_body
from logwarden.model.normalize import BatchContext, normalize
from logwarden.query.filter import compile_filter
from logwarden.rules.base import BatchCache
from logwarden.rules.fields import field_values

LINES = [
    {"level": "error", "service": "api", "msg": "read TIMEOUT after 5s", "latency_ms": 700, "http": {"status": 503}},
    {"level": "info", "service": "api", "msg": "timeouts are configured", "latency_ms": "12", "user": "bob"},
    {"level": "warn", "service": "web", "msg": "Connection Refused by upstream", "latency_ms": "NaN"},
    {"level": "error", "service": "db", "msg": "Zürich node: timeout", "user": "ayşe", "http": {"status": "500"}},
    {"level": "debug", "service": "web", "msg": "cache hit key=abc", "region": "eu"},
    {"level": "error", "service": "pay", "msg": None},
]
QUERIES = [
    "timeout",
    '"connection refused"',
    "zürich",
    "level:error timeout",
    "-timeout",
    "latency_ms:>500",
    "http.status:>=500",
    "user:*",
    "region:eu OR service:db",
    "cach*",
    "*",
]


def table() -> object:
    body = b"\n".join(orjson.dumps(r) for r in LINES)
    return normalize(decode_json_body(body).records, BatchContext("default", "http", datetime(2026, 3, 1, tzinfo=UTC)))


def test_prepared_masks_and_fields_equal_each_filter_and_field_alone() -> None:
    t = table()
    filters = [compile_filter(q) for q in QUERIES]
    cache = BatchCache(t)  # type: ignore[arg-type]
    cache.prepare(filters, ["user", "http.status", "service", "region"])
    for f in filters:
        alone = f.mask(t).to_pylist()  # type: ignore[arg-type]
        assert cache.matched(f.text, f.mask).num_rows == sum(alone), f.text
        assert cache._masks[f.text].to_pylist() == alone, f.text
    expected = field_values(t, ["user", "http.status", "region"])  # type: ignore[arg-type]
    matched = cache.matched("*", filters[-1].mask)
    got = cache.fields("*", matched, ["user", "http.status", "region"])
    assert {k: v.to_pylist() for k, v in got.items()} == {k: v.to_pylist() for k, v in expected.items()}


def test_words_are_found_whatever_their_case_and_not_inside_longer_words() -> None:
    t = table()
    shared: dict[str, object] = {}
    got = {q: compile_filter(q).mask(t, shared).to_pylist() for q in ("timeout", "refused", "zürich")}  # type: ignore[arg-type]
    assert got["timeout"] == [True, False, False, True, False, False]  # not "timeouts"
    assert got["refused"] == [False, False, True, False, False, False]
    assert got["zürich"] == [False, False, False, True, False, False]
    assert any(k.endswith("lower_message") for k in shared)  # lowered once for every term on this table
