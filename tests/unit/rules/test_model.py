"""The rule file model: the issue's example validates as written; defaults and bounds."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
import yaml
from pydantic import ValidationError

from logwarden.rules.model import RuleFile
from logwarden.rules.types import KNOWN_TYPES, ThresholdRule
from tests.unit.rules.samples import EXAMPLE


def rule(**overrides: Any) -> dict[str, Any]:
    base: dict[str, Any] = {"name": "r", "type": "threshold", "query": "level:error", "window": "1m", "threshold": 5}
    return {**base, **overrides}


def validate(*rules: dict[str, Any]) -> RuleFile:
    return RuleFile.model_validate({"groups": [{"name": "g", "rules": list(rules)}]})


def test_the_issue_example_validates_as_written() -> None:
    file = RuleFile.model_validate(yaml.safe_load(EXAMPLE))
    (r,) = file.groups[0].rules
    assert isinstance(r, ThresholdRule)
    assert (r.name, r.query, r.group_by, r.window, r.threshold) == (
        "error-burst", "level:error", ("service",), timedelta(minutes=1), 100.0
    )  # fmt: skip
    assert r.for_ == timedelta(0) and r.severity == "critical" and r.enabled
    assert r.annotations == {"summary": "{{ labels.service }} logged {{ value }} errors in 1m"}


def test_defaults() -> None:
    (r,) = validate(rule()).groups[0].rules
    assert r.severity == "warning" and r.max_delay == timedelta(seconds=5) and r.samples == 10
    assert r.keep_firing_for == timedelta(0) and r.labels == {} and r.group_by == ()
    assert isinstance(r, ThresholdRule) and r.resolve_below is None


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"window": "0s"}, "window"),
        ({"for": "-1s"}, "for"),
        ({"samples": 101}, "samples"),
        ({"severity": "page"}, "severity"),
        ({"resolve_below": 6}, "resolve_below"),
        ({"name": "has space"}, "name"),
        ({"group_by": ["a b"]}, "group_by"),
        ({"labels": {"bad-key": "x"}}, "labels"),
        ({"unknown": 1}, "unknown"),
        ({"query": "level:error AND ("}, "query"),
    ],
)
def test_invalid_settings_are_refused_naming_the_field(overrides: dict[str, Any], field: str) -> None:
    with pytest.raises(ValidationError) as caught:
        validate(rule(**overrides))
    assert [err["loc"][-1] for err in caught.value.errors()] == [field]


def test_resolve_below_at_most_threshold_is_accepted() -> None:
    (r,) = validate(rule(threshold=10, resolve_below=10)).groups[0].rules
    assert isinstance(r, ThresholdRule) and r.resolve_below == 10


def test_models_are_frozen() -> None:
    (r,) = validate(rule()).groups[0].rules
    with pytest.raises(ValidationError):
        r.name = "other"  # type: ignore[misc]


def test_known_types_are_registered() -> None:
    # Every type the issue names (one module each under rules/types/), found on import.
    assert set(KNOWN_TYPES) >= {
        "threshold", "aggregate", "ratio", "absence", "new_value", "change", "list", "cardinality",
        "sequence", "spike", "anomaly", "pattern", "scheduled",
    }  # fmt: skip
    assert list(KNOWN_TYPES) == sorted(KNOWN_TYPES)
