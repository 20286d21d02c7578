"""The store signals with its own error types (store/base.py), never with built-in exceptions, and ingest maps
only those to 503: a RuntimeError or OSError raised while decoding is not a store that is down."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path

import pytest
from starlette.testclient import TestClient

from logwarden.api.app import create_app
from logwarden.store.base import StorageFailureError, StoreClosedError, StoreError
from logwarden.store.duckdb import DuckDBStore
from tests.conftest import make_config
from tests.unit.store.test_duckdb_store import batch


def test_append_after_close_is_store_closed(tmp_path: Path) -> None:
    store = DuckDBStore(make_config(tmp_path))
    store.close_blocking()
    with pytest.raises(StoreClosedError):
        asyncio.run(store.append(batch([{"msg": "late"}])))


def test_a_failed_log_write_is_a_storage_failure_not_an_oserror(tmp_path: Path) -> None:
    store = DuckDBStore(make_config(tmp_path))
    try:
        fd = store.ingest_log._fd
        assert fd is not None
        os.close(fd)  # the next writev fails for real (EBADF), as a vanished disk would
        with pytest.raises(StorageFailureError) as caught:
            asyncio.run(store.append(batch([{"msg": "lost?"}])))
        assert not isinstance(caught.value, OSError) and isinstance(caught.value, StoreError)
        assert "ingest log" in str(caught.value)
    finally:
        store.ingest_log._fd = None  # already closed above
        store.close_blocking()


def test_ingest_answers_503_with_retry_after_when_the_log_cannot_be_written(tmp_path: Path) -> None:
    with TestClient(create_app(make_config(tmp_path), run_maintenance=False)) as client:
        store = client.app.state.runtime.store  # type: ignore[attr-defined]
        os.close(store.ingest_log._fd)
        resp = client.post("/api/v1/ingest", content=b'{"msg":"x"}')
        assert resp.status_code == 503
        assert resp.headers["Retry-After"] == "1"
        assert "store unavailable" in resp.json()["error"]
        store.ingest_log._fd = None
