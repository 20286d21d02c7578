"""FileReader in-process, on real files, with a fake clock: appends, renames, copytruncate, deletion, restarts."""

from __future__ import annotations

import os
import shutil
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from logwarden.agent.backoff import Backoff
from logwarden.agent.checkpoint import CheckpointStore
from logwarden.agent.config import AgentConfig
from logwarden.agent.metrics import AgentMetrics
from logwarden.agent.reader import FileReader
from logwarden.agent.sender import Sender
from logwarden.agent.shipper import HttpShipper
from logwarden.agent.spool import DeadLetterDir, DiskSpool
from tests.unit.agent.conftest import IngestStandIn, wait_until


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


class ReaderRig:
    """A FileReader and a real Sender (to the stand-in), driven one step at a time."""

    def __init__(self, tmp_path: Path, server: IngestStandIn, input_: dict[str, Any], **settings: Any) -> None:
        doc: dict[str, Any] = {
            "id": "test-agent",
            "data_dir": str(tmp_path / "agent"),
            "inputs": [input_],
            "output": {"url": "http://server", "batch": {"max_wait": "0s"}},
            "metrics": {"port": None},
        }
        doc.update(settings)
        self.config = AgentConfig.model_validate(doc)
        self.server = server
        self.clock = FakeClock()
        self.metrics = AgentMetrics()
        self.checkpoints = CheckpointStore.open(self.config.checkpoint_path, self.config.agent_id)
        self.spool = DiskSpool(self.config.spool_dir, self.config.spool.max_bytes)
        self.sender = Sender(
            shipper=HttpShipper(self.config.output, transport=server.transport()),
            spool=self.spool,
            dead_letters=DeadLetterDir(self.config.dead_letter_dir),
            checkpoints=self.checkpoints,
            metrics=self.metrics,
            backoff=Backoff(0.01, 0.05),
            gzip=True,
            queue_batches=self.config.queue_batches,
        )
        self.sender.start()
        self.reader = FileReader(self.config, self.checkpoints, self.sender, self.metrics, clock=self.clock)

    def step(self, advance: float = 0.0, *, scan: bool = True) -> None:
        self.clock.now += advance
        while self.reader.step(self.clock.now, scan=scan):
            scan = False

    def stop(self) -> None:
        self.reader.shutdown()

    def messages(self) -> list[str]:
        return [r["msg"] for r in self.server.stored]

    def wait_stored(self, n: int) -> None:
        wait_until(lambda: len(self.server.stored) >= n, what=f"{n} stored records")
        wait_until(self.sender._queue.empty, what="sender idle")
        assert len(self.server.stored) == n, self.messages()

    def metric(self, name: str, **labels: str) -> float:
        value = self.metrics.registry.get_sample_value(name, labels)
        return 0.0 if value is None else value


def streams_of(records: list[dict[str, Any]]) -> list[str]:
    return [r["log_id"].split("@")[0] for r in records]


def offsets_of(records: list[dict[str, Any]]) -> list[int]:
    return [int(r["log_id"].split("@")[1]) for r in records]


def append(path: Path, *lines: str) -> None:
    with path.open("a") as f:
        f.write("".join(line + "\n" for line in lines))


@pytest.fixture
def server() -> IngestStandIn:
    return IngestStandIn()


@pytest.fixture
def logs(tmp_path: Path) -> Path:
    d = tmp_path / "logs"
    d.mkdir()
    return d


@pytest.fixture
def rig(tmp_path: Path, server: IngestStandIn, logs: Path) -> Iterator[ReaderRig]:
    r = ReaderRig(tmp_path, server, {"paths": [str(logs / "app.log")], "service": "svc"})
    yield r
    r.stop()


