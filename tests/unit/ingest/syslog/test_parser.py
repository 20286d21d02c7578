"""The syslog parser against golden frames (tests/unit/ingest/syslog/golden_frames.json), through to core rows."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson
import pyarrow as pa
import pytest

from logwarden.ingest.sink import to_core_batch
from logwarden.ingest.syslog.parser import decode_frames
from logwarden.model.normalize import BatchContext

GOLDEN = json.loads((Path(__file__).parent / "golden_frames.json").read_text())
RECEIVED = datetime(2026, 11, 21, 14, 0, tzinfo=UTC)
PEER = "192.0.2.7"


def frame_bytes(case: dict[str, Any]) -> bytes:
    return bytes.fromhex(case["frame_hex"]) if "frame_hex" in case else case["frame"].encode()


def core_rows(frames: list[bytes], peers: list[str] | str = PEER, **kwargs: Any) -> list[dict[str, Any]]:
    decoded = decode_frames(frames, peers, RECEIVED, **kwargs)
    table = to_core_batch(decoded, BatchContext(tenant="t1", source="syslog", received=RECEIVED)).table
    rows = table.to_pylist()
    for row in rows:
        row["attrs"] = orjson.loads(row["attrs"]) if row["attrs"] else {}
        row["ts"] = row["ts"].isoformat().replace("+00:00", "Z")
    return rows


def as_expected(row: dict[str, Any]) -> dict[str, Any]:
    return {k: row[k] for k in ("ts", "service", "host", "level", "severity", "message", "attrs")}


@pytest.mark.parametrize("case", GOLDEN, ids=[c["name"] for c in GOLDEN])
def test_golden_frame(case: dict[str, Any]) -> None:
    rows = core_rows([frame_bytes(case)])
    assert len(rows) == 1
    row = rows[0]
    assert row["tenant"] == "t1"
    if "expect" in case:
        assert row["source"] == "syslog"
        assert as_expected(row) == case["expect"]
    else:
        assert row["source"] == "dead_letter"
        assert row["attrs"] == {"error": case["reject"], "original_source": "syslog"}
        assert row["message"] == case.get("reject_text", case.get("frame"))
        assert row["ts"] == "2026-11-21T14:00:00Z"


def test_a_batch_of_every_golden_frame_parses_like_each_alone() -> None:
    """Vectorized passes over a mixed batch must not let rows influence each other."""
    alone = [core_rows([frame_bytes(case)])[0] for case in GOLDEN]
    together = core_rows([frame_bytes(case) for case in GOLDEN])
    key = lambda row: (row["source"], row["message"])  # noqa: E731
    strip = lambda row: {k: v for k, v in row.items() if k not in ("log_id", "observed_ts")}  # noqa: E731
    assert sorted(map(strip, together), key=key) == sorted(map(strip, alone), key=key)


def test_blank_frames_are_skipped() -> None:
    assert core_rows([b"", b"\n", b"\x00\r\n", b"<13>ok"])[0]["message"] == "ok"
    assert len(core_rows([b"", b"\n", b"<13>ok"])) == 1
    assert decode_frames([b"\n"], PEER, RECEIVED).records is None


def test_each_udp_frame_gets_its_own_sender_even_around_rejected_frames() -> None:
    frames = [b"<14>first", b"\xff<14>bad", b"no pri", b"<14>fourth"]
    rows = core_rows(frames, ["10.0.0.1", "10.0.0.2", "10.0.0.3", "10.0.0.4"])
    good = {r["message"]: r["host"] for r in rows if r["source"] == "syslog"}
    assert good == {"first": "10.0.0.1", "fourth": "10.0.0.4"}
    errors = sorted(r["attrs"]["error"] for r in rows if r["source"] == "dead_letter")
    assert errors == [
        "invalid UTF-8 at byte 0 of the frame (from 10.0.0.2)",
        "not a syslog message: it does not start with <PRI> (from 10.0.0.3)",
    ]


def test_framing_rejects_become_dead_letters_with_their_sender() -> None:
    rows = core_rows([b"<14>ok"], rejected=[(b"<14>xxxx", "too long", "10.9.9.9:555")])
    dead = [r for r in rows if r["source"] == "dead_letter"]
    assert [(r["message"], r["attrs"]["error"]) for r in dead] == [("<14>xxxx", "too long (from 10.9.9.9:555)")]


def test_rfc3164_timezone_applies_only_to_stamps_without_an_offset() -> None:
    rows = core_rows(
        [
            b"<13>Nov 21 13:00:00 h t: local",
            b"<13>2026-11-21T13:00:00+05:00 h t: offset",
            b"<13>1 2026-11-21T13:00:00Z h t - - - rfc5424",
            b"<13>2026-07-01T12:00:00 h t: summer, no offset",
        ],
        timezone="Europe/Berlin",
    )
    assert {r["message"]: r["ts"] for r in rows} == {
        "local": "2026-11-21T12:00:00Z",
        "offset": "2026-11-21T08:00:00Z",
        "rfc5424": "2026-11-21T13:00:00Z",
        "summer, no offset": "2026-07-01T10:00:00Z",
    }


def test_every_facility_and_severity_name() -> None:
    frames = [f"<{pri}>m{pri}".encode() for pri in range(192)]
    rows = {r["message"]: r for r in core_rows(frames)}
    assert rows["m0"]["attrs"] == {"syslog.facility": "kern", "syslog.severity": "emerg"}
    assert rows["m191"]["attrs"] == {"syslog.facility": "local7", "syslog.severity": "debug"}
    assert rows["m84"]["attrs"] == {"syslog.facility": "authpriv", "syslog.severity": "warning"}
    assert [rows[f"m{8 + s}"]["level"] for s in range(8)] == [
        "FATAL", "FATAL", "FATAL", "ERROR", "WARN", "INFO", "INFO", "DEBUG"
    ]  # fmt: skip


def test_large_batch_keeps_order_and_count() -> None:
    frames = [f"<14>1 2026-11-21T13:00:00Z h app {i} - - line {i}".encode() for i in range(20_000)]
    decoded = decode_frames(frames, PEER, RECEIVED)
    assert decoded.rejected == []
    assert decoded.records is not None
    assert decoded.records.column("message").to_pylist() == [f"line {i}" for i in range(20_000)]
    assert decoded.records.column("syslog.procid")[19_999].as_py() == "19999"
    assert pa.types.is_timestamp(decoded.records.column("ts").type)


@pytest.mark.parametrize(
    ("received", "stamp", "expected"),
    [
        (datetime(2027, 1, 1, 0, 0, 30, tzinfo=UTC), "Dec 31 23:59:59", "2026-12-31T23:59:59Z"),
        (datetime(2026, 12, 31, 23, 59, 0, tzinfo=UTC), "Jan  1 00:00:01", "2027-01-01T00:00:01Z"),
        (datetime(2028, 3, 1, tzinfo=UTC), "Feb 29 12:00:00.5", "2028-02-29T12:00:00.500000Z"),
        (datetime(2026, 3, 1, tzinfo=UTC), "Feb 29 12:00:00", None),  # no leap year near: receive time
    ],
)
def test_rfc3164_year_inference_matches_the_shared_parser(received: datetime, stamp: str, expected: str | None) -> None:
    from logwarden.model.timestamps import parse_timestamps

    decoded = decode_frames([f"<13>{stamp} h t: m".encode()], PEER, received)
    assert decoded.records is not None
    ours = decoded.records.column("ts")[0].as_py()
    assert (ours.isoformat().replace("+00:00", "Z") if ours else None) == expected
    assert parse_timestamps(pa.array([stamp]), received)[0].as_py() == ours


def test_rfc3164_stamp_in_lower_case_with_nanoseconds() -> None:
    rows = core_rows([b"<13>nov 20 01:02:03.123456789 h t: m"])
    assert rows[0]["ts"] == "2026-11-20T01:02:03.123456Z"


def test_many_distinct_rfc3164_stamps_take_the_shared_parser() -> None:
    frames = [f"<13>Nov 21 13:{i // 60 % 60:02d}:{i % 60:02d}.{i:06d} h t: m{i}".encode() for i in range(3000)]
    rows = {r["message"]: r["ts"] for r in core_rows(frames)}
    assert rows["m0"] == "2026-11-21T13:00:00Z"
    assert rows["m2999"] == "2026-11-21T13:49:59.002999Z"
