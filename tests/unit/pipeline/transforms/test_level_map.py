from __future__ import annotations

import pytest
from pydantic import ValidationError

from tests.unit.pipeline.transforms.helpers import column, parse_config, run


def test_codes_set_the_level_and_unknown_codes_leave_it() -> None:
    out = run(
        {"type": "level_map", "field": "sev", "mapping": {"E": "error", "W": "warn", "D": "debug"}},
        [
            {"message": "a", "sev": "E"},
            {"message": "b", "sev": "W", "level": "info"},
            {"message": "c", "sev": "Z", "level": "info"},
        ],
    )
    assert column(out, "level") == ["ERROR", "WARN", "INFO"]
    assert column(out, "severity") == [17, 13, 9]


def test_case_insensitive_codes() -> None:
    settings = {"type": "level_map", "field": "sev", "mapping": {"E": "error"}, "case_sensitive": False}
    assert column(run(settings, [{"message": "a", "sev": "e"}]), "level") == ["ERROR"]


def test_missing_field_changes_nothing() -> None:
    out = run({"type": "level_map", "field": "sev", "mapping": {"E": "error"}}, [{"message": "a", "level": "info"}])
    assert column(out, "level") == ["INFO"]


def test_unknown_level_is_refused() -> None:
    with pytest.raises(ValidationError, match="unknown level 'bad'"):
        parse_config({"type": "level_map", "field": "sev", "mapping": {"E": "bad"}})
