"""Parsing Loki's label strings and mapping labels onto core fields."""

from __future__ import annotations

import pytest

from logwarden.ingest.http.loki_labels import CoreLabels, LabelSyntaxError, parse_labels


def test_simple_labels() -> None:
    assert parse_labels('{app="api", host="web-1"}') == (("app", "api"), ("host", "web-1"))
    assert parse_labels("{}") == ()
    assert parse_labels(' { job = "varlogs" , } ') == (("job", "varlogs"),)


def test_escapes_inside_values() -> None:
    text = r'{msg="say \"hi\", then \\ leave", path="C:\\logs\\a.log", nl="a\nb", u="caf\u00e9", x="\x41\101"}'
    assert dict(parse_labels(text)) == {
        "msg": 'say "hi", then \\ leave',
        "path": "C:\\logs\\a.log",
        "nl": "a\nb",
        "u": "café",
        "x": "AA",
    }


def test_commas_and_braces_inside_values() -> None:
    assert dict(parse_labels('{a="x,y=z", b="}{"}')) == {"a": "x,y=z", "b": "}{"}


def test_unknown_escape_is_kept() -> None:
    assert dict(parse_labels(r'{a="\q"}')) == {"a": "\\q"}


@pytest.mark.parametrize(
    "text",
    [
        'app="api"',
        '{app="api"',
        "{app=api}",
        '{app="api" host="h"}',
        '{"app"="api"}',
        '{app="unterminated}',
        '{1app="x"}',
    ],
)
def test_malformed_labels(text: str) -> None:
    with pytest.raises(LabelSyntaxError):
        parse_labels(text)


def test_core_fields_from_labels() -> None:
    core = CoreLabels(
        {"job": "varlogs", "app": "api", "instance": "10.0.0.1:9100", "detected_level": "warn", "env": "prod"}
    )
    assert (core.service, core.host, core.level) == ("api", "10.0.0.1:9100", "warn")
    assert core.rest == {"job": "varlogs", "env": "prod"}


def test_service_name_priority_and_unknown_service() -> None:
    assert CoreLabels({"service_name": "checkout", "app": "x"}).service == "checkout"
    unknown = CoreLabels({"service_name": "unknown_service", "job": "nginx"})
    assert unknown.service == "nginx"
    assert unknown.rest == {}
    assert CoreLabels({"service_name": "unknown_service"}).service == "unknown_service"


def test_metadata_overrides_labels_per_entry() -> None:
    stream = CoreLabels({"app": "api", "level": "info", "env": "prod", "region": "eu"})
    entry = stream.overlaid({"level": "error", "trace_id": "abc", "region": "us", "user": "42"})
    assert (entry.service, entry.level, entry.trace_id) == ("api", "error", "abc")
    assert entry.rest == {"env": "prod", "region": "us", "user": "42"}
    assert stream.level == "info"
