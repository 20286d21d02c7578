"""Re-sent lines named `<stream>@<offset>` are stored once, across batches and restarts."""

from __future__ import annotations

from pathlib import Path

import orjson
import pyarrow as pa
from starlette.testclient import TestClient

from logwarden.api.app import create_app
from logwarden.store.dedup import StreamDedup
from tests.conftest import make_config


def ids(*values: str, source: str = "http", tenant: str = "default") -> pa.Table:
    n = len(values)
    return pa.table({"log_id": list(values), "source": [source] * n, "tenant": [tenant] * n, "n": list(range(n))})


def test_filter_drops_offsets_not_above_the_mark() -> None:
    dedup = StreamDedup()
    out, dropped = dedup.filter(ids("a@10", "a@20", "plain-id", "b@5"))
    assert out.column("log_id").to_pylist() == ["a@10", "a@20", "plain-id", "b@5"] and dropped == 0
    out, dropped = dedup.filter(ids("a@20", "a@21", "b@5", "b@4", "c@0", "other"))
    assert out.column("log_id").to_pylist() == ["a@21", "c@0", "other"]
    assert dropped == 3


def test_filter_drops_repeats_inside_one_batch() -> None:
    out, dropped = StreamDedup().filter(ids("s@1", "s@2", "s@2", "s@1", "s@3"))
    assert out.column("log_id").to_pylist() == ["s@1", "s@2", "s@3"]
    assert dropped == 2


def test_ids_that_only_look_similar_are_not_touched() -> None:
    dedup = StreamDedup()
    dedup.filter(ids("x@100"))
    out, dropped = dedup.filter(ids("x@abc", "x@", "@5", "x@100@2", "x@99"))
    assert out.column("log_id").to_pylist() == ["x@abc", "x@", "@5", "x@100@2"]
    assert dropped == 1


def test_only_the_native_api_follows_the_convention() -> None:
    """An Elasticsearch _id or a Kafka key shaped like `x@1` must never make a line vanish."""
    dedup = StreamDedup()
    dedup.filter(ids("doc@100"))
    out, dropped = dedup.filter(ids("doc@50", "doc@50", source="es_bulk"))
    assert out.column("log_id").to_pylist() == ["doc@50", "doc@50"] and dropped == 0


def body(*offsets: int, stream: str = "file1") -> bytes:
    return b"\n".join(orjson.dumps({"msg": f"line at {o}", "log_id": f"{stream}@{o}"}) for o in offsets)


def test_resent_batches_are_stored_once_across_restarts(tmp_path: Path) -> None:
    cfg = make_config(tmp_path)
    with TestClient(create_app(cfg, run_maintenance=False)) as c:
        assert c.post("/api/v1/ingest", content=body(0, 10, 20)).json() == {"accepted": 3, "rejected": 0}
        # The agent crashed after sending and re-sends from its checkpoint, with a new line appended.
        resent = c.post("/api/v1/ingest", content=body(10, 20, 30)).json()
        assert resent == {"accepted": 3, "rejected": 0, "duplicates": 2}
        assert c.get("/api/v1/search", params={"q": "line at"}).json()["total"] == 4
        assert 'logwarden_duplicate_lines_total{source="http",tenant="default"} 2.0' in c.get("/metrics").text
    # After a restart (marks reloaded from DuckDB) the same re-send is still recognised.
    with TestClient(create_app(cfg, run_maintenance=False)) as c:
        again = c.post("/api/v1/ingest", content=body(20, 30, 40) + b"\n" + body(5, stream="file2")).json()
        assert again == {"accepted": 4, "rejected": 0, "duplicates": 2}
        hits = c.get("/api/v1/search", params={"q": "line at", "limit": 100}).json()
        assert sorted(h["log_id"] for h in hits["hits"]) == [
            "file1@0", "file1@10", "file1@20", "file1@30", "file1@40", "file2@5"
        ]  # fmt: skip


def test_marks_of_streams_silent_past_the_horizon_are_forgotten() -> None:
    from datetime import UTC, datetime, timedelta

    now = [datetime(2026, 3, 1, tzinfo=UTC)]
    dedup = StreamDedup(clock=lambda: now[0])
    dedup.filter(ids("old@10"))
    now[0] += timedelta(days=10)
    dedup.filter(ids("fresh@10"))
    assert len(dedup) == 2
    assert dedup.prune(datetime(2026, 3, 5, tzinfo=UTC)) == 1
    assert len(dedup) == 1
    # The forgotten stream starts over; the kept one still drops its re-sends.
    out, dropped = dedup.filter(ids("old@5", "fresh@5"))
    assert out.column("log_id").to_pylist() == ["old@5"] and dropped == 1


def test_maintenance_prunes_the_in_memory_marks_with_the_stored_ones(tmp_path: Path) -> None:
    import asyncio
    from datetime import UTC, datetime, timedelta

    from logwarden.store.duckdb import DuckDBStore

    config = make_config(tmp_path, **{"store.retention_days": 30})
    store = DuckDBStore(config)
    try:
        from tests.unit.store.test_duckdb_store import batch

        asyncio.run(store.append(batch([{"msg": "x", "log_id": "agent-a@1"}])))
        store.flush_blocking()
        assert len(store._dedup) == 1
        asyncio.run(store.maintain(now=datetime.now(UTC) + timedelta(days=31)))
        assert len(store._dedup) == 0
        assert store._db.execute("SELECT count(*) FROM _stream_hwm").fetchone() == (0,)
    finally:
        store.close_blocking()
