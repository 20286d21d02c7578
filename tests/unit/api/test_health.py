"""/healthz and /readyz: readiness asks the store on a worker thread, so a slow store never stalls the loop."""

from __future__ import annotations

import asyncio
import dataclasses
import threading
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from starlette.testclient import TestClient


def test_healthz_and_readyz_answer_while_the_quarantine_read_blocks(client: TestClient) -> None:
    store = client.app.state.runtime.store  # type: ignore[attr-defined]
    real_status = store.quarantine_status
    entered, release = threading.Event(), threading.Event()
    where: list[str] = []

    def blocked_status() -> Any:
        try:
            asyncio.get_running_loop()
            where.append("event loop")
        except RuntimeError:
            where.append("worker thread")
        entered.set()
        release.wait(60)
        return dataclasses.replace(real_status(), lines=3, last={"seq": 7})

    store.quarantine_status = blocked_status
    with ThreadPoolExecutor(2) as pool:
        ready = pool.submit(client.get, "/readyz")
        try:
            assert entered.wait(10), "readyz never asked the store"
            # Had readyz blocked the event loop, these would wait for `release` and time out.
            assert pool.submit(client.get, "/healthz").result(timeout=10).json() == {"status": "ok"}
            assert not ready.done()
        finally:
            release.set()
        resp = ready.result(timeout=10)
    assert resp.status_code == 200
    assert resp.json() == {"status": "ready", "quarantined": {"lines": 3, "last": {"seq": 7}}}
    assert where == ["worker thread"]


def test_readyz_is_503_while_shutting_down_without_asking_the_store(client: TestClient) -> None:
    runtime = client.app.state.runtime  # type: ignore[attr-defined]
    asked: list[bool] = []
    runtime.store.quarantine_status = lambda: asked.append(True)
    runtime.shutting_down = True
    try:
        resp = client.get("/readyz")
    finally:
        runtime.shutting_down = False
    assert (resp.status_code, resp.json()) == (503, {"status": "stopping"})
    assert asked == []
    assert client.get("/healthz").status_code == 200
