"""Property-based: no route family answers 5xx, whatever the client sends (random and mutated input).

One app per module (its lifespan opens the store once); every family sends hypothesis-drawn requests through it.
Example counts are bounded so each test takes a few seconds.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import quote

import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from starlette.testclient import TestClient

from logwarden.api.app import create_app
from logwarden.config import load_config
from logwarden.query.parser import PIPE_NAMES

# About a second per family; the whole module takes ~10 s, so it is marked slow.
EXAMPLES = 100
pytestmark = pytest.mark.slow
SETTINGS = settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=list(HealthCheck))

# Values that broke routes before, or sit at the edges of what times, numbers and JSON can hold.
EDGE_TIMES = [
    "99999999999999999999",
    "now-1000000d",
    "now+1000000d",
    "now-99999999999999999999d",
    "now+30d",
    "0",
    "-1",
    "1e21",
    "0001-01-01T00:00:00Z",
    "0001-01-01T00:00:00+01:00",
    "9999-12-31T23:59:59.999999Z",
    "9999-12-31T23:59:59-01:00",
    "10000-01-01T00:00:00Z",
    "-0001-01-01T00:00:00Z",
    "2026-02-30T00:00:00Z",
    "now",
    "",
    "²",
    "9" * 5000,
]
EDGE_TS_VALUES: list[Any] = [
    "10000-01-01T00:00:00Z",
    "-0001-01-01T00:00:00Z",
    "0000-01-01T00:00:00Z",
    1e21,
    1e308,
    -1e308,
    10**30,
    -(10**30),
    "1" * 30,
    253402300800,
    True,
    None,
    [],
    {},
    "",
    "now",
    "2000-01-01T00:00:00Z",
]
DURATIONS = ["1s", "1m", "0s", "1ms", "9999999999999d", "36601d", "36600d", "1w", "-1m", "1.5h", "1y", "ms", "01m"]

texts = st.text(max_size=40)
times = st.one_of(
    st.sampled_from(EDGE_TIMES), texts, st.integers().map(str), st.datetimes().map(lambda d: d.isoformat())
)
json_scalars = st.one_of(
    st.none(), st.booleans(), st.integers(), st.floats(allow_nan=False), texts, st.sampled_from(EDGE_TS_VALUES)
)
json_values = st.recursive(
    json_scalars,
    lambda inner: st.one_of(st.lists(inner, max_size=4), st.dictionaries(texts, inner, max_size=4)),
    max_leaves=12,
)
query_words = st.sampled_from(
    [
        *PIPE_NAMES,
        "|",
        "(",
        ")",
        "[",
        "]",
        "{",
        "}",
        "TO",
        "AND",
        "OR",
        "NOT",
        "-",
        "*",
        ":",
        '"',
        "/x+/",
        "/(/",
        "level:",
        "_time:",
        "_exists_:",
        "status:>=500",
        "count()",
        "avg(latency_ms)",
        "p99(x)",
        "by",
        "as",
        "span=",
        "span=1m",
        "span=9999999999999d",
        "10.0.0.0/8",
        "::/0",
        "2001:db8::/129",
        "now-1h",
        "now+1h",
        "now-1000000d",
        "99999999999999999999",
        "=",
        "==",
        ",",
        "10001",
        "0",
        "x",
        "ts",
        "attrs.a",
        "error",
        "\x00",
        "é",
    ]
)
queries = st.one_of(texts, st.lists(st.one_of(query_words, texts), max_size=12).map(" ".join))


def mutated(seed: bytes) -> st.SearchStrategy[bytes]:
    """`seed` with a few bytes flipped, inserted, deleted, or cut short."""

    @st.composite
    def build(draw: st.DrawFn) -> bytes:
        data = bytearray(seed)
        for _ in range(draw(st.integers(0, 6))):
            op = draw(st.sampled_from(["flip", "insert", "delete", "truncate", "dup"]))
            pos = draw(st.integers(0, max(len(data) - 1, 0)))
            if op == "flip" and data:
                data[pos] = draw(st.integers(0, 255))
            elif op == "insert":
                data[pos:pos] = draw(st.binary(min_size=1, max_size=8))
            elif op == "delete" and data:
                del data[pos : pos + draw(st.integers(1, 8))]
            elif op == "truncate":
                del data[pos:]
            elif op == "dup":
                data[pos:pos] = data[pos : pos + draw(st.integers(1, 32))]
        return bytes(data)

    return build()


def bodies(seeds: st.SearchStrategy[bytes]) -> st.SearchStrategy[bytes]:
    return st.one_of(seeds, seeds.flatmap(mutated), st.binary(max_size=200))


def dumps(value: Any) -> bytes:
    """JSON as a careless client writes it: integers past 64 bits, Infinity (orjson refuses both)."""
    return json.dumps(value).encode()


def ndjson(objects: st.SearchStrategy[Any]) -> st.SearchStrategy[bytes]:
    return st.lists(objects, min_size=1, max_size=5).map(lambda xs: b"\n".join(dumps(x) for x in xs))


def _now_ns() -> int:
    return int(datetime.now(UTC).timestamp() * 1e9)


native_lines = st.fixed_dictionaries(
    {"ts": json_values, "msg": json_values}, optional={"level": json_values, "service": json_values}
)
bulk_pairs = st.tuples(
    st.one_of(
        st.just({"index": {}}),
        st.just({"create": {"_index": "logs"}}),
        st.dictionaries(st.sampled_from(["index", "create", "delete", "update", "x"]), json_values, max_size=2),
    ),
    st.fixed_dictionaries({"@timestamp": json_values, "message": json_values}),
).map(lambda pair: b"\n".join(dumps(x) for x in pair) + b"\n")
loki_bodies = st.builds(
    lambda labels, values: dumps({"streams": [{"stream": labels, "values": values}]}),
    st.dictionaries(texts, json_values, max_size=3),
    st.lists(st.lists(st.one_of(st.sampled_from(EDGE_TS_VALUES), json_values), max_size=3), max_size=3),
)
otlp_bodies = st.builds(
    lambda time, body, attrs: dumps(
        {
            "resourceLogs": [
                {
                    "resource": {"attributes": attrs},
                    "scopeLogs": [{"logRecords": [{"timeUnixNano": time, "body": body, "severityNumber": 9}]}],
                }
            ]
        }
    ),
    st.one_of(st.sampled_from(EDGE_TS_VALUES), st.integers().map(str), json_values),
    json_values,
    st.one_of(st.just([]), json_values),
)
content_types = st.sampled_from(
    ["application/json", "application/x-ndjson", "text/plain", "", "application/x-protobuf", "x/y", "application/json"]
)
tenants = st.one_of(st.none(), st.sampled_from(["alpha", "Alpha", "", "a" * 65, "../x", "t~x"]))


@pytest.fixture(scope="module")
def client(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TestClient]:
    data = tmp_path_factory.mktemp("never5xx") / "data"
    app = create_app(load_config(None, env={}, overrides={"data_dir": str(data)}), run_maintenance=False)
    with TestClient(app, raise_server_exceptions=False) as c:
        # A few lines of the moment, so context, trace and fields have something to find.
        now = datetime.now(UTC)
        lines = [
            {"ts": (now - timedelta(seconds=i)).isoformat(), "msg": f"line {i}", "trace_id": "t1", "log_id": f"id{i}"}
            for i in range(5)
        ]
        resp = c.post("/api/v1/ingest", content=b"\n".join(orjson.dumps(line) for line in lines))
        assert resp.status_code == 200, resp.text
        yield c


def _headers(tenant: str | None, content_type: str | None = None) -> dict[str, str]:
    headers = {}
    if tenant is not None:
        headers["X-Scope-OrgID"] = tenant
    if content_type:
        headers["Content-Type"] = content_type
    return headers


def assert_not_5xx(resp: Any, what: str) -> None:
    assert resp.status_code < 500, f"{what} → {resp.status_code} {resp.text[:500]}"


# --- ingest protocols ---------------------------------------------------------------------


@SETTINGS
@given(body=bodies(ndjson(native_lines)), content_type=content_types, tenant=tenants)
def test_native_ingest_never_5xx(client: TestClient, body: bytes, content_type: str, tenant: str | None) -> None:
    resp = client.post("/api/v1/ingest", content=body, headers=_headers(tenant, content_type))
    assert_not_5xx(resp, f"POST /api/v1/ingest {body[:300]!r}")


@SETTINGS
@given(body=bodies(st.lists(bulk_pairs, min_size=1, max_size=4).map(b"".join)), index=st.one_of(st.none(), texts))
def test_es_bulk_never_5xx(client: TestClient, body: bytes, index: str | None) -> None:
    path = "/_bulk" if not index else f"/{_path_part(index)}/_bulk"
    resp = client.post(path, content=body, headers={"Content-Type": "application/x-ndjson"})
    assert_not_5xx(resp, f"POST {path} {body[:300]!r}")


@SETTINGS
@given(body=bodies(loki_bodies), content_type=st.sampled_from(["application/json", "application/x-protobuf", ""]))
def test_loki_push_never_5xx(client: TestClient, body: bytes, content_type: str) -> None:
    resp = client.post("/loki/api/v1/push", content=body, headers=_headers(None, content_type))
    assert_not_5xx(resp, f"POST /loki/api/v1/push {body[:300]!r}")


@SETTINGS
@given(body=bodies(otlp_bodies), content_type=st.sampled_from(["application/json", "application/x-protobuf", ""]))
def test_otlp_logs_never_5xx(client: TestClient, body: bytes, content_type: str) -> None:
    resp = client.post("/v1/logs", content=body, headers=_headers(None, content_type))
    assert_not_5xx(resp, f"POST /v1/logs {body[:300]!r}")


# --- reading --------------------------------------------------------------------------------


@SETTINGS
@given(q=queries, start=times, end=times, limit=st.one_of(st.none(), texts, st.integers().map(str)), post=st.booleans())
def test_query_never_5xx(client: TestClient, q: str, start: str, end: str, limit: str | None, post: bool) -> None:
    params = {"q": q, "start": start, "end": end, **({"limit": limit} if limit is not None else {})}
    resp = client.post("/api/v1/query", json=params) if post else client.get("/api/v1/query", params=params)
    assert_not_5xx(resp, f"query {params!r}")


@SETTINGS
@given(body=json_values)
def test_query_json_body_never_5xx(client: TestClient, body: Any) -> None:
    resp = client.post("/api/v1/query", content=dumps(body))
    assert_not_5xx(resp, f"POST /api/v1/query {body!r}")


@SETTINGS
@given(
    q=queries,
    start=times,
    end=times,
    interval=st.one_of(st.none(), st.sampled_from(DURATIONS), texts),
    buckets=st.one_of(st.none(), st.integers(-5, 20_000).map(str), texts),
    by=st.one_of(st.none(), st.sampled_from(["level", "service", "attrs.x", "x", "", "ts", "attrs."]), texts),
)
def test_histogram_never_5xx(
    client: TestClient, q: str, start: str, end: str, interval: str | None, buckets: str | None, by: str | None
) -> None:
    params = {"q": q, "start": start, "end": end}
    params.update({k: v for k, v in {"interval": interval, "buckets": buckets, "by": by}.items() if v is not None})
    assert_not_5xx(client.get("/api/v1/histogram", params=params), f"histogram {params!r}")


@SETTINGS
@given(q=queries, start=times, end=times)
def test_fields_never_5xx(client: TestClient, q: str, start: str, end: str) -> None:
    params = {"q": q, "start": start, "end": end}
    assert_not_5xx(client.get("/api/v1/fields", params=params), f"fields {params!r}")


@SETTINGS
@given(
    q=queries,
    start=times,
    end=times,
    by=st.one_of(st.none(), texts),
    level=st.one_of(st.none(), texts),
    count=st.booleans(),
)
def test_search_and_count_never_5xx(
    client: TestClient, q: str, start: str, end: str, by: str | None, level: str | None, count: bool
) -> None:
    params = {"q": q, "start": start, "end": end}
    params.update({k: v for k, v in {"by": by, "level": level}.items() if v is not None})
    path = "/api/v1/stats/count" if count else "/api/v1/search"
    assert_not_5xx(client.get(path, params=params), f"{path} {params!r}")


sql_words = st.sampled_from(
    [
        "SELECT",
        "count(*)",
        "*",
        "FROM",
        "logs",
        "WHERE",
        "ts",
        ">",
        "'10000-01-01'::DATE",
        "'infinity'::TIMESTAMP",
        "1e308",
        "GROUP BY",
        "ORDER BY",
        "1",
        "LIMIT",
        "message",
        ",",
        "(",
        ")",
        ";",
        "'x'",
        "NULL",
        "range(3)",
        "interval 1 day",
        "9223372036854775807",
        "/",
        "0",
    ]
)

# Statements that run, with values JSON cannot hold as such (dates past 9999, infinities, huge numbers).
SQL_SEEDS = [
    "SELECT count(*) FROM logs",
    "SELECT * FROM logs LIMIT 5",
    "SELECT level, count(*) FROM logs GROUP BY 1 ORDER BY 2 DESC",
    "SELECT '10000-01-01'::DATE",
    "SELECT 'infinity'::TIMESTAMP",
    "SELECT 1e308 * 10",
    "SELECT 9223372036854775807::HUGEINT * 10",
    "SELECT [1, 2, 3], {'a': 1}",
    "SELECT interval 1 day, 'x'::BLOB, 1.5::DECIMAL(10, 2)",
]


@SETTINGS
@given(
    sql=st.one_of(
        st.sampled_from(SQL_SEEDS),
        st.sampled_from(SQL_SEEDS).map(str.encode).flatmap(mutated).map(lambda b: b.decode("utf-8", "replace")),
        texts,
        st.lists(sql_words, max_size=10).map(" ".join),
    ),
    extra=st.dictionaries(
        st.sampled_from(["start", "end", "limit", "timeout"]), st.one_of(json_scalars, times), max_size=4
    ),
)
def test_sql_never_5xx(client: TestClient, sql: str, extra: dict[str, Any]) -> None:
    body = {"sql": sql, **extra}
    assert_not_5xx(client.post("/api/v1/sql", content=dumps(body)), f"sql {body!r}")


ids = st.one_of(st.sampled_from(["id0", "id4", "t1", "x", "%00", "..", "a%2Fb"]), st.text(max_size=20))
counts = st.one_of(st.none(), st.integers(-5, 100_000).map(str), texts)


@SETTINGS
@given(log_id=ids, before=counts, after=counts, start=times, end=times)
def test_context_never_5xx(
    client: TestClient, log_id: str, before: str | None, after: str | None, start: str, end: str
) -> None:
    params = {"start": start, "end": end}
    params.update({k: v for k, v in {"before": before, "after": after}.items() if v is not None})
    path = f"/api/v1/context/{_path_part(log_id)}"
    assert_not_5xx(client.get(path, params=params), f"{path} {params!r}")


@SETTINGS
@given(trace_id=ids, limit=counts, start=times, end=times)
def test_trace_never_5xx(client: TestClient, trace_id: str, limit: str | None, start: str, end: str) -> None:
    params = {"start": start, "end": end, **({"limit": limit} if limit is not None else {})}
    path = f"/api/v1/trace/{_path_part(trace_id)}"
    assert_not_5xx(client.get(path, params=params), f"{path} {params!r}")


saved_bodies = st.one_of(
    json_values,
    st.fixed_dictionaries(
        {"name": st.one_of(texts, json_scalars), "query": st.one_of(queries, json_scalars)},
        optional={"start": st.one_of(times, json_scalars), "end": st.one_of(times, json_scalars), "id": json_scalars},
    ),
)


@SETTINGS
@given(
    method=st.sampled_from(["GET", "POST", "PUT", "DELETE"]),
    search_id=st.one_of(st.none(), ids),
    body=st.one_of(saved_bodies.map(dumps), st.binary(max_size=50)),
    tenant=tenants,
)
def test_saved_searches_never_5xx(
    client: TestClient, method: str, search_id: str | None, body: bytes, tenant: str | None
) -> None:
    path = "/api/v1/saved-searches" + (f"/{_path_part(search_id)}" if search_id is not None else "")
    resp = client.request(method, path, content=body if method in ("POST", "PUT") else None, headers=_headers(tenant))
    assert_not_5xx(resp, f"{method} {path} {body[:300]!r}")


def _path_part(value: str) -> str:
    # Keep the value in one path segment (an empty one would change the route).
    return quote(value, safe="") or "_"
