"""An in-process stand-in for the ingest endpoint (httpx MockTransport) that follows the server's contract:
answers scripted statuses, stores NDJSON records, drops re-sent `<stream>@<offset>` ids as duplicates."""

from __future__ import annotations

import gzip
import threading
import time
from collections import deque
from collections.abc import Callable
from typing import Any

import httpx
import orjson


class IngestStandIn:
    def __init__(self) -> None:
        self.stored: list[dict[str, Any]] = []
        self.script: deque[Any] = deque()  # per request: 200, another status, "down", or (status, headers)
        self.mode: Any = 200  # when the script is empty
        self.max_records: int | None = None  # larger requests get 413
        self.requests: list[float] = []
        self.encodings: list[str] = []
        self.duplicates = 0
        self._marks: dict[str, int] = {}
        self._lock = threading.Lock()

    def transport(self) -> httpx.MockTransport:
        return httpx.MockTransport(self)

    def __call__(self, request: httpx.Request) -> httpx.Response:
        with self._lock:
            self.requests.append(time.monotonic())
            action = self.script.popleft() if self.script else self.mode
            if action == "down":
                raise httpx.ConnectError("connection refused", request=request)
            headers: dict[str, str] = {}
            if isinstance(action, tuple):
                action, headers = action
            if action != 200:
                return httpx.Response(action, json={"error": f"scripted {action}"}, headers=headers)
            body = request.content
            self.encodings.append(request.headers.get("content-encoding", ""))
            if request.headers.get("content-encoding") == "gzip":
                body = gzip.decompress(body)
            records = [orjson.loads(line) for line in body.splitlines() if line]
            if self.max_records is not None and len(records) > self.max_records:
                return httpx.Response(413, json={"error": "too large"})
            duplicates = 0
            for record in records:
                stream, _, offset = record["log_id"].partition("@")
                if int(offset) <= self._marks.get(stream, -1):
                    duplicates += 1
                    continue
                self._marks[stream] = int(offset)
                self.stored.append(record)
            self.duplicates += duplicates
            return httpx.Response(200, json={"accepted": len(records), "rejected": 0, "duplicates": duplicates})


def wait_until(condition: Callable[[], bool], timeout: float = 10.0, what: str = "condition") -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.01)
