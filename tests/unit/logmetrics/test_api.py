"""The server's log metrics: the subscriber on the bus, /api/v1/metrics/query_range (and its 400s),
/api/v1/metrics/definitions and the Prometheus exposition at /metrics/logs."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import orjson
import pytest
from starlette.testclient import TestClient

from logwarden.api.app import create_app
from logwarden.config.loader import ConfigError
from logwarden.logmetrics.subscriber import LogMetricsSubscriber
from tests.conftest import make_config

DEFINITIONS = """\
metrics:
  - name: http_requests
    query: 'service:web | extract "status=(?P<status>\\d+)"'
    labels: [status]
  - name: request_ms
    type: histogram
    query: 'service:web'
    field: ms
    labels: [service]
"""


@pytest.fixture
def client(tmp_path: Path) -> Iterator[TestClient]:
    (tmp_path / "metrics").mkdir()
    (tmp_path / "metrics" / "web.yaml").write_text(DEFINITIONS)
    config = make_config(tmp_path, **{"metrics.dir": str(tmp_path / "metrics")})
    with TestClient(create_app(config, run_maintenance=False)) as c:
        yield c


def ingest(client: TestClient, lines: list[dict[str, object]], tenant: str = "default") -> None:
    body = b"\n".join(orjson.dumps(x) for x in lines)
    headers = {"Content-Type": "application/x-ndjson", "X-Scope-OrgID": tenant}
    assert client.post("/api/v1/ingest", content=body, headers=headers).status_code == 200
    runtime = client.app.state.runtime  # type: ignore[attr-defined]
    assert runtime.bus.wait_caught_up()
    sub = client.app.state.log_metrics  # type: ignore[attr-defined]
    assert isinstance(sub, LogMetricsSubscriber)
    sub.flush()


def web_lines(at: datetime) -> list[dict[str, object]]:
    return [
        {
            "ts": (at + timedelta(seconds=i)).isoformat(),
            "service": "web",
            "level": "info",
            "ms": 10 * (i + 1),
            "msg": f"GET / status={200 if i % 4 else 500}",
        }
        for i in range(8)
    ]


def test_lines_become_series_queried_by_range(client: TestClient) -> None:
    now = datetime.now(UTC).replace(microsecond=0)
    at = (now - timedelta(minutes=10)).replace(second=0)  # every line in one minute
    ingest(client, web_lines(at))
    params = {
        "metric": "http_requests",
        "fn": "sum",
        "by": "status",
        "start": str(int((at - timedelta(minutes=1)).timestamp())),
        "end": str(int(now.timestamp())),
        "step": "1m",
    }
    resp = client.get("/api/v1/metrics/query_range", params=params)
    assert resp.status_code == 200, resp.text
    body = resp.json()
    assert body["tier"] == "1m" and body["step"] == 60
    totals = {s["labels"]["status"]: sum(v for _, v in s["values"]) for s in body["series"]}
    assert totals == {"200": 6, "500": 2}
    p99 = client.get("/api/v1/metrics/query_range", params={**params, "metric": "request_ms", "fn": "p99", "by": ""})
    assert p99.status_code == 200
    values = [v for _, v in p99.json()["series"][0]["values"]]
    assert max(values) == pytest.approx(70, rel=0.01)  # the 7th of 8 values: the rank below 0.99 × 7
    # The built-in series count every line by service and level; another tenant sees none of them.
    logs = client.get("/api/v1/metrics/query_range", params={**params, "metric": "logs_total", "by": "level"})
    assert [s["labels"] for s in logs.json()["series"]] == [{"level": "INFO"}]
    other = client.get("/api/v1/metrics/query_range", params=params, headers={"X-Scope-OrgID": "acme"})
    assert other.json()["series"] == []


def test_current_values_are_exposed_for_prometheus(client: TestClient) -> None:
    ingest(client, web_lines(datetime.now(UTC) - timedelta(minutes=1)))
    ingest(client, web_lines(datetime.now(UTC) - timedelta(minutes=1))[:1], tenant="acme")
    resp = client.get("/metrics/logs")
    assert resp.status_code == 200
    assert resp.headers["content-type"].startswith("text/plain; version=0.0.4")
    text = resp.text
    assert "# TYPE http_requests_total counter" in text
    assert 'http_requests_total{tenant="default",status="500"} 2' in text
    assert 'logs_total{tenant="default",service="web",level="INFO"} 8' in text
    assert 'logs_total{tenant="acme",service="web",level="INFO"} 1' in text
    assert 'request_ms_bucket{tenant="default",service="web",le="+Inf"} 8' in text
    only = client.get("/metrics/logs", headers={"X-Scope-OrgID": "acme"}).text
    assert 'tenant="default"' not in only and 'tenant="acme"' in only


def test_definitions_are_listed(client: TestClient) -> None:
    names = [m["name"] for m in client.get("/api/v1/metrics/definitions").json()["metrics"]]
    assert names == ["logs_total", "log_bytes_total", "http_requests", "request_ms"]


@pytest.mark.parametrize(
    ("params", "status", "message"),
    [
        ({}, 400, "metric is required"),
        ({"metric": "nope"}, 404, "no log metric named 'nope'"),
        ({"metric": "logs_total", "fn": "median"}, 400, "unknown fn 'median': use one of rate, sum"),
        ({"metric": "logs_total", "fn": "avg"}, 400, "fn avg needs a value: metric 'logs_total' is a counter"),
        ({"metric": "logs_total", "fn": "p95"}, 400, "fn p95 needs a distribution"),
        (
            {"metric": "logs_total", "by": "host"},
            400,
            "by: metric 'logs_total' has no label 'host' (its labels: service, level)",
        ),
        ({"metric": "logs_total", "step": "7s"}, 400, "invalid step '7s': a whole multiple of 10s"),
        ({"metric": "logs_total", "step": "soon"}, 400, "invalid step 'soon'"),
        ({"metric": "logs_total", "start": "yesterday"}, 400, "invalid start 'yesterday'"),
        ({"metric": "logs_total", "start": "now", "end": "now-1h"}, 400, "must be before end"),
        ({"metric": "logs_total", "start": "now-30d", "step": "10s"}, 400, "more than 11000 points"),
    ],
)
def test_bad_parameters_are_refused_with_a_clear_message(
    client: TestClient, params: dict[str, str], status: int, message: str
) -> None:
    resp = client.get("/api/v1/metrics/query_range", params=params)
    assert resp.status_code == status
    assert message in resp.json()["error"]


def test_a_server_without_log_metrics_answers_404(tmp_path: Path) -> None:
    config = make_config(tmp_path, **{"metrics.enabled": "false"})
    with TestClient(create_app(config, run_maintenance=False)) as c:
        resp = c.get("/metrics/logs")
        assert resp.status_code == 404
        assert "turned off" in resp.json()["error"]


def test_a_wrong_definition_stops_the_server_before_it_starts(tmp_path: Path) -> None:
    (tmp_path / "metrics").mkdir()
    (tmp_path / "metrics" / "bad.yaml").write_text("- name: bad\n  query: 'level:error | stats count()'\n")
    config = make_config(tmp_path, **{"metrics.dir": str(tmp_path / "metrics")})
    with pytest.raises(ConfigError, match=r"metric 'bad', field query: only line pipes"):
        create_app(config, run_maintenance=False)
