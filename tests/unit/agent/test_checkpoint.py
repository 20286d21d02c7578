"""CheckpointStore: atomic persistence, monotonic offsets, retiring and forgetting streams."""

from __future__ import annotations

from pathlib import Path

import pytest

from logwarden.agent.checkpoint import CheckpointError, CheckpointStore, StreamCheckpoint
from logwarden.agent.identity import FileId


def entry(stream: str, inode: int = 1, offset: int = 0) -> StreamCheckpoint:
    return StreamCheckpoint(stream, dev=5, inode=inode, path=f"/logs/{stream}", offset=offset, fp_len=3, fp_sha256="x")


def test_register_commit_and_reload(tmp_path: Path) -> None:
    path = tmp_path / "cp" / "checkpoints.json"
    store = CheckpointStore.open(path, "agent-1")
    store.register(entry("s1", inode=11))
    store.register(entry("s2", inode=12, offset=5))
    store.commit({"s1": 100, "s2": 50, "unknown": 7})
    store.commit({"s1": 40})  # an older position never moves a stream back
    reloaded = CheckpointStore.open(path, "agent-1")
    assert reloaded.offset("s1") == 100
    assert reloaded.offset("s2") == 50
    assert reloaded.offset("unknown") is None
    assert [e.stream for e in reloaded.find(FileId(5, 11))] == ["s1"]
    assert list(path.parent.iterdir()) == [path], "no temporary file is left behind"


def test_every_change_is_on_disk_when_the_call_returns(tmp_path: Path) -> None:
    path = tmp_path / "checkpoints.json"
    store = CheckpointStore.open(path, "a")
    store.register(entry("s1"))
    assert CheckpointStore.open(path, "a").offset("s1") == 0
    store.commit({"s1": 9})
    assert CheckpointStore.open(path, "a").offset("s1") == 9


def test_retired_stream_is_forgotten_once_everything_is_committed(tmp_path: Path) -> None:
    store = CheckpointStore.open(tmp_path / "c.json", "a")
    store.register(entry("old", offset=10))
    store.retire("old", final=30)
    assert store.find(FileId(5, 1)) == [], "a retired stream is not resumed"
    assert store.offset("old") == 10
    store.commit({"old": 20})
    assert store.offset("old") == 20
    store.commit({"old": 30})
    assert store.offset("old") is None
    store.register(entry("done", offset=50))
    store.retire("done", final=50)
    assert store.offset("done") is None


def test_update_identity_and_forget(tmp_path: Path) -> None:
    path = tmp_path / "c.json"
    store = CheckpointStore.open(path, "a")
    store.register(entry("s"))
    store.update_identity("s", "/logs/app.log.1", 1024, "abc")
    store.commit({"s": 1})
    got = CheckpointStore.open(path, "a").get("s")
    assert got is not None and (got.path, got.fp_len, got.fp_sha256) == ("/logs/app.log.1", 1024, "abc")
    store.forget(["s"])
    assert len(CheckpointStore.open(path, "a")) == 0


def test_unreadable_file_is_an_error_not_a_silent_restart(tmp_path: Path) -> None:
    path = tmp_path / "c.json"
    path.write_text("{not json")
    with pytest.raises(CheckpointError, match="unreadable checkpoint file"):
        CheckpointStore.open(path, "a")
    path.write_text('{"version": 99, "streams": {}}')
    with pytest.raises(CheckpointError, match="unsupported checkpoint version"):
        CheckpointStore.open(path, "a")
