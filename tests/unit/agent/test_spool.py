"""DiskSpool: durable, ordered, bounded; DeadLetterDir."""

from __future__ import annotations

import gzip
from pathlib import Path

from logwarden.agent.spool import DeadLetterDir, DiskSpool


def test_oldest_first_and_survives_a_restart(tmp_path: Path) -> None:
    spool = DiskSpool(tmp_path / "spool", max_bytes=1 << 20)
    first = spool.append(gzip.compress(b'{"msg":"a"}\n'), 1)
    spool.append(gzip.compress(b'{"msg":"b"}\n{"msg":"c"}\n'), 2)
    assert len(spool) == 2
    assert spool.oldest() == first
    assert gzip.decompress(spool.read(first)) == b'{"msg":"a"}\n'

    reopened = DiskSpool(tmp_path / "spool", max_bytes=1 << 20)
    assert len(reopened) == 2 and reopened.size_bytes == spool.size_bytes
    oldest = reopened.oldest()
    assert oldest is not None and oldest.lines == 1
    reopened.remove(oldest)
    third = reopened.append(gzip.compress(b'{"msg":"d"}\n'), 1)
    assert third.seq == 3, "sequence numbers continue after a restart"
    nxt = reopened.oldest()
    assert nxt is not None and nxt.lines == 2
    assert sorted(p.name for p in (tmp_path / "spool").iterdir()) == [
        "000000000002-2.ndjson.gz",
        "000000000003-1.ndjson.gz",
    ]


def test_bounded_but_an_empty_spool_takes_any_batch(tmp_path: Path) -> None:
    spool = DiskSpool(tmp_path, max_bytes=100)
    assert spool.has_room(10_000)
    spool.append(b"x" * 60, 1)
    assert spool.has_room(40)
    assert not spool.has_room(41)


def test_leftover_temporary_files_are_discarded(tmp_path: Path) -> None:
    (tmp_path / ".000000000001-5.ndjson.gz.tmp").write_bytes(b"partial")
    spool = DiskSpool(tmp_path, max_bytes=100)
    assert len(spool) == 0
    assert list(tmp_path.iterdir()) == []


def test_dead_letter_keeps_the_batch_and_the_reason(tmp_path: Path) -> None:
    dead = DeadLetterDir(tmp_path / "dead")
    path = dead.write(b'{"msg":"x"}\n', 400, "bad tenant")
    assert gzip.decompress(path.read_bytes()) == b'{"msg":"x"}\n'
    reason = path.with_name(path.name.replace(".ndjson.gz", ".reason.txt"))
    assert reason.read_text() == "HTTP 400: bad tenant\n"
