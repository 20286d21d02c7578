from __future__ import annotations

from tests.unit.pipeline.transforms.helpers import column, run


def test_lowercase_text_fields_and_skip_others() -> None:
    out = run({"type": "lowercase", "fields": ["method", "n", "missing"]}, [{"message": "m", "method": "GET", "n": 5}])
    assert column(out, "method") == ["get"]
    assert column(out, "n") == [5]


def test_uppercase_core_field() -> None:
    out = run(
        {"type": "uppercase", "fields": ["host", "country"]}, [{"message": "m", "host": "web-1", "country": "de"}]
    )
    assert column(out, "host") == ["WEB-1"]
    assert column(out, "country") == ["DE"]
