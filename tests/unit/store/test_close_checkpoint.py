"""The checkpoint at a clean stop runs in a small buffer pool, and again with the store's own when too small."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import orjson
import pytest

from logwarden.ingest.ndjson import decode_json_body
from logwarden.model.normalize import BatchContext, normalize
from logwarden.store.base import CountQuery
from logwarden.store.duckdb import DuckDBStore
from logwarden.store.duckdb import maintenance as store_module
from tests.conftest import make_config

LINES = 30_000


def _batch(now: datetime) -> object:
    body = b"\n".join(
        orjson.dumps({"ts": (now - timedelta(seconds=i)).isoformat(), "msg": f"closing line {i} " + "x" * 40})
        for i in range(LINES)
    )
    return normalize(decode_json_body(body).records, BatchContext("default", "http", now))


@pytest.mark.parametrize(
    ("close_limit", "reopened_after_failure"),
    [
        (store_module.CLOSE_CHECKPOINT_MEMORY_LIMIT, False),  # the default: fits
        (64 * 1024, False),  # DuckDB refuses the limit itself (more is held): the store's limit
        (2 * 1024**2, True),  # the checkpoint fails (FATAL): reopened, checkpointed with the store's limit
    ],
)
async def test_close_checkpoints_everything(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
    close_limit: int,
    reopened_after_failure: bool,
) -> None:
    monkeypatch.setattr(store_module, "CLOSE_CHECKPOINT_MEMORY_LIMIT", close_limit)
    # No checkpoint while running: the one at close has every row to write.
    config = make_config(tmp_path, **{"store.checkpoint_threshold": "1GiB"})
    now = datetime.now(UTC)
    store = DuckDBStore(config)
    await store.append(_batch(now))  # type: ignore[arg-type]
    await store.flush()
    await store.close()
    assert ("the checkpoint at close needed more" in caplog.text) is reopened_after_failure
    assert not Path(str(store.path) + ".wal").exists()  # checkpointed: nothing left in DuckDB's WAL
    reopened = DuckDBStore(config)
    try:
        counted = await reopened.count(CountQuery("default", now - timedelta(days=1), now + timedelta(seconds=1)))
    finally:
        await reopened.close()
    assert counted.total == LINES
