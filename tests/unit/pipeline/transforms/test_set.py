from __future__ import annotations

import pytest
from pydantic import ValidationError

from tests.unit.pipeline.transforms.helpers import column, parse_config, run


def test_set_constant_overwrites_every_line() -> None:
    out = run({"type": "set", "field": "team", "value": "payments"}, [{"message": "a", "team": "x"}, {"message": "b"}])
    assert column(out, "team") == ["payments", "payments"]


def test_set_number_keeps_its_type() -> None:
    out = run({"type": "set", "field": "weight", "value": 3}, [{"message": "a"}])
    assert column(out, "weight") == [3]


def test_template_derives_a_field_and_skips_lines_missing_a_reference() -> None:
    out = run(
        {"type": "set", "field": "route", "template": "{service}-{status}"},
        [{"message": "a", "service": "api", "status": 200}, {"message": "b", "service": "api"}],
    )
    assert column(out, "route") == ["api-200", None]


def test_template_with_literal_braces() -> None:
    out = run({"type": "set", "field": "k", "template": "{{{service}}}"}, [{"message": "a", "service": "api"}])
    assert column(out, "k") == ["{api}"]


def test_default_only_fills_missing_values() -> None:
    records = [{"message": "a", "env": "dev"}, {"message": "b"}, {"message": "c", "env": None}]
    out = run({"type": "default", "field": "env", "value": "prod"}, records)
    assert column(out, "env") == ["dev", "prod", "prod"]
    out = run({"type": "set", "field": "env", "value": "prod", "default": True}, records)
    assert column(out, "env") == ["dev", "prod", "prod"]


def test_set_core_field_service_and_level() -> None:
    out = run({"type": "set", "field": "level", "value": "warning"}, [{"message": "a"}])
    assert column(out, "level") == ["WARN"]
    assert column(out, "severity") == [13]


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        ({"field": "x"}, "exactly one"),
        ({"field": "x", "value": 1, "template": "{a}"}, "exactly one"),
        ({"field": "x", "template": "{a"}, "unmatched"),
        ({"field": "x", "template": "{a b}"}, "invalid field name"),
        ({"field": "severity", "value": 3}, "cannot be changed"),
    ],
)
def test_bad_set_configs_are_refused(settings: dict[str, object], message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        parse_config({"type": "set", **settings})
