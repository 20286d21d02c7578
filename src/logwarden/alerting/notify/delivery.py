"""Delivery workers: take due notifications from the persisted queue, send them through their notifier, record
every attempt (notify/queue.py), and retry with exponential backoff and jitter until delivered, rejected, or past
the deadline. Each integration's rate limit holds notifications back in the queue; none is dropped."""

from __future__ import annotations

import logging
import threading
import time
from collections import Counter
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta

from logwarden.alerting.config import DeliveryConfig
from logwarden.alerting.notifiers.base import DeliveryResult, Notifier, Outcome
from logwarden.alerting.notify.queue import EXPIRED, NotificationQueue, QueuedNotification, backoff

log = logging.getLogger(__name__)

IntegrationKey = tuple[str, str]  # (receiver, integration), e.g. ("ops", "webhook[0]")


class DeliveryService:
    """A dispatcher thread claiming due rows and a pool of `config.workers` threads sending them."""

    def __init__(
        self,
        queue: NotificationQueue,
        notifiers: Mapping[IntegrationKey, Notifier],
        config: DeliveryConfig,
        *,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
        on_delivered: Callable[[QueuedNotification, float], None] | None = None,
    ) -> None:
        self.queue = queue
        self.notifiers = dict(notifiers)  # the config file's receivers: tenants without their own config
        # Tenants with their own alerting config → their integrations; replaced whole (one assignment) on change.
        self.tenant_notifiers: dict[str, Mapping[IntegrationKey, Notifier]] = {}
        self.config = config
        self._clock = clock
        self._on_delivered = on_delivered
        self._busy: set[int] = set()
        self._busy_lock = threading.Lock()
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._pool = ThreadPoolExecutor(max_workers=config.workers, thread_name_prefix="lw-notify")
        self._thread: threading.Thread | None = None
        # (receiver, integration, outcome) → attempts; latencies of delivered attempts (for /metrics)
        self.attempts: Counter[tuple[str, str, str]] = Counter()
        self.latency_sum: dict[tuple[str, str], float] = {}
        # The same per tenant too: a receiver name may exist in two tenants (tenant, receiver, integration, …).
        self.tenant_attempts: Counter[tuple[str, str, str, str]] = Counter()
        self.tenant_latency_sum: dict[tuple[str, str, str], float] = {}

    def start(self) -> None:
        self._thread = threading.Thread(target=self._loop, name="lw-notify-dispatch", daemon=True)
        self._thread.start()

    def wake(self) -> None:
        self._wake.set()

    def stop(self, timeout: float = 15.0) -> None:
        """Stop claiming; wait for the attempts under way (each bounded by its integration's timeout)."""
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout)
        self._pool.shutdown(wait=True)

    def _loop(self) -> None:
        while not self._stop.is_set():
            wait = 1.0
            try:
                wait = self._dispatch()
            except Exception:
                log.exception("claiming notifications failed; retrying")
            self._wake.wait(wait)
            self._wake.clear()

    def _dispatch(self) -> float:
        """Hand due rows to free workers; the seconds until the next check."""
        with self._busy_lock:
            busy = set(self._busy)
        free = self.config.workers - len(busy)
        if free > 0:
            now = self._clock()
            for item in self.queue.claim(now, free, busy):
                with self._busy_lock:
                    self._busy.add(item.id)
                self._pool.submit(self._deliver, item)
        due = self.queue.next_due()
        if due is None:
            return 1.0
        return min(1.0, max(0.0, (due - self._clock()).total_seconds()))

    def _deliver(self, item: QueuedNotification) -> None:
        try:
            self._attempt(item)
        except Exception:
            log.exception("delivering notification %s failed; it stays queued", item.id)
        finally:
            with self._busy_lock:
                self._busy.discard(item.id)
            self._wake.set()

    def notifier_for(self, tenant: str, receiver: str, integration: str) -> Notifier | None:
        """The integration a tenant's notification goes through: its own receivers' when it has its own
        alerting config, else the config file's."""
        notifiers = self.tenant_notifiers.get(tenant, self.notifiers)
        return notifiers.get((receiver, integration))

    def _count(self, item: QueuedNotification, outcome: str) -> None:
        self.attempts[(item.receiver, item.integration, outcome)] += 1
        self.tenant_attempts[(item.tenant, item.receiver, item.integration, outcome)] += 1

    def _attempt(self, item: QueuedNotification) -> None:
        notifier = self.notifier_for(item.tenant, item.receiver, item.integration)
        now = self._clock()
        if notifier is None:
            result = DeliveryResult.rejected(f"receiver {item.receiver!r} has no integration {item.integration}")
            self.queue.record(item, result, at=now, latency=0.0, retry_at=None)
            self._count(item, str(Outcome.REJECTED))
            return
        if now >= item.deadline:
            result = DeliveryResult.retriable("given up: past the delivery deadline")
            self.queue.record(item, result, at=now, latency=0.0, retry_at=None)
            self._count(item, EXPIRED)
            return
        if notifier.limiter is not None:
            held = notifier.limiter.acquire()
            if held > 0:
                self.queue.postpone(item, now + timedelta(seconds=held))
                return
        began = time.monotonic()
        try:
            result = notifier.send(item.notification)
        except Exception as exc:  # a notifier bug must not lose the notification: retried like a network error
            log.exception("notifier %s of %s raised", item.integration, item.receiver)
            result = DeliveryResult.retriable(f"{type(exc).__name__}: {exc}")
        latency = time.monotonic() - began
        at = self._clock()
        retry_at = None
        if result.outcome is Outcome.RETRIABLE:
            wait = backoff(item.attempts + 1, self.config.initial_backoff, self.config.max_backoff)
            if result.retry_after is not None:
                wait = min(self.config.max_backoff, max(wait, timedelta(seconds=result.retry_after)))
            retry_at = at + wait
        state = self.queue.record(item, result, at=at, latency=latency, retry_at=retry_at)
        outcome = EXPIRED if state == EXPIRED else str(result.outcome)
        self._count(item, outcome)
        if result.outcome is Outcome.DELIVERED:
            key = (item.receiver, item.integration)
            self.latency_sum[key] = self.latency_sum.get(key, 0.0) + latency
            per_tenant = (item.tenant, *key)
            self.tenant_latency_sum[per_tenant] = self.tenant_latency_sum.get(per_tenant, 0.0) + latency
            if self._on_delivered is not None:
                self._on_delivered(item, latency)
        elif result.outcome is Outcome.REJECTED:
            log.warning(
                "notification %s to %s/%s rejected (%s): %s",
                item.id, item.receiver, item.integration, result.status, result.answer[:200],
            )  # fmt: skip
