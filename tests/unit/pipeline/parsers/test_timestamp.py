"""timestamp: explicit formats, keywords, time zones, targets and unparseable values."""

from __future__ import annotations

import threading
from datetime import UTC, datetime

import pyarrow as pa
import pytest
from pydantic import ValidationError

from logwarden.pipeline import fields
from logwarden.pipeline.base import ProcessorBuildError
from tests.unit.pipeline.parsers.helpers import RECEIVED, batch_of, build, rows, run


def times(values: list[object], **settings: object) -> list[object]:
    batch = batch_of([{"message": "m", "when": v} for v in values])
    return [r["ts"] for r in rows(run({"type": "timestamp", "field": "when", **settings}, batch))]


def utc(year: int, month: int, day: int, hour: int = 0, minute: int = 0, second: int = 0, micro: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, second, micro, tzinfo=UTC)


def test_strptime_formats_in_order() -> None:
    got = times(
        ["10/Oct/2000:13:55:36 -0700", "2024-01-02 03:04:05.250", "02.01.2024 03:04"],
        formats=["%d/%b/%Y:%H:%M:%S %z", "%Y-%m-%d %H:%M:%S.%f", "%d.%m.%Y %H:%M"],
    )
    assert got == [utc(2000, 10, 10, 20, 55, 36), utc(2024, 1, 2, 3, 4, 5, 250000), utc(2024, 1, 2, 3, 4)]


def test_timezone_applies_to_zone_less_stamps_only() -> None:
    got = times(
        ["2024-07-01 12:00:00", "2024-07-01T12:00:00+00:00", "2024-01-15T12:00:00"],
        formats=["%Y-%m-%d %H:%M:%S", "ISO8601"],
        timezone="Europe/Paris",
    )
    assert got == [utc(2024, 7, 1, 10), utc(2024, 7, 1, 12), utc(2024, 1, 15, 11)]


def test_epoch_keywords() -> None:
    assert times(["1700000000"], formats=["UNIX"]) == [utc(2023, 11, 14, 22, 13, 20)]
    assert times(["1700000000123"], formats=["UNIX_MS"]) == [utc(2023, 11, 14, 22, 13, 20, 123000)]
    assert times(["1700000000123456"], formats=["UNIX_US"]) == [utc(2023, 11, 14, 22, 13, 20, 123456)]
    assert times(["1700000000123456789"], formats=["UNIX_NS"]) == [utc(2023, 11, 14, 22, 13, 20, 123457)]
    assert times([1700000000.5], formats=["UNIX"]) == [utc(2023, 11, 14, 22, 13, 20, 500000)]


def test_httpdate_iso_and_syslog_keywords() -> None:
    got = times(
        ["10/Oct/2000:13:55:36 -0700", "2024-01-02T03:04:05,5Z", "Nov 20 23:59:59"],
        formats=["HTTPDATE", "ISO8601", "SYSLOG"],
    )
    assert got == [utc(2000, 10, 10, 20, 55, 36), utc(2024, 1, 2, 3, 4, 5, 500000), utc(2026, 11, 20, 23, 59, 59)]


def test_syslog_stamp_in_a_zone() -> None:
    assert times(["Jul  1 12:00:00"], formats=["SYSLOG"], timezone="America/New_York") == [utc(2026, 7, 1, 16)]


def test_unparseable_keeps_the_time_and_is_an_error() -> None:
    batch = batch_of([{"message": "m", "when": "yesterday"}, {"message": "m", "when": "2024-01-01T00:00:00Z"}])
    result = run({"type": "timestamp", "field": "when", "formats": ["ISO8601"]}, batch)
    out = rows(result)
    assert out[0]["ts"] == RECEIVED and out[0]["error"] == "no format matched 'yesterday'"
    assert out[1]["ts"] == utc(2024, 1, 1)


def test_default_field_and_other_target() -> None:
    # A record's own `timestamp` key is taken as its time at ingest; a parser's `timestamp` output is not.
    batch = fields.set_field(batch_of([{"message": "m"}]), "timestamp", pa.array(["2024-01-01T00:00:00Z"]))
    [row] = rows(run({"type": "timestamp", "target": "event_time"}, batch))
    assert row["event_time"] == utc(2024, 1, 1) and row["ts"] == RECEIVED


def test_missing_field_is_ignored() -> None:
    assert run({"type": "timestamp"}, batch_of([{"message": "m"}])).errors is None


def test_bad_settings() -> None:
    with pytest.raises(ProcessorBuildError) as err:
        build({"type": "timestamp", "formats": ["yyyy-MM-dd"]})
    assert err.value.field == "formats"
    with pytest.raises(ProcessorBuildError) as err:
        build({"type": "timestamp", "formats": ["%Q"]})
    assert err.value.field == "formats"
    with pytest.raises(ValidationError, match="unknown time zone"):
        build({"type": "timestamp", "timezone": "Mars/Olympus"})
    with pytest.raises(ValidationError):
        build({"type": "timestamp", "formats": []})


def test_concurrent_use_from_two_threads() -> None:
    processor = build({"type": "timestamp", "field": "when", "formats": ["%Y-%m-%d %H:%M:%S.%f"]})
    batch = batch_of([{"message": "m", "when": f"2024-01-01 00:00:{i % 60:02d}.5"} for i in range(500)])
    results: list[object] = []

    def work() -> None:
        for _ in range(20):
            results.append(processor.process(batch).errors)

    threads = [threading.Thread(target=work) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert results == [None] * 40
