"""/metrics collects the store's figures (a catalog query, a walk of the archive) off the event loop."""

from __future__ import annotations

import asyncio

from starlette.testclient import TestClient


def test_store_figures_are_collected_on_a_worker_thread(client: TestClient) -> None:
    store = client.app.state.runtime.store  # type: ignore[attr-defined]
    measure = store.size_bytes
    where: list[str] = []

    def size_bytes() -> int:
        try:
            asyncio.get_running_loop()
            where.append("event loop")
        except RuntimeError:
            where.append("worker thread")
        return int(measure())

    store.size_bytes = size_bytes
    resp = client.get("/metrics")
    assert resp.status_code == 200
    assert "logwarden_store_size_bytes" in resp.text
    assert where == ["worker thread"]
