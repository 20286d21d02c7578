"""`copy` to an HTTP endpoint: a local capture server receives the exact NDJSON."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import orjson
import pytest

from logwarden.pipeline import fields
from logwarden.pipeline.base import BuildEnv
from logwarden.pipeline.copy import Copy, CopyConfig


class Capture:
    def __init__(self) -> None:
        self.requests: list[tuple[dict[str, str], bytes]] = []
        self.status = 200
        capture = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                capture.requests.append((dict(self.headers), body))
                self.send_response(capture.status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def lines(self) -> list[dict[str, Any]]:
        return [orjson.loads(line) for _, body in self.requests for line in body.splitlines()]


@pytest.fixture
def capture() -> Iterator[Capture]:
    c = Capture()
    yield c
    c.server.shutdown()
    c.server.server_close()


def build(url: str, **settings: Any) -> Copy:
    config = CopyConfig.model_validate(
        {"type": "copy", "to": {"type": "http", "url": url, "headers": {"Authorization": "Bearer s3cret"}}, **settings}
    )
    processor = config.build(BuildEnv())
    assert isinstance(processor, Copy)
    return processor


def test_copies_reach_the_endpoint_as_ndjson_and_lines_continue(capture: Capture) -> None:
    batch = fields.wide_from_records(
        [
            {"message": "disk full", "level": "error", "service": "db", "ts": "2026-01-02T03:04:05Z", "code": 28},
            {"message": 'quote " and\nnewline', "log_id": "given-1"},
        ]
    )
    copy = build(capture.url, retries=0)
    out = copy.process(batch)
    copy.close()
    assert out.batch is batch and out.errors is None
    ((headers, _),) = capture.requests
    assert headers["Authorization"] == "Bearer s3cret"
    assert headers["Content-Type"] == "application/x-ndjson"
    first, second = capture.lines()
    assert first["message"] == "disk full"
    assert first["level"] == "ERROR"
    assert first["service"] == "db"
    assert first["ts"] == "2026-01-02T03:04:05.000000Z"
    assert first["attrs"] == {"code": 28}
    assert first["tenant"] == "default"
    assert second["message"] == 'quote " and\nnewline'
    assert second["log_id"] == "given-1"
    assert "attrs" not in second
    assert (copy.sent, copy.failed, copy.dropped) == (2, 0, 0)


def test_a_full_queue_drops_new_copies_and_counts_them(capture: Capture) -> None:
    copy = build(capture.url, queue_lines=1, retries=0)
    # Hold the sender so the queue stays full.
    with copy._cond:
        copy.process(fields.wide_from_records([{"message": f"m{i}"} for i in range(5)]))
    copy.close()
    assert copy.dropped == 4
    assert copy.sent == 1
    assert [line["message"] for line in capture.lines()] == ["m0"]


def test_failed_deliveries_are_retried_then_counted(capture: Capture) -> None:
    capture.status = 503
    copy = build(capture.url, retries=1)
    copy.process(fields.wide_from_records([{"message": "x"}]))
    copy.close()
    assert len(capture.requests) == 2
    assert (copy.sent, copy.failed) == (0, 1)


def test_the_sink_url_must_be_http() -> None:
    with pytest.raises(ValueError, match="should match pattern"):
        CopyConfig.model_validate({"type": "copy", "to": {"type": "http", "url": "file:///etc/passwd"}})
