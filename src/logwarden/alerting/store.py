"""What the alert router keeps in the metadata database: its cursor in the alert log, the alerts it holds in its
aggregation groups, the notification log, and acknowledgements. `commit` writes a step's effects — cursor, alerts,
notification-log entries, queued notifications — in one transaction: after a crash the router resumes from the
cursor with the alerts and log as they were, and neither loses nor repeats a notification."""

from __future__ import annotations

import threading
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson
from sqlalchemy import Engine, delete, func, insert, select
from sqlalchemy.pool import StaticPool

from logwarden.alerting.model import AlertMessage
from logwarden.alerting.notify.dedup import NflogEntry
from logwarden.alerting.notify.queue import NewNotification, NotificationQueue
from logwarden.meta.tables import alert_acks, alert_log, alerts, notification_log, routed_alerts, router_state

ACKNOWLEDGED = "acknowledged"
UNACKNOWLEDGED = "unacknowledged"


def _utc(value: datetime) -> datetime:
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


@dataclass(frozen=True, slots=True)
class LogRow:
    id: int
    status: str
    body: dict[str, Any]


class AckError(LookupError):
    """The alert to acknowledge is not firing (unknown fingerprint, another tenant's, or resolved)."""


class RouterStore:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self._lock = threading.RLock() if isinstance(engine.pool, StaticPool) else None

    def _locked(self) -> Any:
        return self._lock if self._lock is not None else _NoLock()

    # --- start ------------------------------------------------------------------------------------------

    def cursor(self, router: str) -> int | None:
        with self._locked(), self.engine.connect() as con:
            value = con.execute(select(router_state.c.cursor).where(router_state.c.router == router)).scalar()
        return None if value is None else int(value)

    def newest_log_id(self) -> int:
        with self._locked(), self.engine.connect() as con:
            return int(con.execute(select(func.max(alert_log.c.id))).scalar() or 0)

    def current_firing(self) -> list[dict[str, Any]]:
        """The firing alerts as the rules engines last committed them (a new router starts from these)."""
        with self._locked(), self.engine.connect() as con:
            rows = con.execute(select(alerts.c.alert).where(alerts.c.status == "firing")).all()
        return [orjson.loads(text) for (text,) in rows]

    def current_fingerprints(self) -> set[str]:
        """The fingerprints of every pending and firing alert as the rules engines last committed them."""
        with self._locked(), self.engine.connect() as con:
            return {str(fp) for (fp,) in con.execute(select(alerts.c.fingerprint))}

    def routed(self) -> list[AlertMessage]:
        with self._locked(), self.engine.connect() as con:
            rows = con.execute(select(routed_alerts.c.alert)).all()
        return [AlertMessage.from_json(orjson.loads(text)) for (text,) in rows]

    def nflog(self) -> dict[tuple[str, str], NflogEntry]:
        n = notification_log.c
        with self._locked(), self.engine.connect() as con:
            rows = con.execute(select(n.group_key, n.receiver, n.firing, n.resolved, n.sent_at)).all()
        return {
            (r.group_key, r.receiver): NflogEntry(
                frozenset(orjson.loads(r.firing)), frozenset(orjson.loads(r.resolved)), _utc(r.sent_at)
            )
            for r in rows
        }

    # --- each step --------------------------------------------------------------------------------------

    def read_log(self, after: int, limit: int = 1000) -> list[LogRow]:
        c = alert_log.c
        stmt = select(c.id, c.status, c.alert).where(c.id > after).order_by(c.id).limit(limit)
        with self._locked(), self.engine.connect() as con:
            return [LogRow(int(r.id), r.status, orjson.loads(r.alert)) for r in con.execute(stmt)]

    def acks(self) -> dict[str, dict[str, Any]]:
        a = alert_acks.c
        with self._locked(), self.engine.connect() as con:
            rows = con.execute(select(a.fingerprint, a.acked_by, a.at, a.comment)).all()
        return {r.fingerprint: {"by": r.acked_by, "at": _utc(r.at).isoformat(), "comment": r.comment} for r in rows}

    def commit(
        self,
        router: str,
        cursor: int,
        *,
        now: datetime,
        held: Sequence[AlertMessage] = (),
        dropped: Iterable[str] = (),
        nflog: Mapping[tuple[str, str], NflogEntry] | None = None,
        nflog_ttl: timedelta = timedelta(days=5),
        queued: Sequence[NewNotification] = (),
        delivery_deadline: timedelta = timedelta(hours=24),
        unacked: Iterable[str] = (),
    ) -> None:
        """One transaction: the cursor, the alerts held (replaced) and dropped, notification-log entries, the
        notifications queued, and acknowledgements ended by a resolve."""
        gone = list(dict.fromkeys([*dropped, *(a.fingerprint for a in held)]))
        unacked = list(unacked)
        with self._locked(), self.engine.begin() as con:
            con.execute(delete(router_state).where(router_state.c.router == router))
            con.execute(insert(router_state).values(router=router, cursor=cursor, updated=now))
            for i in range(0, len(gone), 500):
                con.execute(delete(routed_alerts).where(routed_alerts.c.fingerprint.in_(gone[i : i + 500])))
            if held:
                con.execute(
                    insert(routed_alerts),
                    [
                        {
                            "fingerprint": a.fingerprint,
                            "tenant": a.labels.get("tenant", ""),
                            "status": a.status,
                            "alert": orjson.dumps(a.to_json()).decode(),
                            "updated": now,
                        }
                        for a in held
                    ],
                )
            for (group_key, receiver), entry in (nflog or {}).items():
                n = notification_log.c
                con.execute(delete(notification_log).where(n.group_key == group_key, n.receiver == receiver))
                con.execute(
                    insert(notification_log).values(
                        group_key=group_key,
                        receiver=receiver,
                        firing=orjson.dumps(sorted(entry.firing)).decode(),
                        resolved=orjson.dumps(sorted(entry.resolved)).decode(),
                        sent_at=entry.sent_at,
                        expires_at=entry.sent_at + nflog_ttl,
                    )
                )
            if unacked:
                con.execute(delete(alert_acks).where(alert_acks.c.fingerprint.in_(unacked)))
            NotificationQueue.enqueue(con, queued, now, delivery_deadline)

    def gc_nflog(self, now: datetime, keep: Iterable[str] = ()) -> int:
        """Delete expired notification-log entries, except those of groups still held (`keep`: group keys) — an
        acknowledged group gets no repeats, so its entry is never refreshed, yet must not notify as new."""
        n = notification_log.c
        held = set(keep)
        with self._locked(), self.engine.begin() as con:
            old = [
                (r.group_key, r.receiver)
                for r in con.execute(select(n.group_key, n.receiver).where(n.expires_at < now))
            ]
            gone = [(g, r) for g, r in old if g not in held]
            for group_key, receiver in gone:
                con.execute(delete(notification_log).where(n.group_key == group_key, n.receiver == receiver))
        return len(gone)

    # --- acknowledgements (the API) -----------------------------------------------------------------------

    def ack(self, tenant: str, fingerprint: str, by: str, comment: str, now: datetime) -> dict[str, Any]:
        """Acknowledge a firing alert of `tenant` (again: replaces the previous ack); recorded in the alert log."""
        with self._locked(), self.engine.begin() as con:
            row = con.execute(
                select(alerts.c.rule, alerts.c.status, alerts.c.alert).where(
                    alerts.c.fingerprint == fingerprint, alerts.c.tenant == tenant
                )
            ).first()
            if row is None or row.status != "firing":
                raise AckError(fingerprint)
            con.execute(delete(alert_acks).where(alert_acks.c.fingerprint == fingerprint))
            con.execute(
                insert(alert_acks).values(fingerprint=fingerprint, tenant=tenant, acked_by=by, at=now, comment=comment)
            )
            body = orjson.loads(row.alert)
            ack = {"by": by, "at": now.isoformat(), "comment": comment}
            body["acked"] = ack
            body["status"] = ACKNOWLEDGED
            self._log(con, tenant, row.rule, fingerprint, ACKNOWLEDGED, now, body)
        return ack

    def unack(self, tenant: str, fingerprint: str, by: str, now: datetime) -> None:
        with self._locked(), self.engine.begin() as con:
            row = con.execute(
                select(alert_acks.c.fingerprint).where(
                    alert_acks.c.fingerprint == fingerprint, alert_acks.c.tenant == tenant
                )
            ).first()
            if row is None:
                raise AckError(fingerprint)
            con.execute(delete(alert_acks).where(alert_acks.c.fingerprint == fingerprint))
            current = con.execute(
                select(alerts.c.rule, alerts.c.alert).where(alerts.c.fingerprint == fingerprint)
            ).first()
            body = orjson.loads(current.alert) if current is not None else {"fingerprint": fingerprint}
            body["status"] = UNACKNOWLEDGED
            body["unacked_by"] = by
            rule = current.rule if current is not None else str(body.get("rule", ""))
            self._log(con, tenant, rule, fingerprint, UNACKNOWLEDGED, now, body)

    @staticmethod
    def _log(
        con: Any, tenant: str, rule: str, fingerprint: str, status: str, at: datetime, body: dict[str, Any]
    ) -> None:
        con.execute(
            insert(alert_log).values(
                engine="api",
                tenant=tenant,
                rule=rule,
                fingerprint=fingerprint,
                status=status,
                at=at,
                alert=orjson.dumps(body).decode(),
            )
        )


class _NoLock:
    def __enter__(self) -> None:
        return None

    def __exit__(self, *exc: object) -> None:
        return None
