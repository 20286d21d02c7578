"""An app served by uvicorn in a thread on a loopback port, for tests that reach it the way a user would: an HTTP
client over a real socket, or a CLI command (`with LiveServer(app) as live:` …, `live.url`)."""

from __future__ import annotations

import threading
import time
from typing import Literal

import uvicorn
from starlette.applications import Starlette

from tests.conftest import free_port


class LiveServer:
    """`app` under uvicorn in a thread, on `port` (default: a free one); `start`/`stop`, or a context manager."""

    def __init__(
        self, app: Starlette, port: int | None = None, *, lifespan: Literal["auto", "on", "off"] = "on"
    ) -> None:
        port = free_port() if port is None else port
        self.app = app
        self.url = f"http://127.0.0.1:{port}"
        self.server = uvicorn.Server(
            uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan=lifespan)
        )
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    def start(self) -> None:
        """Serve; returns once uvicorn has started (fails the test after 30 s)."""
        self.thread.start()
        deadline = time.monotonic() + 30
        while not self.server.started:
            assert time.monotonic() < deadline, "server did not start"
            time.sleep(0.02)

    def stop(self) -> None:
        """Shut uvicorn down and wait for its thread (the app's shutdown runs)."""
        self.server.should_exit = True
        self.thread.join(30)

    def __enter__(self) -> LiveServer:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()
