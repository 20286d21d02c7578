"""A batch the hot store cannot take never stops it: its bad rows are quarantined, the rest applied."""

from __future__ import annotations

import asyncio
import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pyarrow as pa
import pytest

from logwarden.model.schema import LOG_SCHEMA, TS_TYPE
from logwarden.store.base import SearchQuery
from logwarden.store.duckdb import DuckDBStore
from logwarden.store.duckdb.quarantine import QUARANTINE_DIR
from logwarden.store.log_writer import LogWriter
from logwarden.store.wal import IngestLog, encode_table
from tests.conftest import make_config

# Year 10000: beyond what Python dates (and so day partitioning) can hold.
POISON_TS = 253402300800000000


def rows(tenant: str, messages: list[str], ts_us: list[int]) -> pa.Table:
    """A core-schema table built column by column (Python datetimes cannot hold the poison)."""
    n = len(messages)
    ts = pa.array(ts_us, pa.int64()).cast(TS_TYPE)
    return pa.Table.from_arrays(
        [
            ts,
            ts,
            pa.array([tenant] * n),
            pa.array(["svc"] * n),
            pa.array(["h1"] * n),
            pa.array(["INFO"] * n),
            pa.array([9] * n, pa.int8()),
            pa.array(messages),
            pa.nulls(n, pa.string()),
            pa.nulls(n, pa.string()),
            pa.array(["http"] * n),
            pa.array([f"{tenant}-{m}" for m in messages]),
            pa.array(["{}"] * n),
            pa.nulls(n, pa.string()),
        ],
        schema=LOG_SCHEMA,
    )


def now_us() -> int:
    return int(datetime.now(UTC).timestamp() * 1_000_000)


def good(tenant: str, *names: str) -> pa.Table:
    t = now_us() - 60_000_000
    return rows(tenant, list(names), [t + i for i in range(len(names))])


def poisoned(tenant: str, good_names: list[str], bad_names: list[str]) -> pa.Table:
    """Good rows with poison rows between them."""
    t = now_us() - 60_000_000
    names = [*good_names[:1], *bad_names, *good_names[1:]]
    ts = [POISON_TS if name in bad_names else t + i for i, name in enumerate(names)]
    return rows(tenant, names, ts)


async def messages(store: DuckDBStore, tenant: str, source: str = "http") -> list[str]:
    now = datetime.now(UTC)
    result = await store.search(
        SearchQuery(tenant, now - timedelta(days=1), now + timedelta(days=1), equals={"source": (source,)}, limit=1000)
    )
    return sorted(h["message"] for h in result.hits)


async def dead_letters(store: DuckDBStore, tenant: str) -> list[dict[str, object]]:
    now = datetime.now(UTC)
    result = await store.search(
        SearchQuery(
            tenant, now - timedelta(days=1), now + timedelta(days=1), equals={"source": ("dead_letter",)}, limit=1000
        )
    )
    return result.hits


async def test_poison_in_the_ingest_log_is_quarantined_at_start(tmp_path: Path) -> None:
    config = make_config(tmp_path)
    log = IngestLog(Path(config.data_dir) / "ingest-log")
    list(log.recover(0))
    log.append(
        [
            encode_table(good("alpha", "a1", "a2", "a3")),
            encode_table(poisoned("beta", ["b1", "b2", "b3"], ["bad1"])),
            encode_table(good("beta", "b4", "b5")),
            encode_table(good("alpha", "a4")),
        ]
    )
    log.close(applied_seq=0)  # acknowledged, never applied: the next start replays them

    store = DuckDBStore(config)  # used to die on OverflowError
    try:
        assert await messages(store, "alpha") == ["a1", "a2", "a3", "a4"]
        assert await messages(store, "beta") == ["b1", "b2", "b3", "b4", "b5"]
        [dead] = await dead_letters(store, "beta")
        assert dead["message"] == "bad1"
        attrs = dead["attrs"]
        assert isinstance(attrs, dict)
        assert "OverflowError" in attrs["error"] and attrs["quarantine_seq"] == 2
        assert attrs["original_ts_us"] == POISON_TS
        assert Path(attrs["quarantine_file"]).is_file()
        quarantined = pa.ipc.open_file(pa.memory_map(attrs["quarantine_file"])).read_all()
        assert quarantined.column("message").to_pylist() == ["bad1"]
        assert quarantined.column("ts").cast(pa.int64()).to_pylist() == [POISON_TS]
        status = store.quarantine_status()
        assert status.lines == 1 and status.last is not None and status.last["seq"] == 2
    finally:
        await store.close()

    # Applied and quarantined exactly once: a second start replays nothing and counts the file again.
    store = DuckDBStore(config)
    try:
        assert await messages(store, "beta") == ["b1", "b2", "b3", "b4", "b5"]
        assert len(await dead_letters(store, "beta")) == 1
        assert store.quarantine_status().lines == 1
        assert len(list((Path(config.data_dir) / QUARANTINE_DIR).glob("*.arrow"))) == 1
    finally:
        await store.close()


