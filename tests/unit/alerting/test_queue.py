"""The persisted notification queue: order per group, outcomes, retries, deadlines, history and clean-up."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from logwarden.alerting.model import sample_notification
from logwarden.alerting.notifiers.base import DeliveryResult
from logwarden.alerting.notify.queue import NewNotification, NotificationQueue, backoff
from logwarden.meta.db import MetaDB, default_url

T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


@pytest.fixture
def meta(tmp_path: Path) -> Iterator[MetaDB]:
    db = MetaDB(default_url(tmp_path))
    yield db
    db.close()


def put(queue: NotificationQueue, meta: MetaDB, *items: tuple[str, str], at: datetime = T0) -> None:
    news = [
        NewNotification("default", receiver, "webhook[0]", group, sample_notification(receiver, now=at))
        for receiver, group in items
    ]
    with meta.engine.begin() as con:
        queue.enqueue(con, news, at, timedelta(hours=1))


def test_a_groups_notifications_go_out_in_order_one_at_a_time(meta: MetaDB) -> None:
    queue = NotificationQueue(meta.engine)
    put(queue, meta, ("ops", "g1"), ("ops", "g1"), ("ops", "g2"), ("db", "g1"))
    claimed = queue.claim(T0, 10)
    # The second notification of (ops, g1) waits for the first; other groups and receivers go at once.
    assert [(c.receiver, c.group_key) for c in claimed] == [("ops", "g1"), ("ops", "g2"), ("db", "g1")]
    first = claimed[0]
    assert queue.claim(T0, 10, busy={c.id for c in claimed}) == []
    assert queue.record(first, DeliveryResult.delivered(200, "ok"), at=T0, latency=0.01, retry_at=None) == "delivered"
    after = queue.claim(T0, 10, busy={c.id for c in claimed[1:]})
    assert [(c.receiver, c.group_key, c.id > first.id) for c in after] == [("ops", "g1", True)]


def test_retriable_waits_rejected_stops_and_the_deadline_expires(meta: MetaDB) -> None:
    queue = NotificationQueue(meta.engine)
    put(queue, meta, ("ops", "g1"), ("ops", "g2"))
    a, b = queue.claim(T0, 10)
    retry_at = T0 + timedelta(seconds=30)
    state = queue.record(a, DeliveryResult.retriable("boom", 503), at=T0, latency=0.1, retry_at=retry_at)
    assert state == "queued"
    assert queue.record(b, DeliveryResult.rejected("bad", 400), at=T0, latency=0.1, retry_at=None) == "rejected"
    assert queue.claim(T0 + timedelta(seconds=29), 10) == []
    assert queue.next_due() == retry_at
    (again,) = queue.claim(retry_at, 10)
    assert again.id == a.id and again.attempts == 1
    # A retry due after the deadline ends the row.
    late = again.deadline + timedelta(seconds=1)
    assert (
        queue.record(again, DeliveryResult.retriable("boom", 503), at=retry_at, latency=0.1, retry_at=late) == "expired"
    )
    assert queue.claim(late, 10) == [] and queue.next_due() is None
    attempts = queue.attempts("default")
    assert [x["outcome"] for x in attempts] == ["expired", "rejected", "retriable"]
    assert [x["status_code"] for x in attempts] == [503, 400, 503]
    assert queue.attempts("default", outcome="rejected")[0]["answer"] == "bad"
    assert queue.attempts("default", channel="webhook", receiver="ops") and not queue.attempts(
        "default", channel="slack"
    )
    assert queue.attempts("other") == []
    assert queue.counts() == {("ops", "webhook[0]", "expired"): 1, ("ops", "webhook[0]", "rejected"): 1}


def test_postpone_counts_no_attempt_and_gc_keeps_unfinished_rows(meta: MetaDB) -> None:
    queue = NotificationQueue(meta.engine)
    put(queue, meta, ("ops", "g1"), ("ops", "g2"))
    a, b = queue.claim(T0, 10)
    queue.postpone(a, T0 + timedelta(seconds=5))
    assert [c.id for c in queue.claim(T0, 10, busy={b.id})] == []
    assert queue.claim(T0 + timedelta(seconds=5), 10, busy={b.id})[0].attempts == 0
    queue.record(b, DeliveryResult.delivered(200), at=T0, latency=0.0, retry_at=None)
    assert queue.gc(T0 + timedelta(days=1), timedelta(days=2)) == 0
    assert queue.gc(T0 + timedelta(days=3), timedelta(days=2)) == 1
    assert queue.attempts("default") == []  # the delivered row's attempt went with it
    assert len(queue.claim(T0 + timedelta(days=3), 10)) == 1  # the queued one stays


def test_backoff_doubles_with_jitter_up_to_the_maximum() -> None:
    import random

    rng = random.Random(7)
    waits = [backoff(n, timedelta(seconds=1), timedelta(seconds=60), rng).total_seconds() for n in range(1, 10)]
    for n, wait in enumerate(waits, start=1):
        base = min(60.0, 2 ** (n - 1))
        assert min(60.0, base * 0.8) <= wait <= min(60.0, base * 1.2)
    assert waits[-1] == pytest.approx(60.0, rel=0.2)
