"""The persisted notification queue (the `notifications` table) and the record of every delivery attempt
(`delivery_attempts`).

A notification is queued in the same transaction as the notification-log entry that says it was sent and the
router's cursor, so a crash either queues it and remembers it, or does neither (and the router decides again).
A delivery worker claims due rows, sends, and records the attempt and the row's new state in one transaction:
`delivered`, `rejected` (never retried), `queued` again with a later `next_attempt` (retriable, with backoff), or
`expired` past its deadline. Rows of one (receiver, integration, group) are delivered in the order they were queued.

Exactly once: a row is marked delivered right after the channel answered; only a crash in that instant between the
answer and the commit would send it again (no channel offers a way to close that gap except idempotency keys,
which PagerDuty's dedup_key and Alertmanager's own dedup provide).
"""

from __future__ import annotations

import random
import threading
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson
from sqlalchemy import Connection, Engine, and_, delete, exists, func, insert, select, update
from sqlalchemy.pool import StaticPool

from logwarden.alerting.model import Notification
from logwarden.alerting.notifiers.base import DeliveryResult, Outcome
from logwarden.meta.tables import delivery_attempts, notifications

QUEUED, DELIVERED, REJECTED, EXPIRED = "queued", "delivered", "rejected", "expired"


def _utc(value: datetime) -> datetime:
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


@dataclass(frozen=True, slots=True)
class QueuedNotification:
    id: int
    tenant: str
    receiver: str
    integration: str
    group_key: str
    notification: Notification
    attempts: int
    created: datetime
    deadline: datetime


@dataclass(frozen=True, slots=True)
class NewNotification:
    tenant: str
    receiver: str
    integration: str
    group_key: str
    notification: Notification


def backoff(attempts: int, initial: timedelta, maximum: timedelta, rng: random.Random | None = None) -> timedelta:
    """The wait after the `attempts`-th failed attempt: initial × 2^(attempts−1), at most `maximum`, ±20 % jitter."""
    base = min(maximum.total_seconds(), initial.total_seconds() * 2 ** max(0, attempts - 1))
    jitter = (rng or random).uniform(0.8, 1.2)
    return timedelta(seconds=min(maximum.total_seconds(), base * jitter))