def test_appended_lines_and_an_incomplete_last_line(rig: ReaderRig, logs: Path) -> None:
    app = logs / "app.log"
    append(app, "one", "two")
    rig.step()
    rig.wait_stored(2)
    with app.open("a") as f:
        f.write("thr")
    rig.step()
    rig.wait_stored(2)
    append(app, "ee")
    rig.step()
    rig.wait_stored(3)
    assert rig.messages() == ["one", "two", "three"]
    assert offsets_of(rig.server.stored) == [0, 4, 8]
    assert len(set(streams_of(rig.server.stored))) == 1
    assert rig.server.stored[0]["service"] == "svc" and rig.server.stored[0]["file"] == str(app)
    stream = streams_of(rig.server.stored)[0]
    wait_until(lambda: rig.checkpoints.offset(stream) == app.stat().st_size, what="checkpoint at end of file")
    assert rig.reader.file_lags() == [(str(app), 0)]
    assert rig.metric("logwarden_agent_lines_read_total") == 3


def test_a_last_line_without_newline_is_sent_after_the_timeout(rig: ReaderRig, logs: Path) -> None:
    (logs / "app.log").write_text("no newline at the end")
    rig.step()
    rig.step(advance=4.9)
    rig.wait_stored(0)
    rig.step(advance=0.1)
    rig.wait_stored(1)
    assert rig.messages() == ["no newline at the end"]


def test_rename_and_create_reads_the_old_inode_to_its_end(rig: ReaderRig, logs: Path) -> None:
    app = logs / "app.log"
    writer = app.open("a")
    writer.write("old 1\nold 2\n")
    writer.flush()
    rig.step()
    rig.wait_stored(2)
    app.rename(logs / "app.log.1")  # out of the glob
    writer.write("old 3 written after the rename\n")  # the application has not reopened yet
    writer.flush()
    writer.close()
    append(app, "new 1", "new 2")
    rig.step()
    rig.wait_stored(5)
    old = [r for r in rig.server.stored if r["msg"].startswith("old")]
    new = [r for r in rig.server.stored if r["msg"].startswith("new")]
    assert [r["msg"] for r in old] == ["old 1", "old 2", "old 3 written after the rename"]
    assert len(set(streams_of(old))) == 1 and len(set(streams_of(new))) == 1
    assert streams_of(old)[0] != streams_of(new)[0]
    assert offsets_of(new) == [0, 6], "the new file is read from its start"
    assert rig.metric("logwarden_agent_file_events_total", kind="rename") == 1
    # The renamed file is closed once idle for close_removed_after, and its checkpoint forgotten.
    rig.step(advance=5)
    wait_until(lambda: len(rig.checkpoints) == 1, what="old stream forgotten")
    assert [c.path for c in rig.checkpoints.streams()] == [str(app)]
    assert rig.metric("logwarden_agent_files_open") == 1


def test_rename_within_the_glob_keeps_the_stream(tmp_path: Path, server: IngestStandIn, logs: Path) -> None:
    rig = ReaderRig(tmp_path, server, {"paths": [str(logs / "app.log*")]})
    try:
        append(logs / "app.log", "a")
        rig.step()
        rig.wait_stored(1)
        (logs / "app.log").rename(logs / "app.log.1")
        append(logs / "app.log.1", "b")
        append(logs / "app.log", "c")
        rig.step()
        rig.step(advance=10)
        rig.wait_stored(3)
        by_msg = {r["msg"]: r for r in server.stored}
        assert by_msg["a"]["log_id"].split("@")[0] == by_msg["b"]["log_id"].split("@")[0]
        assert by_msg["b"]["file"] == str(logs / "app.log.1")
        paths = sorted(c.path for c in rig.checkpoints.streams())
        assert paths == [str(logs / "app.log"), str(logs / "app.log.1")], "still followed, under its new name"
    finally:
        rig.stop()


