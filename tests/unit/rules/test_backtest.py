"""Backtests: the replay on its own (event times, gaps, peaks, evidence, page splits, bounds), through
POST /api/v1/rules/backtest on a real app and store, and `logwarden rules backtest` against a real server."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import orjson
import pyarrow as pa
import pytest
from click.testing import CliRunner
from starlette.testclient import TestClient

from logwarden.api.app import create_app
from logwarden.cli import main
from logwarden.ingest.ndjson import decode_json_body
from logwarden.model.normalize import BatchContext, normalize
from logwarden.rules.backtest import BacktestError, backtest, parse_rule, resolution_for, rule_mapping
from logwarden.rules.cli import _post_backtest
from logwarden.store.arrival import with_seq
from tests.conftest import TEST_RETENTION_DAYS, make_config
from tests.unit.rules.samples import make_dir

T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
RULE: dict[str, Any] = {
    "name": "error-burst",
    "type": "threshold",
    "query": "level:error",
    "group_by": ["service"],
    "window": "1m",
    "threshold": 3,
    "samples": 10,
}


def records(seconds: float, service: str, n: int, level: str = "error") -> list[dict[str, Any]]:
    ts = (T0 + timedelta(seconds=seconds)).isoformat()
    return [{"ts": ts, "level": level, "service": service, "msg": f"{service} {seconds:g}s #{i}"} for i in range(n)]


def table(lines: list[dict[str, Any]], tenant: str = "default") -> pa.Table:
    body = b"\n".join(orjson.dumps(r) for r in sorted(lines, key=lambda r: r["ts"]))
    return with_seq(1, normalize(decode_json_body(body).records, BatchContext(tenant, "http", T0)))


def pages(lines: list[dict[str, Any]] | pa.Table, size: int) -> list[pa.Table]:
    whole = lines if isinstance(lines, pa.Table) else table(lines)
    return [whole.slice(i, size) for i in range(0, whole.num_rows, size)]


def run(
    lines: list[dict[str, Any]] | pa.Table, *, size: int = 1000, until: timedelta = timedelta(hours=1), **rule: Any
) -> Any:
    spec = parse_rule({**RULE, **rule})
    return backtest(spec, pages(lines, size), tenant="default", since=T0, until=T0 + until)


def alerts(result: Any) -> list[tuple[str, str, str | None, float]]:
    return [(a["labels"]["service"], a["fired_at"], a["resolved_at"], a["peak"]) for a in result.to_json()["alerts"]]


def at(seconds: float) -> str:
    return (T0 + timedelta(seconds=seconds)).isoformat()


# --- the replay --------------------------------------------------------------------------------------


def test_a_burst_fires_at_its_event_time_and_resolves_when_its_window_empties() -> None:
    lines = records(0, "api", 2) + records(10, "api", 2) + records(20, "api", 6) + records(30, "web", 3)
    result = run(lines)
    # api: 4 > 3 at 10 s; the window holds 10 lines at 20 s (the peak); the last lines leave it at 80 s.
    assert alerts(result) == [("api", at(10), at(80), 10.0)]
    (alert,) = result.to_json()["alerts"]
    assert alert["duration_seconds"] == 70 and not alert["still_firing"]
    assert alert["labels"] == {"tenant": "default", "service": "api"}
    # Evidence: the newest matching lines of the group when it fired, oldest first.
    assert [e["message"] for e in alert["evidence"]] == ["api 0s #0", "api 0s #1", "api 10s #0", "api 10s #1"]
    assert result.lines_scanned == 13 and result.lines_matched == 13
    assert result.resolution == timedelta(seconds=1) and result.evaluations == 3600


def test_silence_resolves_inside_a_gap_and_an_alert_at_the_end_is_still_firing() -> None:
    # A burst, a silent half hour (nothing arrives: the clock resolves it), then a burst just before the end.
    lines = records(0, "api", 5) + records(3540, "api", 5)
    result = run(lines, keep_firing_for="2m")
    # The count last held at 59 s (the lines leave the window at 60 s); keep_firing_for holds it 2m more.
    assert alerts(result) == [("api", at(0), at(59 + 120), 5.0), ("api", at(3540), None, 5.0)]
    last = result.to_json()["alerts"][1]
    assert last["still_firing"] and last["duration_seconds"] == 60  # up to `until`


def test_pending_for_then_firing_and_hysteresis() -> None:
    # A line a second for 40 s: the count passes 3 at 3 s; `for: 10s` keeps it pending until 13 s.
    lines = [r for s in range(40) for r in records(s, "api", 1)]
    result = run(lines, **{"for": "10s", "resolve_below": 1})
    ((_, fired, resolved, peak),) = alerts(result)
    assert fired == at(13)
    # resolve_below 1: not once the count is no longer above 3 (at 96 s) but once it is down to 1 (at 98 s).
    assert resolved == at(98)
    assert peak == 40


def test_the_page_split_does_not_change_the_outcome() -> None:
    lines = records(0, "api", 3) + records(1, "api", 3) + records(1, "web", 7) + records(90, "web", 4)
    lines += [r for s in range(200, 260, 3) for r in records(s, "db", 2)]
    stored = table(lines)  # one table, so the lines keep their log ids
    whole = run(stored).to_json()
    for size in (1, 2, 5, 7):
        split = run(stored, size=size).to_json()
        assert split["alerts"] == whole["alerts"], size
        assert split["lines_scanned"] == whole["lines_scanned"]
    assert len(whole["alerts"]) == 4


def test_the_work_is_bounded_and_says_so() -> None:
    lines = records(0, "api", 5) + records(600, "api", 5)
    spec = parse_rule(RULE)
    result = backtest(spec, pages(lines, 2), tenant="default", since=T0, until=T0 + timedelta(hours=1), max_lines=6)
    assert result.capped and result.lines_scanned == 6
    # The replay stops with the last line read (one of the second burst: too few to fire).
    assert alerts(result) == [("api", at(0), at(60), 5.0)]
    assert result.to_json()["replayed_until"] == at(601)
    # A long range evaluates on a coarser grid: at most 20 000 evaluations.
    week = resolution_for(spec, T0, T0 + timedelta(days=7))
    assert week == timedelta(seconds=31)
    long = backtest(spec, pages(lines, 100), tenant="default", since=T0, until=T0 + timedelta(days=7))
    assert long.evaluations <= 20_000 and long.resolution == week
    assert [a["fired_at"] for a in long.to_json()["alerts"]] == [at(0), at(600)]


def test_an_absence_rule_fires_in_the_silence() -> None:
    lines = [r for s in range(0, 120, 10) for r in records(s, "api", 1)]
    spec = parse_rule({"name": "quiet", "type": "absence", "query": "*", "group_by": ["service"], "window": "1m"})
    result = backtest(spec, pages(lines, 3), tenant="default", since=T0, until=T0 + timedelta(minutes=10))
    ((service, fired, resolved, peak),) = alerts(result)
    assert service == "api" and resolved is None and peak == 0
    assert T0 + timedelta(seconds=170) <= datetime.fromisoformat(fired) <= T0 + timedelta(seconds=190)


def test_rules_are_checked_and_scheduled_rules_refused() -> None:
    with pytest.raises(BacktestError, match=r"^rule\.threshold: Input should be a valid number"):
        parse_rule({**RULE, "threshold": "many"})
    with pytest.raises(BacktestError, match=r"^rule\.type: unknown rule type 'nope'"):
        parse_rule({**RULE, "type": "nope"})
    with pytest.raises(BacktestError, match=r"^rule\.window: "):
        parse_rule({**RULE, "window": "soon"})
    assert parse_rule(rule_mapping(parse_rule(RULE))) == parse_rule(RULE)  # what the CLI sends reads back
    scheduled = parse_rule(
        {"name": "s", "type": "scheduled", "query": "level:error | stats count()", "window": "5m", "threshold": 1}
    )
    with pytest.raises(BacktestError, match=r"^rule\.type: "):
        backtest(scheduled, [], tenant="default", since=T0, until=T0 + timedelta(hours=1))


# --- the API -------------------------------------------------------------------------------------------


@pytest.fixture
def client(tmp_path: Path) -> Iterator[TestClient]:
    # A running rule with the backtested rule's name, which never alerts: the backtest must not touch it.
    rules = make_dir(tmp_path, {"r.yaml": _rule_file(threshold=1000)})
    config = make_config(tmp_path, **{"rules.dir": str(rules)})
    with TestClient(create_app(config, run_maintenance=False)) as c:
        yield c


def _rule_file(threshold: int) -> str:
    return f"""\
