"""Shutdown lets a maintenance pass in flight finish: cancelling it mid-way left the store's writer thread
completing a cancelled future (InvalidStateError), which killed the thread."""

from __future__ import annotations

import asyncio
import threading
from pathlib import Path

from starlette.testclient import TestClient

from logwarden.api.app import create_app
from logwarden.api.runtime import Runtime
from logwarden.store.base import MaintenanceReport
from tests.conftest import make_config


def test_shutdown_waits_for_the_maintenance_pass_in_flight(tmp_path: Path) -> None:
    config = make_config(tmp_path, store={"maintenance_interval": "10ms"})
    app = create_app(config)
    runtime: Runtime = app.state.runtime
    started = threading.Event()
    outcomes: list[str] = []
    with TestClient(app):
        store = runtime.store
        assert store is not None
        real_maintain = store.maintain

        async def slow_maintain() -> MaintenanceReport:
            # The real pass, made long enough that the shutdown surely lands inside it.
            started.set()
            try:
                await asyncio.sleep(0.5)
                report = await real_maintain()
            except asyncio.CancelledError:
                outcomes.append("cancelled")
                raise
            outcomes.append("finished")
            return report

        store.maintain = slow_maintain  # type: ignore[method-assign]
        assert started.wait(10)
    assert outcomes == ["finished"]
