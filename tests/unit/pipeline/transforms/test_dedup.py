from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from pydantic import ValidationError

from logwarden.pipeline.fields import wide_from_records
from logwarden.pipeline.transforms.dedup import Dedup, DedupConfig
from tests.unit.pipeline.transforms.helpers import column, parse_config


class FakeClock:
    def __init__(self) -> None:
        self.now = 1_000_000.0

    def __call__(self) -> float:
        return self.now


def dedup(fake: FakeClock | None = None, **settings: Any) -> Dedup:
    config = DedupConfig.model_validate({"type": "dedup", **settings})
    return Dedup(config, fake or FakeClock())


def test_repeats_in_a_batch_fold_into_the_first_line_with_a_count() -> None:
    records: list[dict[str, Any]] = [
        {"message": "disk full", "host": "a", "n": 1},
        {"message": "ok", "host": "a"},
        {"message": "disk full", "host": "a", "n": 2},
        {"message": "disk full", "host": "b"},
        {"message": "disk full", "host": "a", "n": 3},
    ]
    out = dedup().process(wide_from_records(records))
    assert column(out, "message") == ["disk full", "ok", "disk full"]
    assert column(out, "n") == [1, None, None]
    assert column(out, "host") == ["a", "a", "b"]
    assert column(out, "dedup_count") == [3, None, None]


def test_repeats_in_later_batches_are_dropped_until_the_window_passes() -> None:
    clock = FakeClock()
    step = dedup(clock, window="10s")
    assert step.process(wide_from_records([{"message": "boom"}, {"message": "x"}])).batch.num_rows == 2
    clock.now += 5
    out = step.process(wide_from_records([{"message": "boom"}, {"message": "boom"}, {"message": "new"}]))
    assert column(out, "message") == ["new"]
    assert step.dropped == 2
    clock.now += 6
    assert column(step.process(wide_from_records([{"message": "boom"}])), "message") == ["boom"]


def test_key_fields_are_configurable() -> None:
    records = [{"message": "a", "user": "u1"}, {"message": "b", "user": "u1"}, {"message": "c", "user": "u2"}]
    out = dedup(fields=["user"]).process(wide_from_records(records))
    assert column(out, "message") == ["a", "c"]


def test_event_clock_uses_line_timestamps() -> None:
    start = datetime(2026, 1, 1, tzinfo=UTC)

    def at(seconds: float) -> dict[str, Any]:
        return {"message": "tick", "ts": (start + timedelta(seconds=seconds)).isoformat()}

    out = dedup(window="10s", clock="event").process(wide_from_records([at(0), at(3), at(12), at(15), at(30)]))
    assert len(column(out, "message")) == 3
    assert column(out, "dedup_count") == [2, 2, None]


def test_lru_is_bounded() -> None:
    step = dedup(max_keys=10)
    step.process(wide_from_records([{"message": f"m{i}"} for i in range(100)]))
    step.process(wide_from_records([{"message": f"n{i}"} for i in range(100)]))
    assert len(step.recent) == 10


def test_concurrent_batches_never_keep_a_repeat_twice() -> None:
    step = dedup()
    batches = [wide_from_records([{"message": f"m{i}"} for i in range(200)]) for _ in range(8)]
    kept: list[int] = []

    def work(batch: Any) -> None:
        kept.append(step.process(batch).batch.num_rows)

    threads = [threading.Thread(target=work, args=(b,)) for b in batches]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sum(kept) == 200
    assert step.dropped == 7 * 200


def test_window_must_be_positive() -> None:
    with pytest.raises(ValidationError, match="positive"):
        parse_config({"type": "dedup", "window": "0s"})