def test_copytruncate_starts_a_new_stream_from_zero(rig: ReaderRig, logs: Path) -> None:
    app = logs / "app.log"
    append(app, "before 1", "before 2", "before 3")
    rig.step()
    rig.wait_stored(3)
    shutil.copy(app, logs / "app.log.1")
    with app.open("r+") as f:
        f.truncate(0)
    append(app, "after 1")
    rig.step()
    rig.wait_stored(4)
    after = rig.server.stored[3]
    assert after["msg"] == "after 1" and after["log_id"].endswith("@0")
    assert streams_of(rig.server.stored)[0] != streams_of([after])[0], "same offsets, so a new stream id"
    assert rig.metric("logwarden_agent_file_events_total", kind="truncate") == 1
    assert rig.metric("logwarden_agent_unread_bytes_lost_total") == 0
    wait_until(lambda: len(rig.checkpoints) == 1, what="old stream retired")


def test_truncated_and_regrown_past_the_offset_is_noticed_by_its_first_bytes(rig: ReaderRig, logs: Path) -> None:
    app = logs / "app.log"
    append(app, "short")
    rig.step()
    rig.wait_stored(1)
    with app.open("w") as f:  # truncate and write more than before, between two polls
        f.write("completely different and longer\n")
    rig.step()
    rig.wait_stored(2)
    assert rig.messages() == ["short", "completely different and longer"]
    assert rig.server.stored[1]["log_id"].endswith("@0")


def test_deleted_file_is_read_to_its_end_then_forgotten(rig: ReaderRig, logs: Path) -> None:
    app = logs / "app.log"
    append(app, "1", "2")
    rig.step()
    rig.wait_stored(2)
    append(app, "3 written just before the deletion")
    app.unlink()
    rig.step()
    rig.wait_stored(3)
    assert rig.metric("logwarden_agent_file_events_total", kind="remove") == 1
    rig.step(advance=5)
    wait_until(lambda: len(rig.checkpoints) == 0, what="checkpoint forgotten")
    assert rig.metric("logwarden_agent_files_open") == 0


def test_a_new_file_on_a_reused_inode_is_a_new_stream(rig: ReaderRig, logs: Path) -> None:
    app = logs / "app.log"
    append(app, "first file")
    rig.step()
    rig.wait_stored(1)
    app.unlink()
    rig.step()
    rig.step(advance=5)
    append(app, "second file")  # very likely the same inode number
    rig.step()
    rig.wait_stored(2)
    assert rig.server.stored[1]["log_id"].endswith("@0")
    assert len(set(streams_of(rig.server.stored))) == 2


def test_restart_resumes_at_the_checkpoint(tmp_path: Path, server: IngestStandIn, logs: Path) -> None:
    input_ = {"paths": [str(logs / "app.log*")]}
    first = ReaderRig(tmp_path, server, input_)
    append(logs / "app.log", "a", "b")
    first.step()
    first.wait_stored(2)
    first.stop()
    # While the agent is down: more lines, then a rotation by rename.
    append(logs / "app.log", "c")
    (logs / "app.log").rename(logs / "app.log.1")
    append(logs / "app.log", "d")
    second = ReaderRig(tmp_path, server, input_)
    try:
        second.step()
        second.wait_stored(4)
        assert sorted(second.messages()) == ["a", "b", "c", "d"]
        assert server.duplicates == 0, "nothing before the checkpoint was read again"
        by_msg = {r["msg"]: r for r in server.stored}
        assert by_msg["c"]["log_id"].split("@")[0] == by_msg["a"]["log_id"].split("@")[0]
        assert by_msg["c"]["log_id"].endswith("@4")
    finally:
        second.stop()


def test_restart_after_a_lost_acknowledgement_resends_and_the_server_dedups(
    tmp_path: Path, server: IngestStandIn, logs: Path
) -> None:
    input_ = {"paths": [str(logs / "app.log")]}
    first = ReaderRig(tmp_path, server, input_)
    append(logs / "app.log", "a", "b", "c")
    first.step()
    first.wait_stored(3)
    first.stop()
    # As if the agent died between the server's answer and the checkpoint write.
    cp = CheckpointStore.open(first.config.checkpoint_path, "test-agent")
    (entry,) = cp.streams()
    cp.forget([entry.stream])
    entry.offset = 2
    cp.register(entry)
    append(logs / "app.log", "d")
    second = ReaderRig(tmp_path, server, input_)
    try:
        second.step()
        second.wait_stored(4)
        assert second.messages() == ["a", "b", "c", "d"]
        assert server.duplicates == 2
        wait_until(lambda: second.metric("logwarden_agent_duplicate_lines_total") == 2, what="duplicates counted")
    finally:
        second.stop()


