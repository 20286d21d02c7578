"""IngestLog: framing, recovery after torn writes, segment rotation and release."""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa
import pytest

from logwarden.store.wal import IngestLog, encode_table


def table(i: int, rows: int = 3) -> pa.Table:
    return pa.table({"i": pa.array([i] * rows, pa.int64()), "s": pa.array([f"row {i}"] * rows)})


def write(log: IngestLog, start: int, count: int) -> list[int]:
    return log.append([encode_table(table(i)) for i in range(start, start + count)])


def test_append_then_recover_everything_after_applied(tmp_path: Path) -> None:
    log = IngestLog(tmp_path)
    assert list(log.recover(0)) == []
    assert write(log, 0, 5) == [1, 2, 3, 4, 5]
    log.close(applied_seq=0)
    again = IngestLog(tmp_path)
    replayed = list(again.recover(applied_seq=2))
    assert [seq for seq, _ in replayed] == [3, 4, 5]
    assert replayed[0][1].equals(table(2))
    # Numbering continues after the last frame on disk.
    assert write(again, 5, 1) == [6]


def test_torn_tail_is_cut_and_earlier_frames_survive(tmp_path: Path) -> None:
    log = IngestLog(tmp_path)
    list(log.recover(0))
    write(log, 0, 3)
    log.close(applied_seq=0)
    (segment,) = tmp_path.glob("seg-*.log")
    size = segment.stat().st_size
    with segment.open("ab") as f:
        f.write(b"LWB1\x04\x00\x00\x00")  # a crash in the middle of writing a header
    again = IngestLog(tmp_path)
    assert [seq for seq, _ in again.recover(0)] == [1, 2, 3]
    assert segment.stat().st_size == size
    assert write(again, 3, 1) == [4]


def test_corrupt_payload_at_the_tail_is_cut(tmp_path: Path) -> None:
    log = IngestLog(tmp_path)
    list(log.recover(0))
    write(log, 0, 2)
    log.close(applied_seq=0)
    (segment,) = tmp_path.glob("seg-*.log")
    data = bytearray(segment.read_bytes())
    data[-5] ^= 0xFF  # flip a bit in the last frame: its CRC no longer matches
    segment.write_bytes(bytes(data))
    assert [seq for seq, _ in IngestLog(tmp_path).recover(0)] == [1]


def test_corruption_in_an_older_segment_is_an_error(tmp_path: Path) -> None:
    log = IngestLog(tmp_path, segment_bytes=1)  # every append starts a new segment
    list(log.recover(0))
    for i in range(3):
        write(log, i, 1)
    log.close(applied_seq=0)
    first = sorted(tmp_path.glob("seg-*.log"))[0]
    first.write_bytes(first.read_bytes()[:-3])
    with pytest.raises(RuntimeError, match="corrupt"):
        list(IngestLog(tmp_path).recover(0))


def test_release_deletes_only_fully_applied_segments(tmp_path: Path) -> None:
    log = IngestLog(tmp_path, segment_bytes=1)
    list(log.recover(0))
    for i in range(4):
        write(log, i, 1)  # segments start at seq 1, 2, 3, 4
    assert len(list(tmp_path.glob("seg-*.log"))) == 4
    log.release(applied_seq=2)
    assert sorted(p.name for p in tmp_path.glob("seg-*.log")) == [
        "seg-00000000000000000003.log",
        "seg-00000000000000000004.log",
    ]
    log.release(applied_seq=4)  # the segment being written is kept
    assert [p.name for p in tmp_path.glob("seg-*.log")] == ["seg-00000000000000000004.log"]
    log.close(applied_seq=4)
    assert list(tmp_path.glob("seg-*.log")) == []


def test_close_keeps_unapplied_frames(tmp_path: Path) -> None:
    log = IngestLog(tmp_path)
    list(log.recover(0))
    write(log, 0, 2)
    log.close(applied_seq=1)
    assert [seq for seq, _ in IngestLog(tmp_path).recover(1)] == [2]


def test_log_writer_survives_a_failing_batch(tmp_path: Path) -> None:
    """A batch that cannot be processed fails its own request; the writer goes on serving the next ones."""
    from logwarden.store.dedup import StreamDedup
    from logwarden.store.log_writer import LogWriter

    log = IngestLog(tmp_path)
    list(log.recover(0))
    durable: list[int] = []
    writer = LogWriter(log, lambda items: durable.extend(seq for seq, _ in items), dedup=StreamDedup())
    try:
        bad = pa.table({"no_log_id_column": [1]})  # dedup needs log_id and source: raises
        with pytest.raises(KeyError):
            writer.submit(bad).result(timeout=10)
        good = pa.table({"log_id": ["a@1"], "source": ["http"], "tenant": ["default"]})
        assert writer.submit(good).result(timeout=10).stored == 1
        assert durable == [1]
    finally:
        writer.stop()
        log.close(applied_seq=1)
