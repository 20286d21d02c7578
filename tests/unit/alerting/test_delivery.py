"""Delivery workers against a local HTTP endpoint: retries until it recovers (exactly one delivery), 4xx not
retried, timeouts retried, rate limits wait, every attempt recorded."""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import ClassVar

import pytest

from logwarden.alerting.config import DeliveryConfig
from logwarden.alerting.model import Notification, sample_notification
from logwarden.alerting.notifiers.base import DeliveryResult, Notifier, NotifierConfig, classify_http
from logwarden.alerting.notify.delivery import DeliveryService
from logwarden.alerting.notify.queue import NewNotification, NotificationQueue
from logwarden.meta.db import MetaDB, default_url
from tests.unit.alerting.capture import Answer, CaptureServer


class PostConfig(NotifierConfig):
    url: str = ""


class Post(Notifier):
    """POSTs the notification's JSON (the smallest HTTP channel)."""

    kind: ClassVar[str] = "test_post"
    config_model: ClassVar[type[NotifierConfig]] = PostConfig

    def send(self, notification: Notification) -> DeliveryResult:
        assert isinstance(self.config, PostConfig)
        response = self.post_json(self.config.url, notification.to_json())
        return response if isinstance(response, DeliveryResult) else classify_http(response)


@pytest.fixture
def meta(tmp_path: Path) -> Iterator[MetaDB]:
    db = MetaDB(default_url(tmp_path))
    yield db
    db.close()


FAST = DeliveryConfig(workers=2, initial_backoff=timedelta(milliseconds=50), max_backoff=timedelta(milliseconds=200))


def enqueue(
    meta: MetaDB, queue: NotificationQueue, group: str = "g1", deadline: timedelta = timedelta(hours=1)
) -> None:
    from datetime import UTC, datetime

    now = datetime.now(UTC)
    item = NewNotification("default", "ops", "test_post[0]", group, sample_notification("ops", now=now))
    with meta.engine.begin() as con:
        queue.enqueue(con, [item], now, deadline)


def wait_until(predicate: object, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():  # type: ignore[operator]
            return
        time.sleep(0.02)
    raise AssertionError("condition not met in time")


class Service(DeliveryService):
    def stop(self, timeout: float = 15.0) -> None:
        super().stop(timeout)
        for notifier in self.notifiers.values():
            notifier.close()


def run(meta: MetaDB, notifier: Notifier, config: DeliveryConfig = FAST) -> tuple[NotificationQueue, DeliveryService]:
    queue = NotificationQueue(meta.engine)
    service = Service(queue, {("ops", "test_post[0]"): notifier}, config)
    service.start()
    return queue, service


def test_a_channel_down_for_a_while_gets_the_notification_once_after_it_recovers(meta: MetaDB) -> None:
    with CaptureServer() as server:
        server.script = [Answer(500), Answer(502, "bad gateway"), Answer(200, delay=1.0), Answer(200)]
        notifier = Post(PostConfig(url=server.url + "/hook", timeout=timedelta(milliseconds=300)))
        queue, service = run(meta, notifier)
        try:
            enqueue(meta, queue)
            service.wake()
            wait_until(lambda: queue.counts().get(("ops", "test_post[0]", "delivered")) == 1)
        finally:
            service.stop()
        # 500, 502, a timeout (the answer came too late), then delivered: four requests, one delivery.
        assert len(server.requests) == 4
        assert server.requests[-1].json()["receiver"] == "ops"
        outcomes = [(a["outcome"], a["status_code"]) for a in reversed(queue.attempts("default"))]
        assert outcomes == [("retriable", 500), ("retriable", 502), ("retriable", None), ("delivered", 200)]
        assert "timed out" in queue.attempts("default")[1]["answer"]
        assert service.attempts[("ops", "test_post[0]", "delivered")] == 1


def test_a_4xx_is_rejected_and_not_retried(meta: MetaDB) -> None:
    with CaptureServer(default=Answer(400, '{"error":"invalid payload"}')) as server:
        queue, service = run(meta, Post(PostConfig(url=server.url)))
        try:
            enqueue(meta, queue)
            service.wake()
            wait_until(lambda: queue.counts().get(("ops", "test_post[0]", "rejected")) == 1)
            time.sleep(0.3)
        finally:
            service.stop()
        assert len(server.requests) == 1
        (attempt,) = queue.attempts("default")
        assert attempt["outcome"] == "rejected" and "invalid payload" in attempt["answer"]


def test_retry_after_is_honoured_and_the_deadline_gives_up(meta: MetaDB) -> None:
    with CaptureServer(default=Answer(429, "slow down", headers={"Retry-After": "0.15"})) as server:
        queue, service = run(meta, Post(PostConfig(url=server.url)))
        try:
            # A deadline long enough for several tries even when the machine is slow to make the first one.
            enqueue(meta, queue, deadline=timedelta(milliseconds=1500))
            service.wake()
            wait_until(lambda: queue.counts().get(("ops", "test_post[0]", "expired")) == 1)
        finally:
            service.stop()
        gaps = [b.at - a.at for a, b in zip(server.requests, server.requests[1:], strict=False)]
        assert gaps and min(gaps) >= 0.14  # never sooner than the channel asked
        assert queue.attempts("default")[0]["outcome"] == "expired"


def test_a_rate_limit_holds_notifications_back_without_dropping_any(meta: MetaDB) -> None:
    with CaptureServer() as server:
        notifier = Post(PostConfig(url=server.url, rate_limit="2/1s"))
        queue, service = run(meta, notifier)
        try:
            for i in range(4):
                enqueue(meta, queue, group=f"g{i}")
            began = time.monotonic()
            service.wake()
            wait_until(lambda: queue.counts().get(("ops", "test_post[0]", "delivered")) == 4)
        finally:
            service.stop()
        assert len(server.requests) == 4
        # Two at once, then one token per half second.
        assert server.requests[3].at - began >= 0.9
        assert all(a["outcome"] == "delivered" for a in queue.attempts("default"))
