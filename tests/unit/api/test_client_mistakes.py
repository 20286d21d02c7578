"""Client mistakes in times, spans and intervals answer 400 naming the parameter, never 500."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import orjson
import pytest
from starlette.testclient import TestClient

from logwarden.query.parser import PIPE_NAMES


@pytest.fixture
def loaded(client: TestClient) -> TestClient:
    # Lines from the moment of the test, so retention and the future grace never refuse them.
    now = datetime.now(UTC)
    lines = [{"ts": (now - timedelta(minutes=i)).isoformat(), "msg": f"line {i}", "level": "info"} for i in range(5)]
    resp = client.post("/api/v1/ingest", content=b"\n".join(orjson.dumps(line) for line in lines))
    assert resp.status_code == 200, resp.text
    return client


@pytest.mark.parametrize(
    ("url", "parameter"),
    [
        ("/api/v1/query?start=99999999999999999999", "start"),
        ("/api/v1/query?start=now-1000000d", "start"),
        ("/api/v1/query?end=now%2B3000000d", "end"),
        ("/api/v1/search?start=99999999999999999999", "start"),
        ("/api/v1/stats/count?start=now-1000000d", "start"),
        ("/api/v1/histogram?start=now-99999999999999999999d", "start"),
        ("/api/v1/fields?end=99999999999999999999", "end"),
        ("/api/v1/context/x?start=now-1000000d", "start"),
        ("/api/v1/trace/x?end=99999999999999999999", "end"),
        ("/api/v1/histogram?interval=9999999999999d", "interval"),
        ("/api/v1/histogram?interval=36601d", "interval"),
        ("/api/v1/query?q=*%20|%20timechart%20span=9999999999999d%20count()", "span"),
        ("/api/v1/query?q=_time:[now-1000000d%20TO%20now]", "_time start"),
        ("/api/v1/query?limit=" + "9" * 5000, "limit"),
        ("/api/v1/search?limit=%C2%B2", "limit"),
        ("/api/v1/context/x?before=" + "9" * 5000, "before"),
        ("/api/v1/context/x?after=%C2%B2", "after"),
        ("/api/v1/trace/x?limit=%C2%B2", "limit"),
    ],
)
def test_out_of_range_answers_400_naming_the_parameter(loaded: TestClient, url: str, parameter: str) -> None:
    resp = loaded.get(url)
    assert resp.status_code == 400, resp.text
    assert parameter in resp.json()["error"]


def test_span_aligned_before_year_one_is_400(loaded: TestClient) -> None:
    resp = loaded.get(
        "/api/v1/query", params={"q": "* | timechart span=36600d count()", "start": "0005-01-01T00:00:00Z"}
    )
    assert resp.status_code == 400, resp.text
    assert "year 1" in resp.json()["error"]
    resp = loaded.get("/api/v1/histogram", params={"interval": "36600d", "start": "0005-01-01T00:00:00Z"})
    assert resp.status_code == 400, resp.text
    assert "interval" in resp.json()["error"]


def test_whole_representable_range_is_queryable(loaded: TestClient) -> None:
    window = {"start": "0001-01-01T00:00:00Z", "end": "9999-12-31T23:59:59Z"}
    assert loaded.get("/api/v1/query", params={"q": "*", **window}).json()["total"] == 5
    resp = loaded.get("/api/v1/histogram", params={"buckets": "1000", **window})
    assert resp.status_code in (200, 400), resp.text
    resp = loaded.get("/api/v1/query", params={"q": "* | timechart span=1d count()", "start": "now-1h"})
    assert resp.status_code == 200, resp.text


def test_end_in_the_future_is_accepted(loaded: TestClient) -> None:
    resp = loaded.get("/api/v1/query", params={"q": "*", "start": "now-1h", "end": "now+30d"})
    assert resp.status_code == 200, resp.text
    assert resp.json()["total"] == 5


def test_unknown_pipe_lists_every_pipe(loaded: TestClient) -> None:
    resp = loaded.get("/api/v1/query", params={"q": "error | bogus x"})
    assert resp.status_code == 400
    body = resp.json()
    assert body["column"] == 9
    names = {"stats", "top", "rare", "timechart", "sort", "limit", "head", "fields", "where"}
    names |= {"extract", "json", "logfmt", "eval", "patterns"}
    for name in names:
        assert name in body["error"]
    assert set(PIPE_NAMES) == names


def test_blank_filter_value_is_no_filter(loaded: TestClient) -> None:
    # `level= ` used to reach the store as an empty IN list and fail there.
    resp = loaded.get("/api/v1/search", params={"q": "line", "level": " , ", "start": "now-1h"})
    assert resp.status_code == 200, resp.text
    assert resp.json()["total"] == 5


def test_time_clause_takes_now_plus(loaded: TestClient) -> None:
    resp = loaded.get("/api/v1/query", params={"q": "_time:[now-1h TO now+1h]", "end": "now+2h"})
    assert resp.status_code == 200, resp.text
    assert resp.json()["total"] == 5