groups:
  - name: g
    rules:
      - name: error-burst
        type: threshold
        query: 'level:error'
        group_by: [service]
        window: 1m
        threshold: {threshold}
"""


def ingest(client: TestClient, lines: list[dict[str, Any]], tenant: str = "default") -> None:
    body = b"\n".join(orjson.dumps(r) for r in lines)
    r = client.post("/api/v1/ingest", content=body, headers={"X-Scope-OrgID": tenant})
    assert r.status_code == 200 and r.json()["accepted"] == len(lines), r.text


def post(client: TestClient, body: dict[str, Any], **headers: str) -> Any:
    return client.post("/api/v1/rules/backtest", json=body, headers=headers)


BODY = {"rule": RULE, "since": "2026-03-01T11:00:00Z", "until": "2026-03-01T13:00:00Z"}


def test_the_api_replays_the_tenants_stored_lines(client: TestClient) -> None:
    ingest(client, records(0, "api", 5) + records(5, "web", 2))
    ingest(client, records(1, "web", 9), tenant="acme")
    r = post(client, BODY)
    assert r.status_code == 200, r.text
    doc = r.json()
    assert [(a["labels"], a["fired_at"], a["resolved_at"]) for a in doc["alerts"]] == [
        ({"tenant": "default", "service": "api"}, at(0), at(60))
    ]
    assert doc["lines_scanned"] == 7 and doc["alerts_total"] == 1 and not doc["capped"]
    assert doc["since"] == "2026-03-01T11:00:00+00:00" and doc["replayed_until"] == "2026-03-01T13:00:00+00:00"
    acme = post(client, BODY, **{"X-Scope-OrgID": "acme"}).json()
    assert [a["labels"]["service"] for a in acme["alerts"]] == ["web"] and acme["lines_scanned"] == 9
    # The server's own rule of that name saw the same lines and did not alert; nothing was added to it.
    engine = client.app.state.runtime.rules  # type: ignore[attr-defined]
    assert engine.alerts() == [] and engine.history() == []
    assert post(client, {**BODY, "max_lines": 3}).json()["capped"] is True


def test_the_api_streams_progress_then_the_result(client: TestClient) -> None:
    ingest(client, records(0, "api", 5))
    r = post(client, BODY, accept="application/x-ndjson")
    assert r.status_code == 200 and r.headers["content-type"].startswith("application/x-ndjson")
    lines = [json.loads(x) for x in r.text.splitlines()]
    assert all("progress" in x for x in lines[:-1]) and len(lines) >= 2
    assert lines[0]["progress"]["lines"] == 5 and lines[0]["progress"]["at"] == at(0)
    assert lines[-1]["result"]["alerts_total"] == 1


def test_a_rule_that_starts_from_history_learns_the_lines_before_since(client: TestClient) -> None:
    logins = [(0, "ann"), (3600, "bob"), (5 * 3600, "ann"), (6 * 3600, "cid")]
    ingest(client, [{"ts": at(s), "message": "login", "user": user} for s, user in logins])
    rule = {"name": "new-user", "type": "new_value", "query": "message:login", "fields": ["user"], "window": "5m"}
    body = {"rule": rule, "since": "2026-03-01T16:00:00Z", "until": "2026-03-01T20:00:00Z"}
    doc = post(client, body).json()
    # ann logged in before `since`: not new; cid is.
    assert [(a["labels"]["user"], a["fired_at"]) for a in doc["alerts"]] == [("cid", at(6 * 3600))]
    assert doc["lines_scanned"] == 2


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({**BODY, "rule": {**RULE, "threshold": "x"}}, "rule.threshold: Input should be a valid number"),
        ({**BODY, "rule": {**RULE, "query": "a AND ("}}, "rule.query: invalid query at column"),
        ({**BODY, "rule": {k: v for k, v in RULE.items() if k != "window"}}, "rule.window: Field required"),
        ({**BODY, "rule": "error-burst"}, "rule: must be a mapping"),
        ({"since": "now-1d"}, 'missing "rule"'),
        ({**BODY, "since": "yesterday"}, "invalid since 'yesterday'"),
        ({**BODY, "until": "2026-03-01T10:00:00Z"}, "must be before until"),
        ({**BODY, "max_lines": 0}, "invalid 'max_lines'"),
        ({**BODY, "since": 5}, "invalid 'since'"),
    ],
)
def test_the_api_names_what_is_wrong(client: TestClient, body: dict[str, Any], message: str) -> None:
    r = post(client, body)
    assert r.status_code == 400 and message in r.json()["error"], r.text


def test_the_api_refuses_a_body_that_is_not_a_json_object(client: TestClient) -> None:
    for content in (b"{", b"[1]"):
        r = client.post("/api/v1/rules/backtest", content=content)
        assert r.status_code == 400, r.text


# --- the command, against a real server ----------------------------------------------------------------


@pytest.mark.slow
def test_the_cli_backtests_a_rule_of_a_directory_on_a_running_server(tmp_path: Path, server_factory: Any) -> None:
    server = server_factory(env={"LOGWARDEN_STORE__RETENTION_DAYS": str(TEST_RETENTION_DAYS)})
    import httpx

    body = b"\n".join(orjson.dumps(r) for r in records(0, "api", 5) + records(300, "web", 4))
    assert httpx.post(server.url + "/api/v1/ingest", content=body, timeout=30).status_code == 200
    rules = make_dir(tmp_path, {"r.yaml": _rule_file(threshold=3)})
    args = ["rules", "backtest", "error-burst", "--rules", str(rules), "--server", server.url]
    args += ["--since", "2026-03-01T11:00:00Z", "--until", "2026-03-01T13:00:00Z"]
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 0, result.output
    table = result.stdout.splitlines()
    assert table[0].split() == ["LABELS", "FIRED", "RESOLVED", "DURATION", "PEAK"]
    assert table[1].split() == ["service=api", at(0), at(60), "1m", "5"]
    assert table[2].split() == ["service=web", at(300), at(360), "1m", "4"]
    assert "error-burst: 2 alert(s)" in result.stderr and "9 lines read" in result.stderr
    as_json = CliRunner().invoke(main, [*args, "--output", "json"])
    assert as_json.exit_code == 0 and json.loads(as_json.stdout)["alerts_total"] == 2
    # The streamed form (a terminal shows its progress) gives the same result.
    streamed = _post_backtest(
        server.url,
        {"rule": RULE, "since": "2026-03-01T11:00:00Z", "until": "2026-03-01T13:00:00Z"},
        None,
        progress=True,
    )
    assert streamed["alerts_total"] == 2
    missing = CliRunner().invoke(main, ["rules", "backtest", "nope", "--rules", str(rules), "--server", server.url])
    assert missing.exit_code == 1 and "no rule 'nope'" in missing.stderr and "error-burst" in missing.stderr
    bad = CliRunner().invoke(main, [*args[:5], "--server", server.url, "--since", "soon"])
    assert bad.exit_code == 1 and "400: invalid since 'soon'" in bad.stderr


def test_the_cli_says_when_the_server_cannot_be_reached(tmp_path: Path) -> None:
    from tests.conftest import free_port

    rules = make_dir(tmp_path, {"r.yaml": _rule_file(threshold=3)})
    url = f"http://127.0.0.1:{free_port()}"
    result = CliRunner().invoke(main, ["rules", "backtest", "error-burst", "--rules", str(rules), "--server", url])
    assert result.exit_code == 1 and f"cannot reach {url}" in result.stderr