class NotificationQueue:
    """The queue on the metadata database (SQLite embedded, PostgreSQL scaled). Thread-safe; blocking."""

    def __init__(self, engine: Engine) -> None:
        self._engine = engine
        self._lock = threading.RLock() if isinstance(engine.pool, StaticPool) else None

    def _connect(self) -> Any:
        return _Locked(self._engine, self._lock)

    # --- producing (inside the router's transaction) -----------------------------------------------------

    @staticmethod
    def enqueue(con: Connection, items: Sequence[NewNotification], now: datetime, deadline: timedelta) -> None:
        if not items:
            return
        con.execute(
            insert(notifications),
            [
                {
                    "tenant": i.tenant,
                    "receiver": i.receiver,
                    "integration": i.integration,
                    "group_key": i.group_key,
                    "status": QUEUED,
                    "payload": orjson.dumps(i.notification.to_json()).decode(),
                    "created": now,
                    "deadline": now + deadline,
                    "next_attempt": now,
                    "attempts": 0,
                }
                for i in items
            ],
        )

    # --- consuming (delivery workers) --------------------------------------------------------------------

    def claim(self, now: datetime, limit: int, busy: Iterable[int] = ()) -> list[QueuedNotification]:
        """Due rows, oldest first, at most one per (receiver, integration, group) — the oldest queued one, so a
        group's notifications go out in order — leaving out the rows in `busy` (being sent) and groups whose
        oldest row is busy."""
        n = notifications.c
        older = notifications.alias()  # Core's alias: sqlalchemy.orm (~6 MB resident) stays unimported
        earlier = exists().where(
            and_(
                older.c.status == QUEUED,
                older.c.receiver == n.receiver,
                older.c.integration == n.integration,
                older.c.group_key == n.group_key,
                older.c.id < n.id,
            )
        )
        stmt = (
            select(notifications)
            .where(n.status == QUEUED, n.next_attempt <= now, ~earlier)
            .order_by(n.next_attempt, n.id)
            .limit(limit + len(set(busy)))
        )
        skip = set(busy)
        with self._connect() as con:
            rows = con.execute(stmt).all()
        out = []
        for r in rows:
            if int(r.id) in skip:
                continue
            out.append(
                QueuedNotification(
                    id=int(r.id),
                    tenant=r.tenant,
                    receiver=r.receiver,
                    integration=r.integration,
                    group_key=r.group_key,
                    notification=Notification.from_json(orjson.loads(r.payload)),
                    attempts=int(r.attempts),
                    created=_utc(r.created),
                    deadline=_utc(r.deadline),
                )
            )
        return out[:limit]

    def next_due(self) -> datetime | None:
        with self._connect() as con:
            value = con.execute(
                select(func.min(notifications.c.next_attempt)).where(notifications.c.status == QUEUED)
            ).scalar()
        return _utc(value) if value is not None else None

    def postpone(self, item: QueuedNotification, until: datetime) -> None:
        """Wait for the rate limit: a later `next_attempt`, no attempt counted."""
        with self._connect() as con, con.begin():
            con.execute(update(notifications).where(notifications.c.id == item.id).values(next_attempt=until))

    def record(
        self,
        item: QueuedNotification,
        result: DeliveryResult,
        *,
        at: datetime,
        latency: float,
        retry_at: datetime | None,
    ) -> str:
        """Record one attempt and the row's new state (one transaction); returns that state. A retriable result
        with `retry_at` past the deadline (or None) ends the row as expired."""
        if result.outcome is Outcome.DELIVERED:
            state = DELIVERED
        elif result.outcome is Outcome.REJECTED:
            state = REJECTED
        else:
            state = QUEUED if retry_at is not None and retry_at <= item.deadline else EXPIRED
        values: dict[str, Any] = {"attempts": item.attempts + 1, "status": state}
        if state == QUEUED:
            values["next_attempt"] = retry_at
            values["last_error"] = result.answer[:2000] or None
        else:
            values["finished"] = at
            if state != DELIVERED:
                values["last_error"] = result.answer[:2000] or None
        with self._connect() as con, con.begin():
            con.execute(update(notifications).where(notifications.c.id == item.id).values(**values))
            con.execute(
                insert(delivery_attempts).values(
                    notification=item.id,
                    tenant=item.tenant,
                    receiver=item.receiver,
                    integration=item.integration,
                    group_key=item.group_key,
                    at=at,
                    outcome=str(result.outcome) if state != EXPIRED else EXPIRED,
                    status_code=result.status,
                    answer=result.answer[:2000],
                    latency_ms=round(latency * 1000),
                )
            )
        return state

    # --- readers and upkeep ------------------------------------------------------------------------------

    def counts(self, tenant: str | None = None) -> dict[tuple[str, str, str], int]:
        """Rows per (receiver, integration, status), of one tenant's notifications when `tenant` is given."""
        n = notifications.c
        stmt = select(n.receiver, n.integration, n.status, func.count()).group_by(n.receiver, n.integration, n.status)
        if tenant is not None:
            stmt = stmt.where(n.tenant == tenant)
        with self._connect() as con:
            return {(r[0], r[1], r[2]): int(r[3]) for r in con.execute(stmt)}

    def tenant_counts(self) -> dict[tuple[str, str, str, str], int]:
        """Rows per (tenant, receiver, integration, status) (for /metrics)."""
        n = notifications.c
        cols = (n.tenant, n.receiver, n.integration, n.status)
        stmt = select(*cols, func.count()).group_by(*cols)
        with self._connect() as con:
            return {(r[0], r[1], r[2], r[3]): int(r[4]) for r in con.execute(stmt)}

    def attempts(
        self,
        tenant: str | None,
        *,
        receiver: str | None = None,
        channel: str | None = None,
        outcome: str | None = None,
        group_key: str | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
        limit: int = 100,
    ) -> list[dict[str, Any]]:
        """Delivery attempts, newest first, filtered; `channel` is the integration's kind (`webhook`)."""
        a = delivery_attempts.c
        stmt = select(delivery_attempts)
        if tenant is not None:
            stmt = stmt.where(a.tenant == tenant)
        if receiver is not None:
            stmt = stmt.where(a.receiver == receiver)
        if channel is not None:
            stmt = stmt.where(a.integration.like(f"{channel}[%"))
        if outcome is not None:
            stmt = stmt.where(a.outcome == outcome)
        if group_key is not None:
            stmt = stmt.where(a.group_key == group_key)
        if since is not None:
            stmt = stmt.where(a.at >= since.astimezone(UTC))
        if until is not None:
            stmt = stmt.where(a.at < until.astimezone(UTC))
        stmt = stmt.order_by(a.at.desc(), a.id.desc()).limit(limit)
        with self._connect() as con:
            rows = con.execute(stmt).all()
        return [
            {
                "id": int(r.id),
                "notification": int(r.notification),
                "at": _utc(r.at).isoformat(),
                "receiver": r.receiver,
                "integration": r.integration,
                "channel": r.integration.split("[", 1)[0],
                "group_key": r.group_key,
                "outcome": r.outcome,
                "status_code": r.status_code,
                "answer": r.answer,
                "latency_ms": int(r.latency_ms),
            }
            for r in rows
        ]

    def gc(self, now: datetime, retention: timedelta) -> int:
        """Delete finished notifications (and their attempts) older than `retention`; how many rows went."""
        n = notifications.c
        cutoff = now - retention
        with self._connect() as con, con.begin():
            old = [int(i) for (i,) in con.execute(select(n.id).where(n.status != QUEUED, n.finished < cutoff))]
            for i in range(0, len(old), 500):
                chunk = old[i : i + 500]
                con.execute(delete(delivery_attempts).where(delivery_attempts.c.notification.in_(chunk)))
                con.execute(delete(notifications).where(n.id.in_(chunk)))
        return len(old)


class _Locked:
    """A connection, under the lock when the engine is one shared in-memory connection."""

    def __init__(self, engine: Engine, lock: threading.RLock | None) -> None:
        self._engine = engine
        self._lock = lock
        self._con: Connection | None = None

    def __enter__(self) -> Connection:
        if self._lock is not None:
            self._lock.acquire()
        self._con = self._engine.connect()
        return self._con

    def __exit__(self, *exc: object) -> None:
        assert self._con is not None
        self._con.close()
        if self._lock is not None:
            self._lock.release()
