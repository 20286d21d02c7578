from __future__ import annotations

import pytest
from pydantic import ValidationError

from logwarden.pipeline.fields import wide_from_records
from tests.unit.pipeline.transforms.helpers import build, column, parse_config


def test_rate_keeps_about_that_fraction_of_lines() -> None:
    batch = wide_from_records([{"message": f"line {i}"} for i in range(20_000)])
    out = build({"type": "sample", "rate": 0.1}).process(batch)
    assert 1_700 < out.batch.num_rows < 2_300


def test_lines_of_one_trace_are_kept_or_dropped_together_and_every_time() -> None:
    records = [{"message": f"step {s}", "trace_id": f"trace-{t}"} for t in range(500) for s in range(4)]
    sample = build({"type": "sample", "rate": 0.3, "key": "trace_id"})
    first = sample.process(wide_from_records(records))
    kept = column(first, "trace_id")
    assert all(kept.count(t) == 4 for t in set(kept))
    assert 100 < len(set(kept)) < 200
    # Deterministic: another processor (another instance, a restart) keeps the same traces.
    again = build({"type": "sample", "rate": 0.3}).process(wide_from_records(records[::-1]))
    assert set(column(again, "trace_id")) == set(kept)


def test_rate_one_keeps_everything() -> None:
    batch = wide_from_records([{"message": "a"}, {"message": "b"}])
    assert build({"type": "sample", "rate": 1}).process(batch).batch.num_rows == 2


@pytest.mark.parametrize("rate", [0, -0.5, 1.5])
def test_rate_must_be_in_range(rate: float) -> None:
    with pytest.raises(ValidationError):
        parse_config({"type": "sample", "rate": rate})
