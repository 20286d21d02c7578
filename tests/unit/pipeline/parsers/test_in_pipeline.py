"""Parsers inside a running pipeline: errors become pipeline_error, lines are never lost, order holds."""

from __future__ import annotations

from datetime import UTC, datetime

from logwarden.pipeline.runner import Pipeline, PipelineSet, Step
from tests.unit.pipeline.parsers.helpers import build, lines

ACCESS = '10.0.0.1 - - [10/Oct/2000:13:55:36 -0700] "GET /x HTTP/1.1" 404 5 "-" "curl/8"'


def test_grok_then_timestamp_with_a_bad_line_in_between() -> None:
    steps = (
        Step("multiline#1", build({"type": "multiline"})),
        Step("grok#2", build({"type": "grok", "pattern": "%{COMBINEDAPACHELOG}"})),
        Step("timestamp#3", build({"type": "timestamp", "formats": ["HTTPDATE"]})),
    )
    out = PipelineSet((Pipeline("web", steps),)).run(lines(ACCESS, "garbage", ACCESS))
    rows = out.batch.to_pylist()
    assert [r["message"] for r in rows] == [ACCESS, "garbage", ACCESS]
    assert rows[0]["response"] == "404" and rows[0]["agent"] == "curl/8"
    assert rows[0]["ts"] == datetime(2000, 10, 10, 20, 55, 36, tzinfo=UTC)
    assert rows[1]["pipeline_error"] == "grok#2: no grok pattern matched"
    assert rows[0]["pipeline_error"] is None


def test_dead_letter_on_parse_failure() -> None:
    step = Step("json#1", build({"type": "json"}), on_error="dead_letter")
    out = PipelineSet((Pipeline("p", (step,)),)).run(lines('{"a": 1}', "not json"))
    assert out.batch.column("a").to_pylist() == [1]
    [dead] = out.dead_letters
    assert dead.column("message").to_pylist() == ["not json"]
    assert dead.column("source").to_pylist() == ["dead_letter"]
