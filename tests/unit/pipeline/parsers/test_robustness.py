"""Every parser on arbitrary text: never raises, never loses or invents a line, errors align with rows."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.unit.pipeline.parsers.helpers import build, lines

PARSERS: list[dict[str, Any]] = [
    {"type": "json"},
    {"type": "logfmt"},
    {"type": "kv", "field_split": " ,", "value_split": "=:"},
    {"type": "regex", "pattern": [r"^(?P<a>\w+)=(?P<b>.*)$", r"(?P<n>\d+)"]},
    {"type": "grok", "pattern": ["%{COMBINEDAPACHELOG}", "%{SYSLOGLINE}", "%{IP:ip} %{NUMBER:n:int}"]},
    {"type": "nginx"},
    {"type": "apache", "format": "common"},
    {"type": "csv", "columns": ["a", "b"]},
    {"type": "dissect", "pattern": "%{a} [%{b}] %{c}"},
    {
        "type": "timestamp",
        "field": "message",
        "formats": ["ISO8601", "HTTPDATE", "SYSLOG", "UNIX", "%d.%m.%Y %H:%M:%S.%f"],
    },
]

TOKENS = [*"ab1 =:,\"'\\{}[]/-.\t\n\r\x00é漢\u2028", "GET ", "200", "::", "1.2.3.4", "Oct 11 ", "at "]
TEXT = st.lists(st.sampled_from(TOKENS), max_size=16).map("".join)


@pytest.mark.parametrize("settings_", PARSERS, ids=lambda s: str(s["type"]))
@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(texts=st.lists(TEXT, min_size=1, max_size=8))
def test_parsers_survive_arbitrary_text(settings_: dict[str, Any], texts: list[str]) -> None:
    processor = build(settings_)
    batch = lines(*texts)
    result = processor.process(batch)
    assert result.batch.num_rows == batch.num_rows
    assert result.batch.column("log_id").to_pylist() == batch.column("log_id").to_pylist()
    if result.errors is not None:
        assert len(result.errors) == batch.num_rows


@settings(max_examples=60, deadline=None)
@given(texts=st.lists(TEXT, min_size=1, max_size=12))
def test_multiline_keeps_every_character(texts: list[str]) -> None:
    batch = lines(*texts)
    result = build({"type": "multiline", "pattern": "^ "}).process(batch)
    assert result.batch.num_rows <= batch.num_rows
    assert "\n".join(result.batch.column("message").to_pylist()) == "\n".join(texts)
