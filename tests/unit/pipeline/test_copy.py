"""`copy`: the step marks rows, its output ships them; a local capture server receives the exact NDJSON."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import orjson
import pyarrow as pa
import pytest

from logwarden.bus.base import BusBatch
from logwarden.model.normalize import pack
from logwarden.outputs.copy import CopyDeliveryError, CopyOutput
from logwarden.pipeline import fields
from logwarden.pipeline.base import BuildEnv
from logwarden.pipeline.copy import MARK_COLUMN, Copy, CopyConfig, mark, marked_for
from logwarden.pipeline.runner import concat_wide
from logwarden.store.arrival import with_seq


class Capture:
    def __init__(self) -> None:
        self.requests: list[tuple[dict[str, str], bytes]] = []
        self.status = 200
        self.fail_after: int | None = None  # answer 503 once this many requests succeeded
        capture = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                status = capture.status
                if capture.fail_after is not None and len(capture.requests) >= capture.fail_after:
                    status = 503
                else:
                    capture.requests.append((dict(self.headers), body))
                self.send_response(status)
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


def config_for(url: str, **settings: Any) -> CopyConfig:
    return CopyConfig.model_validate(
        {"type": "copy", "to": {"type": "http", "url": url, "headers": {"Authorization": "Bearer s3cret"}}, **settings}
    )


def build(url: str, **settings: Any) -> Copy:
    processor = config_for(url, **settings).build(BuildEnv())
    assert isinstance(processor, Copy)
    return processor


def stored(batch: pa.Table, seq: int = 1) -> BusBatch:
    """A wide batch as the bus hands it on: packed to the stored schema, marks carried along."""
    core = pack(batch)
    if MARK_COLUMN in batch.column_names:
        core = core.append_column(MARK_COLUMN, batch.column(MARK_COLUMN))
    return BusBatch(seq, with_seq(seq, core))


def test_the_step_only_marks_rows_for_its_output() -> None:
    copy = build("http://127.0.0.1:9/hook")
    batch = fields.wide_from_records([{"message": "a"}, {"message": "b"}])
    out = copy.process(batch)
    assert out.errors is None and out.batch.num_rows == 2
    assert marked_for(out.batch, copy.output).to_pylist() == [True, True]
    assert marked_for(out.batch, "copy.other").to_pylist() == [False, False]
    # A second output's mark is added beside the first; marking twice changes nothing.
    twice = mark(mark(out.batch, "copy.other"), copy.output)
    assert marked_for(twice, copy.output).to_pylist() == [True, True]
    assert marked_for(twice, "copy.other").to_pylist() == [True, True]


def test_output_names_follow_the_destination_or_the_given_name() -> None:
    a = config_for("http://127.0.0.1:9/a")
    assert a.output_name == config_for("http://127.0.0.1:9/a", batch_lines=5).output_name
    assert a.output_name != config_for("http://127.0.0.1:9/b").output_name
    assert config_for("http://127.0.0.1:9/a", name="mirror").output_name == "copy.mirror"


def test_copies_reach_the_endpoint_as_ndjson(capture: Capture) -> None:
    batch = fields.wide_from_records(
        [
            {"message": "disk full", "level": "error", "service": "db", "ts": "2026-01-02T03:04:05Z", "code": 28},
            {"message": 'quote " and\nnewline', "log_id": "given-1"},
        ]
    )
    config = config_for(capture.url)
    marked = build(capture.url).process(batch).batch
    output = CopyOutput(config)
    output.handle(stored(marked))
    output.close()
    ((headers, _),) = capture.requests
    assert headers["Authorization"] == "Bearer s3cret"
    assert headers["Content-Type"] == "application/x-ndjson"
    assert headers["Idempotency-Key"] == f"{config.output_name}:1:0"
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
    assert output.stats.sent >= 2


def test_unmarked_rows_are_not_shipped(capture: Capture) -> None:
    config = config_for(capture.url, name="only-marked")
    rows = fields.wide_from_records([{"message": "keep"}, {"message": "skip"}])
    marked = concat_wide([mark(rows.slice(0, 1), config.output_name), rows.slice(1, 1)])
    CopyOutput(config).handle(stored(marked))
    assert [line["message"] for line in capture.lines()] == ["keep"]


def test_a_failed_chunk_raises_and_the_retry_skips_chunks_already_delivered(capture: Capture) -> None:
    config = config_for(capture.url, name="chunks", batch_lines=2)
    batch = stored(mark(fields.wide_from_records([{"message": f"m{i}"} for i in range(5)]), config.output_name))
    output = CopyOutput(config)
    capture.fail_after = 1  # the first request succeeds, the next ones fail
    with pytest.raises(CopyDeliveryError, match="HTTP 503"):
        output.handle(batch)
    assert output.stats.failed == 2
    capture.fail_after = None
    output.handle(batch)  # the bus hands the same batch again
    assert [line["message"] for line in capture.lines()] == ["m0", "m1", "m2", "m3", "m4"]
    assert output.stats.sent == 5


def test_the_sink_url_must_be_http() -> None:
    with pytest.raises(ValueError, match="should match pattern"):
        CopyConfig.model_validate({"type": "copy", "to": {"type": "http", "url": "file:///etc/passwd"}})