def test_start_at_end_skips_existing_content_of_files_found_at_start(
    tmp_path: Path, server: IngestStandIn, logs: Path
) -> None:
    append(logs / "a.log", "old")
    rig = ReaderRig(tmp_path, server, {"paths": [str(logs / "*.log")], "start_at": "end"})
    try:
        rig.step()
        append(logs / "a.log", "new in a")
        append(logs / "b.log", "new file b")
        rig.step()
        rig.wait_stored(2)
        assert sorted(rig.messages()) == ["new file b", "new in a"]
    finally:
        rig.stop()


def test_exclude_patterns(tmp_path: Path, server: IngestStandIn, logs: Path) -> None:
    for name in ("app.log", "app.log.1", "app.log.2.gz"):
        append(logs / name, name)
    rig = ReaderRig(tmp_path, server, {"paths": [str(logs / "app.log*")], "exclude": ["*.gz"]})
    try:
        rig.step()
        rig.wait_stored(2)
        assert sorted(rig.messages()) == ["app.log", "app.log.1"]
    finally:
        rig.stop()


def test_multiline_event_is_sent_after_its_timeout(tmp_path: Path, server: IngestStandIn, logs: Path) -> None:
    input_ = {"paths": [str(logs / "app.log")], "multiline": {"pattern": r"^\s", "timeout": "3s"}}
    rig = ReaderRig(tmp_path, server, input_)
    try:
        append(logs / "app.log", "Exception", "  at a", "  at b", "next", "  at c")
        rig.step()
        rig.wait_stored(1)
        rig.step(advance=3)
        rig.wait_stored(2)
        assert rig.messages() == ["Exception\n  at a\n  at b", "next\n  at c"]
        assert offsets_of(server.stored) == [0, 24]
    finally:
        rig.stop()


def test_full_spool_pauses_reading_without_losing_lines(tmp_path: Path, server: IngestStandIn, logs: Path) -> None:
    app = logs / "app.log"
    append(app, *(f"line {i:05d} " + "x" * 80 for i in range(3000)))
    server.mode = "down"
    rig = ReaderRig(
        tmp_path,
        server,
        {"paths": [str(app)]},
        output={"url": "http://server", "batch": {"max_lines": 50, "max_bytes": "8KiB", "max_wait": "0s"}},
        spool={"max_bytes": "16KiB"},
        queue_batches=1,
        tail={"read_chunk_bytes": "16KiB", "max_bytes_per_turn": "16KiB"},
    )
    rig.reader._clock = time.monotonic
    stop = threading.Event()
    thread = threading.Thread(target=rig.reader.run, args=(stop,))
    thread.start()
    try:
        wait_until(lambda: rig.metric("logwarden_agent_backpressure") == 1, what="backpressure")
        assert rig.metric("logwarden_agent_bytes_read_total") < app.stat().st_size
        assert rig.metric("logwarden_agent_dropped_lines_total", reason="spool_full") == 0
        server.mode = 200
        wait_until(lambda: len(server.stored) == 3000, timeout=20, what="everything delivered")
        assert [int(m.split()[1]) for m in rig.messages()] == list(range(3000))
        assert server.duplicates == 0
    finally:
        stop.set()
        thread.join(15)


def test_lines_read_counts_and_lag(rig: ReaderRig, logs: Path, server: IngestStandIn) -> None:
    app = logs / "app.log"
    append(app, "x" * 99)
    server.mode = "down"
    rig.step()
    # Spooled counts as safe: lag drops to 0 once the batch is on disk.
    wait_until(lambda: rig.reader.file_lags() == [(str(app), 0)], what="lag 0 after spooling")
    assert rig.metric("logwarden_agent_bytes_read_total") == 100
    assert os.path.getsize(app) == 100