async def test_live_poison_is_set_aside_and_the_store_keeps_applying(tmp_path: Path) -> None:
    store = DuckDBStore(make_config(tmp_path))
    try:
        await store.append(good("alpha", "a1"))
        await store.append(poisoned("alpha", ["a2", "a3"], ["bad1", "bad2"]))
        await store.append(good("beta", "b1"))
        await asyncio.wait_for(store.flush(), 30)  # used to retry the poison forever
        assert store.unapplied_bytes == 0
        hot, _ = store.partitions()
        assert {k.tenant for k in hot} == {"alpha", "beta"}
        assert await messages(store, "alpha") == ["a1", "a2", "a3"]
        assert sorted(str(h["message"]) for h in await dead_letters(store, "alpha")) == ["bad1", "bad2"]
        assert store.quarantine_status().lines == 2
        # Later batches go on being applied.
        await store.append(good("beta", "b2"))
        await asyncio.wait_for(store.flush(), 30)
        assert store.unapplied_bytes == 0
        assert await messages(store, "beta") == ["b1", "b2"]
    finally:
        await store.close()


async def test_readyz_and_metrics_show_the_quarantine(tmp_path: Path) -> None:
    from starlette.testclient import TestClient

    from logwarden.api.app import create_app
    from logwarden.api.runtime import runtime_of

    config = make_config(tmp_path)
    with TestClient(create_app(config, run_maintenance=False)) as client:
        assert client.get("/readyz").json() == {"status": "ready"}
        store = runtime_of(client).store
        assert store is not None
        client.portal.call(store.append, poisoned("default", ["ok"], ["bad"]))  # type: ignore[union-attr]
        client.portal.call(store.flush)  # type: ignore[union-attr]
        ready = client.get("/readyz")
        assert ready.status_code == 200
        body = ready.json()
        assert body["status"] == "ready" and body["quarantined"]["lines"] == 1
        assert "OverflowError" in body["quarantined"]["last"]["error"]
        assert "logwarden_quarantined_lines 1.0" in client.get("/metrics").text
        found = client.get("/api/v1/query", params={"q": "source:dead_letter", "start": "now-1h", "end": "now+1h"})
        assert found.status_code == 200, found.text
        assert [h["message"] for h in found.json()["hits"]] == ["bad"]


def test_a_cancelled_maintenance_task_does_not_kill_the_applier(tmp_path: Path) -> None:
    store = DuckDBStore(make_config(tmp_path))
    try:
        gate = threading.Event()
        busy = store._applier.run(lambda con: gate.wait(10))
        cancelled = store._applier.run(lambda con: 42)
        assert cancelled.cancel()  # what asyncio.wrap_future does when the awaiting task is cancelled
        gate.set()
        busy.result(timeout=10)
        # The thread is alive: it still runs tasks (it used to die on InvalidStateError).
        assert store._applier.run(lambda con: 7).result(timeout=10) == 7
    finally:
        store.close_blocking()


def test_a_cancelled_append_does_not_kill_the_log_writer(tmp_path: Path) -> None:
    log = IngestLog(tmp_path / "log")
    list(log.recover(0))
    gate = threading.Event()
    durable: list[int] = []

    def on_durable(items: list[tuple[int, pa.Table]]) -> None:
        gate.wait(10)
        durable.extend(seq for seq, _ in items)

    writer = LogWriter(log, on_durable)
    try:
        first = writer.submit(good("alpha", "a1"))
        # Let the writer take `first` and block in on_durable, so `second` waits in the queue.
        deadline = datetime.now(UTC) + timedelta(seconds=10)
        while log.next_seq == 1 and datetime.now(UTC) < deadline:
            threading.Event().wait(0.01)
        second = writer.submit(good("alpha", "a2"))
        assert second.cancel()  # a client that went away
        gate.set()
        assert first.result(timeout=10).stored == 1
        third = writer.submit(good("alpha", "a3"))
        assert third.result(timeout=10).stored == 1  # the thread survived (it used to die here)
        assert durable == [1, 2]  # the cancelled batch was never written
    finally:
        gate.set()
        writer.stop()
        log.close(applied_seq=2)


@pytest.mark.parametrize("bad_count", [1, 7])
async def test_bisection_keeps_every_good_row(tmp_path: Path, bad_count: int) -> None:
    store = DuckDBStore(make_config(tmp_path))
    try:
        names = [f"g{i:03d}" for i in range(200)]
        bad = [f"x{i}" for i in range(bad_count)]
        t = now_us() - 60_000_000
        mixed = [n for pair in zip(names, [*bad, *[None] * 200], strict=False) for n in pair if n]
        table = rows("alpha", mixed, [POISON_TS if m.startswith("x") else t for m in mixed])
        await store.append(table)
        await asyncio.wait_for(store.flush(), 30)
        assert await messages(store, "alpha") == names
        assert len(await dead_letters(store, "alpha")) == bad_count
    finally:
        await store.close()
