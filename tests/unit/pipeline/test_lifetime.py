"""Pipeline set lifetime: leases held by batches, retirement on reload, processors closed after the last batch."""

from __future__ import annotations

import asyncio
import threading
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from pathlib import Path

import pyarrow as pa
import pytest

from logwarden.config.reload import PipelineReloader
from logwarden.pipeline import fields
from logwarden.pipeline.base import Processed, Processor
from logwarden.pipeline.runner import Pipeline, PipelineSet, PipelineSetRetiredError, RunOutput, Step

RECEIVED = datetime(2026, 11, 21, 10, 0, tzinfo=UTC)
NEW_CONFIG = """\
pipelines:
  - name: tag
    processors:
      - {type: set, field: version, value: new}
"""


class Tracked(Processor):
    """Tags rows with its name; can hold a batch until released; records when it is closed."""

    def __init__(self, name: str, hold: threading.Event | None = None) -> None:
        self.name = name
        self.hold = hold
        self.entered = threading.Event()
        self.closed = 0
        self.closed_while_running = False
        self._running = 0

    def process(self, batch: pa.Table) -> Processed:
        self._running += 1
        self.entered.set()
        if self.hold is not None:
            assert self.hold.wait(10), "the test never released the batch"
        self._running -= 1
        return Processed(fields.set_field(batch, "version", pa.repeat(pa.scalar(self.name), batch.num_rows)))

    def close(self) -> None:
        self.closed += 1
        self.closed_while_running = self.closed_while_running or self._running > 0


def one_step(processor: Processor, version: str = "old") -> PipelineSet:
    return PipelineSet((Pipeline("tag", (Step("tag", processor),)),), version=version)


def batch() -> pa.Table:
    return fields.wide_from_records([{"message": "m"}], received=RECEIVED)


def test_retire_without_leases_closes_at_once() -> None:
    processor = Tracked("old")
    pipelines = one_step(processor)
    pipelines.retire()
    assert processor.closed == 1
    assert pipelines.closed


def test_retire_waits_for_the_last_lease() -> None:
    processor = Tracked("old")
    pipelines = one_step(processor)
    first, second = pipelines.lease(), pipelines.lease()
    pipelines.retire()
    assert (processor.closed, pipelines.leases) == (0, 2)
    first.release()
    first.release()  # a second release of one lease changes nothing
    assert (processor.closed, pipelines.leases) == (0, 1)
    with second as leased:
        assert leased is pipelines
    assert (processor.closed, pipelines.leases) == (1, 0)
    pipelines.retire()
    pipelines.close()
    assert processor.closed == 1, "closed once"


def test_no_lease_after_retirement() -> None:
    pipelines = one_step(Tracked("old"))
    pipelines.retire()
    with pytest.raises(PipelineSetRetiredError):
        pipelines.lease()
    closed = one_step(Tracked("old"))
    closed.close()
    with pytest.raises(PipelineSetRetiredError):
        closed.lease()


def test_a_lease_ends_when_the_batch_fails() -> None:
    processor = Tracked("old")
    pipelines = one_step(processor)
    with pytest.raises(ValueError, match="batch failed"), pipelines.lease():
        raise ValueError("batch failed")
    assert pipelines.leases == 0
    pipelines.retire()
    assert processor.closed == 1


def test_a_processor_that_fails_to_close_does_not_keep_the_others_open() -> None:
    class BadClose(Tracked):
        def close(self) -> None:
            raise OSError("flush failed")

    good = Tracked("good")
    pipelines = PipelineSet((Pipeline("p", (Step("bad", BadClose("bad")), Step("good", good))),))
    pipelines.retire()
    assert good.closed == 1


def test_a_batch_in_flight_across_a_reload_finishes_on_the_old_set(tmp_path: Path) -> None:
    """The reloader swaps in the new set while a batch runs on the old one: the batch completes with the
    old processors, which close right after it (not after a fixed delay), and never while it runs."""
    path = tmp_path / "logwarden.yaml"
    path.write_text("pipelines: []\n")
    hold = threading.Event()
    old_processor = Tracked("old", hold)
    old = one_step(old_processor, version="v-old")
    slot: dict[str, PipelineSet] = {"current": old}

    def install(new: PipelineSet) -> None:
        slot["current"] = new

    async def scenario() -> tuple[RunOutput, PipelineSet]:
        reloader = PipelineReloader(path, old, install, interval=3600)
        with ThreadPoolExecutor(1) as pool:
            # As the sink does: the lease is taken where the current set is read, the batch runs elsewhere.
            lease = slot["current"].lease()

            def work() -> RunOutput:
                with lease as pipelines:
                    return pipelines.run(batch())

            in_flight = asyncio.get_running_loop().run_in_executor(pool, work)
            try:
                assert await asyncio.to_thread(old_processor.entered.wait, 10)
                path.write_text(NEW_CONFIG)
                assert await reloader.check() == "applied"
                assert slot["current"] is not old
                assert old_processor.closed == 0, "closed under a running batch"
            finally:
                hold.set()
            out = await in_flight
        new = slot["current"]
        await reloader.close()
        return out, new

    out, new = asyncio.run(scenario())
    assert out.batch.column("version").to_pylist() == ["old"]
    assert old_processor.closed == 1
    assert not old_processor.closed_while_running
    assert new.closed, "the reloader closes the running set at shutdown"


def test_a_reload_between_batches_closes_the_old_set_at_once(tmp_path: Path) -> None:
    path = tmp_path / "logwarden.yaml"
    path.write_text("pipelines: []\n")
    old_processor = Tracked("old")
    old = one_step(old_processor, version="v-old")
    installed: list[PipelineSet] = []

    async def scenario() -> None:
        reloader = PipelineReloader(path, old, installed.append, interval=3600)
        with old.lease() as pipelines:
            pipelines.run(batch())
        path.write_text(NEW_CONFIG)
        assert await reloader.check() == "applied"
        assert old_processor.closed == 1
        with installed[0].lease() as pipelines:
            assert pipelines.run(batch()).batch.column("version").to_pylist() == ["new"]
        await reloader.close()

    asyncio.run(scenario())
