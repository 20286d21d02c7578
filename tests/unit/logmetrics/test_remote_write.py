"""Remote-write: cumulative samples pushed from a durable outbox to a loopback receiver — nothing resent after a
restart, nothing lost, retries on 5xx/429, a 4xx dropped and counted, histograms as Prometheus buckets."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from logwarden.config.logmetrics import MetricDefinition, RemoteWriteConfig
from logwarden.logmetrics import prompb
from logwarden.logmetrics.aggregate import builtin_definitions
from logwarden.logmetrics.subscriber import LogMetricsSubscriber
from tests.unit.logmetrics.conftest import Opener
from tests.unit.logmetrics.helpers import Clock, line, stored

LATENCY = MetricDefinition(name="latency", type="histogram", field="ms", labels=["service"], buckets=[50, 100])


class Receiver:
    """A remote-write receiver on loopback: answers each request with the next scripted status (then 204) and
    keeps the samples of those it accepted."""

    def __init__(self) -> None:
        self.statuses: list[int] = []
        self.accepted: list[list[prompb.Sample]] = []
        self.requests = 0
        self.headers: list[dict[str, str]] = []
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                receiver.requests += 1
                receiver.headers.append(dict(self.headers))
                status = receiver.statuses.pop(0) if receiver.statuses else 204
                if status < 300:
                    receiver.accepted.append(prompb.decode(body))
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/api/v1/write"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join()

    def values(self, index: int = -1) -> dict[tuple[tuple[str, str], ...], tuple[float, int]]:
        """The samples of accepted request `index`: {labels: (value, epoch ms)}."""
        return {tuple(labels): (value, at) for labels, value, at in self.accepted[index]}


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    found = Receiver()
    yield found
    found.close()


def config(receiver: Receiver, **kwargs: object) -> RemoteWriteConfig:
    return RemoteWriteConfig.model_validate({"url": receiver.url, **kwargs})


def logs_total(level: str, service: str = "api") -> tuple[tuple[str, str], ...]:
    return (("__name__", "logs_total"), ("level", level), ("service", service), ("tenant", "default"))


def open_remote(open_subscriber: Opener, receiver: Receiver, **kwargs: object) -> LogMetricsSubscriber:
    sub = open_subscriber(
        [*builtin_definitions(), LATENCY], remote_write=config(receiver, **kwargs), commit_interval=timedelta(0)
    )
    assert sub.remote is not None
    sub.remote._first_backoff = 0.01  # the retry waits of these tests: short
    return sub


def test_pushes_cumulative_totals_stamped_with_their_commit(
    open_subscriber: Opener, receiver: Receiver, clock: Clock
) -> None:
    sub = open_remote(open_subscriber, receiver)
    assert sub.remote is not None
    sub.handle(stored(1, [line(1), line(2), line(3, level="error")]))
    first = int(clock.now.timestamp() * 1000)
    assert sub.remote.push() > 0
    assert receiver.values()[logs_total("INFO")] == (2.0, first)
    assert receiver.values()[logs_total("ERROR")] == (1.0, first)
    assert receiver.headers[0]["Content-Encoding"] == "snappy"
    clock.now += timedelta(seconds=30)
    sub.handle(stored(2, [line(40), line(41)]))
    sub.remote.push()
    later = receiver.values()
    assert later[logs_total("INFO")] == (4.0, first + 30_000)  # the running total, not the 2 new lines
    assert logs_total("ERROR") not in later  # unchanged series are not sent again
    assert sub.remote.push() == 0 and len(receiver.accepted) == 2  # nothing new: no request


def test_histograms_are_sent_as_cumulative_buckets(open_subscriber: Opener, receiver: Receiver) -> None:
    sub = open_remote(open_subscriber, receiver)
    assert sub.remote is not None
    sub.handle(stored(1, [line(1, ms=20), line(2, ms=70), line(3, ms=500)]))
    sub.remote.push()
    got = {labels: v for labels, (v, _) in receiver.values().items() if labels[0][1].startswith("latency")}
    base = (("service", "api"), ("tenant", "default"))
    assert got[(("__name__", "latency_bucket"), ("le", "50"), *base)] == 1
    assert got[(("__name__", "latency_bucket"), ("le", "100"), *base)] == 2
    assert got[(("__name__", "latency_bucket"), ("le", "+Inf"), *base)] == 3
    assert got[(("__name__", "latency_count"), *base)] == 3
    assert got[(("__name__", "latency_sum"), *base)] == 590


def test_a_restart_resends_nothing_and_the_counters_carry_on(
    open_subscriber: Opener, receiver: Receiver, clock: Clock
) -> None:
    sub = open_remote(open_subscriber, receiver)
    sub.handle(stored(1, [line(1), line(2)]))
    assert sub.remote is not None
    sub.remote.push()
    sub.handle(stored(2, [line(3)]))  # committed, not yet pushed: the push at close sends it
    sub.close()
    assert receiver.values()[logs_total("INFO")][0] == 3
    pushed = receiver.requests
    again = open_remote(open_subscriber, receiver)
    assert again.remote is not None
    assert again.remote.push() == 0 and receiver.requests == pushed  # nothing twice
    clock.now += timedelta(seconds=10)
    again.handle(stored(3, [line(4)]))
    again.remote.push()
    assert receiver.values()[logs_total("INFO")][0] == 4  # no counter reset across the restart


def test_a_push_interrupted_before_its_commit_resends_identical_samples(
    open_subscriber: Opener, receiver: Receiver
) -> None:
    sub = open_remote(open_subscriber, receiver)
    assert sub.remote is not None
    sub.handle(stored(1, [line(1), line(2, service="web")]))
    chunk = sub.store.outbox_chunk()
    assert chunk is not None
    sub.remote._send_chunk(chunk, retry=False)  # accepted by the receiver, then a crash before `outbox_done`
    sub.remote.push()
    assert receiver.values(0) == receiver.values(1)  # same timestamps and values: Prometheus keeps one of each


def test_5xx_and_429_are_retried_and_a_4xx_is_dropped_and_counted(
    open_subscriber: Opener, receiver: Receiver, clock: Clock
) -> None:
    sub = open_remote(open_subscriber, receiver)
    assert sub.remote is not None
    receiver.statuses = [503, 429, 500]
    sub.handle(stored(1, [line(1)]))
    sub.remote.push()
    assert receiver.requests == 4 and sub.remote.stats.retries == 3
    assert receiver.values()[logs_total("INFO")][0] == 1
    receiver.statuses = [400]
    clock.now += timedelta(seconds=10)
    sub.handle(stored(2, [line(2)]))
    sub.remote.push()
    assert sub.remote.stats.dropped_samples > 0 and sub.remote.stats.errors_by_status[400] == 1
    assert len(receiver.accepted) == 1 and sub.store.outbox_rows() == 0  # dropped, not retried
    clock.now += timedelta(seconds=10)
    sub.handle(stored(3, [line(3)]))
    sub.remote.push()
    assert receiver.values()[logs_total("INFO")][0] == 3  # the dropped lines still count in the totals


def test_an_unreachable_receiver_keeps_the_outbox_bounded(open_subscriber: Opener, receiver: Receiver) -> None:
    sub = open_remote(open_subscriber, receiver, max_pending_rows=1000)
    assert sub.remote is not None
    for seq in range(1, 5):
        sub.handle(stored(seq, [line(1, service=f"s{seq}-{i}") for i in range(400)]))
    receiver.statuses = [503]
    with pytest.raises(RuntimeError, match="503"):
        sub.remote.push(retry=False)
    assert sub.store.outbox_rows() <= 1000 and sub.remote.stats.dropped_samples >= 400


def test_without_remote_write_the_outbox_stays_empty(open_subscriber: Opener) -> None:
    sub = open_subscriber(builtin_definitions(), commit_interval=timedelta(0))
    sub.handle(stored(1, [line(1)]))
    sub.flush()
    assert sub.remote is None and sub.store.outbox_rows() == 0


def test_config_refuses_a_url_without_a_scheme() -> None:
    with pytest.raises(ValueError, match="url"):
        RemoteWriteConfig.model_validate({"url": "prometheus:9090/api/v1/write"})
