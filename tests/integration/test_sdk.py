"""logwarden.sdk.LogwardenHandler against a real server: fields, batching, drops, retries, exit flush."""

from __future__ import annotations

import logging
import subprocess
import sys
import textwrap
import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from logwarden.sdk import LogwardenHandler
from tests.conftest import ServerProcess, free_port

pytestmark = pytest.mark.slow


def search(server: ServerProcess, **params: Any) -> list[dict[str, Any]]:
    resp = httpx.get(server.url + "/api/v1/search", params={"start": "15m", "limit": 1000, **params}, timeout=30)
    assert resp.status_code == 200, resp.text
    return list(reversed(resp.json()["hits"]))  # oldest first


def make_logger(name: str, handler: logging.Handler) -> logging.Logger:
    logger = logging.getLogger(name)
    logger.handlers[:] = [handler]
    logger.setLevel(logging.DEBUG)
    logger.propagate = False
    return logger


def test_records_arrive_with_standard_fields(tmp_path: Path, server_factory: Any) -> None:
    server = server_factory(tmp_path / "data")
    handler = LogwardenHandler(server.url, service="checkout", version="1.4.2", component="payments", node_id="web-3")
    log = make_logger("sdk.fields", handler)
    log.info("order %s paid", 1042, extra={"user_id": 7, "trace_id": "4bf92f3577b34da6a3ce929d0e0e4736"})
    log.warning("slow provider")
    try:
        raise ValueError("card declined")
    except ValueError:
        log.exception("payment failed")
    assert handler.drain(10)
    handler.close()
    hits = search(server, service="checkout")
    assert [(h["level"], h["message"]) for h in hits] == [
        ("INFO", "order 1042 paid"), ("WARN", "slow provider"), ("ERROR", "payment failed")
    ]  # fmt: skip
    first = hits[0]
    assert first["host"] == "web-3"
    assert first["trace_id"] == "4bf92f3577b34da6a3ce929d0e0e4736"
    assert first["attrs"]["version"] == "1.4.2"
    assert first["attrs"]["component"] == "payments"
    assert first["attrs"]["node_id"] == "web-3"
    assert first["attrs"]["context.user_id"] == 7
    assert first["attrs"]["logger"] == "sdk.fields"
    assert first["attrs"]["source_location.function"] == "test_records_arrive_with_standard_fields"
    error = hits[2]["attrs"]
    assert error["error.type"] == "ValueError"
    assert error["error.message"] == "card declined"
    assert "raise ValueError" in error["error.stack"]
    assert handler.stats.sent == 3 and handler.stats.dropped == 0 and handler.stats.failed == 0


def test_opentelemetry_trace_context_is_attached(tmp_path: Path, server_factory: Any) -> None:
    from opentelemetry import trace
    from opentelemetry.sdk.trace import TracerProvider

    server = server_factory(tmp_path / "data")
    handler = LogwardenHandler(server.url, service="traced")
    log = make_logger("sdk.otel", handler)
    tracer = TracerProvider().get_tracer("test")
    with tracer.start_as_current_span("checkout") as span:
        log.info("inside a span")
        ctx = span.get_span_context()
    log.info("outside")
    handler.close()
    inside, outside = search(server, service="traced")
    assert inside["trace_id"] == f"{ctx.trace_id:032x}"
    assert inside["span_id"] == f"{ctx.span_id:016x}"
    assert outside["trace_id"] is None
    del trace


def test_full_queue_drops_and_counts_instead_of_blocking() -> None:
    dead = f"http://127.0.0.1:{free_port()}"  # nothing listens here
    handler = LogwardenHandler(dead, queue_size=10, batch_size=5, max_retries=0, timeout=2)
    log = make_logger("sdk.drops", handler)
    for i in range(1000):
        log.info("line %d", i)
    assert handler.stats.dropped > 0
    assert handler.drain(30)
    handler.close()
    # Every record is accounted for: dropped at the queue, or given up after the (zero) retries.
    assert handler.stats.dropped + handler.stats.failed == 1000
    assert handler.stats.sent == 0


def test_retries_until_the_server_is_up(tmp_path: Path, server_factory: Any) -> None:
    port = free_port()
    handler = LogwardenHandler(
        f"http://127.0.0.1:{port}", service="patient", max_retries=50, max_backoff=0.5, flush_interval=0.1
    )
    log = make_logger("sdk.retry", handler)
    for i in range(20):
        log.info("queued while down %d", i)
    time.sleep(1.0)  # the sender is retrying against a closed port
    assert handler.stats.retries > 0 and handler.stats.sent == 0
    server = server_factory(tmp_path / "data", port=port)
    assert handler.drain(30)
    handler.close()
    assert len(search(server, service="patient")) == 20
    assert handler.stats.sent == 20 and handler.stats.failed == 0


def test_pending_records_are_flushed_at_exit(tmp_path: Path, server_factory: Any) -> None:
    server = server_factory(tmp_path / "data")
    script = textwrap.dedent(
        f"""
        import logging
        from logwarden.sdk import LogwardenHandler
        logging.basicConfig(level=logging.INFO, handlers=[LogwardenHandler({server.url!r}, service="short-lived",
                                                                         flush_interval=60)])
        for i in range(50):
            logging.info("exit flush %d", i)
        """
    )
    subprocess.run([sys.executable, "-c", script], check=True, timeout=60)
    assert len(search(server, service="short-lived")) == 50


def test_structlog_through_stdlib_logging(tmp_path: Path, server_factory: Any) -> None:
    import structlog

    server = server_factory(tmp_path / "data")
    handler = LogwardenHandler(server.url, service="structured")
    make_logger("sdk.structlog", handler)
    structlog.configure(
        processors=[structlog.contextvars.merge_contextvars, structlog.stdlib.render_to_log_kwargs],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.stdlib.BoundLogger,
        cache_logger_on_first_use=False,
    )
    try:
        log = structlog.get_logger("sdk.structlog")
        structlog.contextvars.bind_contextvars(request_id="r-77")
        log.bind(order_id=1042).error("refund failed", amount=12.5)
        structlog.contextvars.clear_contextvars()
        handler.close()
    finally:
        structlog.reset_defaults()
    (hit,) = search(server, service="structured")
    assert hit["message"] == "refund failed"
    assert hit["level"] == "ERROR"
    assert hit["attrs"]["context.order_id"] == 1042
    assert hit["attrs"]["context.amount"] == 12.5
    assert hit["attrs"]["context.request_id"] == "r-77"
