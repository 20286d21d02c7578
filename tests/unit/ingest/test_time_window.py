"""Event times every source may store: unsupported times never reach the store, lines older than retention
are refused with a reason the client sees, lines stamped too far ahead become dead letters."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import orjson
import pyarrow as pa
import pytest
from google.protobuf.timestamp_pb2 import Timestamp
from starlette.testclient import TestClient

from logwarden.api.app import create_app
from logwarden.ingest.http.proto import loki_push_pb2 as logproto
from logwarden.ingest.time_window import TimeWindow, apply_window
from logwarden.model.normalize import BatchContext, widen
from logwarden.model.timestamps import parse_timestamps
from tests.conftest import free_port, make_config
from tests.unit.ingest.http.searching import by_message, iso, recent, stored
from tests.unit.ingest.http.test_loki import PROTOBUF, snappy_push

NDJSON = {"Content-Type": "application/x-ndjson"}


@pytest.fixture
def app(tmp_path: Path) -> Iterator[TestClient]:
    with TestClient(create_app(make_config(tmp_path, **{"store.retention_days": 7}), run_maintenance=False)) as c:
        yield c


def applied(client: TestClient, timeout: float = 20) -> None:
    """Everything acknowledged so far reaches DuckDB (on an applier stuck on a poison batch: fail, not hang)."""
    store = client.app.state.runtime.store  # type: ignore[attr-defined]
    done = threading.Event()

    def flush() -> None:
        store.flush_blocking()
        done.set()

    threading.Thread(target=flush, daemon=True).start()
    assert done.wait(timeout), "the store stopped applying acknowledged batches"


def metric(client: TestClient, line_start: str) -> float:
    for line in client.get("/metrics").text.splitlines():
        if line.startswith(line_start):
            return float(line.rsplit(" ", 1)[1])
    return 0.0


# --- the parser: no value, however odd, wraps, raises or leaves the supported range -----------------------


RECEIVED = datetime(2026, 12, 6, 12, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    "values",
    [
        ["10000-01-01T00:00:00Z", "-0001-01-01T00:00:00Z", "0000-01-01T00:00:00Z", "+10000-01-01T00:00:00Z"],
        [1e21, 1e308, -1e308, float("inf"), float("nan")],
        [-(2**63), 2**63 - 1],
        ["1e21", "123456789012345678901234567890", "-9223372036854775808", "9" * 19, "1e308.5", "99999999999.5e9"],
    ],
    ids=["iso", "floats", "int64-edges", "strings"],
)
def test_unsupported_times_parse_as_null(values: list[Any]) -> None:
    parsed = parse_timestamps(pa.array(values), RECEIVED).to_pylist()
    assert all(
        v is None or datetime(1, 1, 1, tzinfo=UTC) <= v <= datetime(9999, 12, 31, 23, 59, 59, tzinfo=UTC)
        for v in parsed
    )
    assert parsed[0] is None


@pytest.mark.parametrize(
    ("unit", "value"),
    [("s", 253402300800), ("ms", 2**62), ("s", -62135596801)],
)
def test_coarse_timestamp_units_beyond_the_range_are_null(unit: str, value: int) -> None:
    assert parse_timestamps(pa.array([value], pa.timestamp(unit)), RECEIVED).to_pylist() == [None]


def test_the_edges_of_the_supported_range_parse() -> None:
    got = parse_timestamps(pa.array(["0001-01-01T00:00:00Z", "9999-12-31T23:59:59Z"]), RECEIVED).to_pylist()
    assert got == [datetime(1, 1, 1, tzinfo=UTC), datetime(9999, 12, 31, 23, 59, 59, tzinfo=UTC)]


@pytest.mark.parametrize(
    ("received", "stamp", "expected"),
    [
        # Four days ahead of the receive time is last year's December, not a line from the future.
        (datetime(2026, 12, 6, 12, 0, tzinfo=UTC), "Dec 10 10:00:00", datetime(2025, 12, 10, 10, 0, tzinfo=UTC)),
        # Within a day ahead (a fast clock): this year's.
        (datetime(2026, 12, 6, 12, 0, tzinfo=UTC), "Dec  7 01:00:00", datetime(2026, 12, 7, 1, 0, tzinfo=UTC)),
        (datetime(2027, 1, 1, 0, 5, tzinfo=UTC), "Dec 31 23:59:00", datetime(2026, 12, 31, 23, 59, tzinfo=UTC)),
        (datetime(2026, 12, 31, 23, 30, tzinfo=UTC), "Jan  1 00:10:00", datetime(2027, 1, 1, 0, 10, tzinfo=UTC)),
        (datetime(2026, 12, 6, 12, 0, tzinfo=UTC), "Jan  1 00:00:00", datetime(2026, 1, 1, 0, 0, tzinfo=UTC)),
    ],
)
def test_rfc3164_year_is_never_more_than_a_day_ahead(received: datetime, stamp: str, expected: datetime) -> None:
    assert parse_timestamps(pa.array([stamp]), received).to_pylist() == [expected]


# --- every protocol: an unsupported time is stored at the receive time, and the store keeps applying -------


@pytest.mark.parametrize(
    "line",
    [
        b'{"ts":"10000-01-01T00:00:00Z","msg":"poison"}',
        b'{"ts":"-0001-01-01T00:00:00Z","msg":"poison"}',
        b'{"ts":1e21,"msg":"poison"}',
        b'{"ts":1e308,"msg":"poison"}',
        b'{"time":"0000-01-01T00:00:00Z","msg":"poison"}',
    ],
)
def test_native_unsupported_time_is_kept_at_receive_time(app: TestClient, line: bytes) -> None:
    before = datetime.now(UTC)
    resp = app.post("/api/v1/ingest", content=line + b'\n{"msg":"neighbour"}')
    assert resp.json() == {"accepted": 2, "rejected": 0}
    applied(app)
    app.post("/api/v1/ingest", content=b'{"msg":"after"}')
    applied(app)
    hits = by_message(stored(app))
    assert set(hits) == {"poison", "neighbour", "after"}
    poison = hits["poison"]
    assert datetime.fromisoformat(poison["ts"].replace("Z", "+00:00")) >= before - timedelta(seconds=1)
    original = orjson.loads(line)
    key = "ts" if "ts" in original else "time"
    # The value as sent stays in attrs (the JSON reader may spell a number or a stamp its own way).
    kept, sent = str(poison["attrs"][key]), str(original[key])
    assert kept.replace("+", "").replace(" ", "T").rstrip("Z") == sent.replace("+", "").rstrip("Z")


def test_bulk_timestamp_in_year_10000(app: TestClient) -> None:
    body = b'{"index":{"_index":"app"}}\n{"@timestamp":"10000-01-01T00:00:00Z","message":"far"}\n'
    resp = app.post("/_bulk", content=body, headers=NDJSON)
    assert resp.status_code == 200 and resp.json()["errors"] is False
    applied(app)
    hit = by_message(stored(app))["far"]
    assert hit["attrs"]["@timestamp"] == "10000-01-01T00:00:00Z"


def test_loki_protobuf_seconds_past_9999(app: TestClient) -> None:
    far = logproto.EntryAdapter(timestamp=Timestamp(seconds=253402300800), line="far")
    ok = logproto.EntryAdapter(timestamp=Timestamp(seconds=int(recent().timestamp())), line="ok")
    body = snappy_push(logproto.StreamAdapter(labels='{app="x"}', entries=[far, ok]))
    assert app.post("/loki/api/v1/push", content=body, headers=PROTOBUF).status_code == 204
    applied(app)
    assert {"ok"} <= set(by_message(stored(app)))
    # The entry that cannot be stored as sent is not lost: stored (or dead-lettered) with its receive time.
    assert "far" in by_message(stored(app))


def test_otlp_time_of_thirty_digits(app: TestClient) -> None:
    record = {"timeUnixNano": "1" * 30, "body": {"stringValue": "far"}}
    body = {"resourceLogs": [{"scopeLogs": [{"logRecords": [record, {"body": {"stringValue": "ok"}}]}]}]}
    resp = app.post("/v1/logs", content=orjson.dumps(body), headers={"Content-Type": "application/json"})
    assert resp.status_code == 200, resp.text
    assert resp.json()["partialSuccess"]["rejectedLogRecords"] in (1, "1")  # not a fixed64: a dead letter
    applied(app)
    hits = stored(app)
    assert "ok" in by_message(hits)
    dead = [h for h in hits if h["source"] == "dead_letter"]
    assert len(dead) == 1 and "1" * 30 in dead[0]["message"] and "unsigned 64-bit" in dead[0]["attrs"]["error"]


def test_otlp_protobuf_largest_fixed64_is_a_future_dead_letter(app: TestClient) -> None:
    from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest
    from opentelemetry.proto.logs.v1.logs_pb2 import LogRecord, ResourceLogs, ScopeLogs

    record = LogRecord(time_unix_nano=2**64 - 1)
    record.body.string_value = "far"
    request = ExportLogsServiceRequest(resource_logs=[ResourceLogs(scope_logs=[ScopeLogs(log_records=[record])])])
    resp = app.post("/v1/logs", content=request.SerializeToString(), headers={"Content-Type": "application/x-protobuf"})
    assert resp.status_code == 200
    applied(app)
    hit = by_message(stored(app))["far"]
    assert hit["source"] == "dead_letter" and "future_grace" in hit["attrs"]["error"]


def test_udp_syslog_year_zero(tmp_path: Path) -> None:
    port = free_port()
    cfg = make_config(tmp_path, **{"syslog.udp.port": port})
    with TestClient(create_app(cfg, run_maintenance=False)) as client:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
            s.sendto(b"<34>1 0000-01-01T00:00:00Z h a - - - poison", ("127.0.0.1", port))
            deadline = time.monotonic() + 10
            while "poison" not in by_message(stored(client)):
                assert time.monotonic() < deadline, "the datagram was not stored"
                time.sleep(0.05)
        applied(client)
        client.post("/api/v1/ingest", content=b'{"msg":"after"}')
        applied(client)
        assert "after" in by_message(stored(client))


# --- older than retention: refused, with a reason the client sees --------------------------------------


def old(days: float) -> str:
    return iso(datetime.now(UTC) - timedelta(days=days))


def test_native_refuses_lines_older_than_retention(app: TestClient) -> None:
    body = b"\n".join(
        orjson.dumps({"ts": ts, "msg": msg})
        for ts, msg in [(old(400), "ancient"), ("2005-01-01T00:00:00Z", "archaeology"), (old(3), "recent enough")]
    )
    answer = app.post("/api/v1/ingest", content=body).json()
    assert answer["accepted"] == 1 and answer["rejected"] == 0 and answer["refused"] == 2
    assert "older than the retention of tenant 'default' (7 days)" in answer["refused_reason"]
    assert "2005-01-01T00:00:00Z" in answer["refused_reason"]
    applied(app)
    hits = app.get("/api/v1/search", params={"start": "30000d", "limit": "100"}).json()["hits"]
    assert [h["message"] for h in hits] == ["recent enough"]  # kept: within retention, older than the hot window
    assert metric(app, 'logwarden_rejected_lines_total{reason="too_old",source="http",tenant="default"}') == 2


def test_bulk_answers_each_refused_item_with_400(app: TestClient) -> None:
    body = (
        b'{"index":{"_index":"app"}}\n{"@timestamp":"2010-01-01T00:00:00Z","message":"old"}\n'
        b'{"create":{"_index":"app","_id":"keep"}}\n'
        + orjson.dumps({"@timestamp": old(0.01), "message": "new"})
        + b"\n"
        b'{"index":{"_index":"app"}}\n{"@timestamp":"2011-01-01T00:00:00Z","message":"old too"}\n'
    )
    answer = app.post("/_bulk", content=body, headers=NDJSON).json()
    assert answer["errors"] is True
    statuses = [next(iter(item.values()))["status"] for item in answer["items"]]
    assert statuses == [400, 201, 400]
    reason = answer["items"][0]["index"]["error"]["reason"]
    assert "older than the retention" in reason
    applied(app)
    assert set(by_message(stored(app))) == {"new"}


def test_loki_answers_400_for_old_entries_and_stores_the_rest(app: TestClient) -> None:
    entries = [
        logproto.EntryAdapter(timestamp=Timestamp(seconds=1_200_000_000), line="2008"),
        logproto.EntryAdapter(timestamp=Timestamp(seconds=int(recent().timestamp())), line="now"),
    ]
    resp = app.post(
        "/loki/api/v1/push",
        content=snappy_push(logproto.StreamAdapter(labels='{app="x"}', entries=entries)),
        headers=PROTOBUF,
    )
    assert resp.status_code == 400
    assert "older than the retention" in resp.text
    applied(app)
    assert set(by_message(stored(app))) == {"now"}


def test_otlp_reports_old_records_as_partial_success(app: TestClient) -> None:
    records = [
        {"timeUnixNano": str(1_200_000_000 * 10**9), "body": {"stringValue": "2008"}},
        {"body": {"stringValue": "now"}},
    ]
    body = {"resourceLogs": [{"scopeLogs": [{"logRecords": records}]}]}
    resp = app.post("/v1/logs", content=orjson.dumps(body), headers={"Content-Type": "application/json"})
    assert resp.status_code == 200
    partial = resp.json()["partialSuccess"]
    assert partial["rejectedLogRecords"] == "1" or partial["rejectedLogRecords"] == 1
    assert "older than the retention" in partial["errorMessage"]


def test_tenant_retention_decides(tmp_path: Path) -> None:
    cfg = make_config(tmp_path, **{"store.retention_days": 7, "store.tenants": {"long": {"retention_days": 30}}})
    with TestClient(create_app(cfg, run_maintenance=False)) as client:
        line = orjson.dumps({"ts": old(20), "msg": "twenty days"})
        assert client.post("/api/v1/ingest", content=line).json()["refused"] == 1
        answer = client.post("/api/v1/ingest", content=line, headers={"X-Scope-OrgID": "long"}).json()
        assert answer == {"accepted": 1, "rejected": 0}


# --- too far in the future: a dead letter at its receive time -------------------------------------------


def test_future_lines_become_dead_letters(app: TestClient) -> None:
    ahead = iso(datetime.now(UTC) + timedelta(hours=3))
    slightly = iso(datetime.now(UTC) + timedelta(minutes=30))
    body = (
        orjson.dumps({"ts": ahead, "msg": "ahead", "error": "own"})
        + b"\n"
        + orjson.dumps({"ts": slightly, "msg": "skewed"})
    )
    assert app.post("/api/v1/ingest", content=body).json() == {"accepted": 1, "rejected": 1}
    applied(app)
    end = iso(datetime.now(UTC) + timedelta(days=1))
    hits = app.get("/api/v1/search", params={"start": "1d", "end": end}).json()["hits"]
    found = by_message(hits)
    assert found["skewed"]["source"] == "http"
    dead = found["ahead"]
    assert dead["source"] == "dead_letter"
    assert "ingest.future_grace" in dead["attrs"]["error"] and ahead[:16] in dead["attrs"]["error"].replace(" ", "T")
    assert dead["attrs"]["original_error"] == "own" and dead["attrs"]["original_source"] == "http"
    assert datetime.fromisoformat(dead["ts"].replace("Z", "+00:00")) < datetime.now(UTC) + timedelta(minutes=1)


def test_window_is_vectorized_per_retention_class() -> None:
    received = datetime(2026, 12, 6, 12, 0, tzinfo=UTC)
    ctx = BatchContext(tenant="t", source="test", received=received)
    raw = pa.table(
        {
            "ts": ["2026-11-20T00:00:00Z", "2026-11-20T00:00:00Z", "2026-11-29T00:00:00Z", "2026-12-06T13:00:00Z"],
            "retention_class": [None, "audit", None, None],
        }
    )
    window = TimeWindow(retention_days=7, future_grace=timedelta(hours=2), class_days={"audit": 30})
    out = apply_window(widen(raw, ctx), window, received)
    assert out.refused == 1 and out.future is None
    assert out.kept.num_rows == 3
    # The oldest day kept is the one seven days back, whole (the boundary maintenance uses).
    assert window.cutoff(received, 7) == datetime(2026, 11, 29, tzinfo=UTC)
