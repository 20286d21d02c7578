"""The alert router: reads the rules' transitions from the alert log (their outbox), runs them through the routing
tree, aggregation groups, muting and the notification log (dispatch/core.py), and queues what must be sent —
on one thread, woken by the rules engine's commits and by the groups' timers.

Each step commits its effects at once (alerting/store.py): the cursor in the alert log, the alerts held, the
notification-log entries and the queued notifications. After a crash the router rebuilds its groups from the
alerts held (new groups wait `group_wait` again, as Alertmanager's do after a restart) and the notification log
keeps it from sending what it already queued.
"""

from __future__ import annotations

import dataclasses
import logging
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import Engine

from logwarden.alerting.config import AlertingConfig
from logwarden.alerting.dispatch.tenants import TenantRouterCore
from logwarden.alerting.model import AlertMessage
from logwarden.alerting.mute.base import Muter
from logwarden.alerting.mute.silence import SilenceStore
from logwarden.alerting.notify.queue import NewNotification, NotificationQueue
from logwarden.alerting.store import RouterStore

log = logging.getLogger(__name__)

_STEP = 1.0  # longest sleep between steps (acks and silences are picked up at least this often)
_GC_EVERY = timedelta(minutes=10)
_ORPHANS_EVERY = timedelta(seconds=10)  # how often held alerts are checked against the engines' current alerts
_POLL_EVERY = 10.0  # seconds between `on_poll` calls (tenants' alerting configs changed by another server)


class AlertRouter:
    """One router per server (name `router`). `wake()` when the alert log may have grown."""

    def __init__(
        self,
        engine: Engine,
        config: AlertingConfig,
        *,
        external_url: str = "",
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
        muters: Sequence[Muter] = (),
        inhibitor: Any = None,
        on_queued: Callable[[int], None] | None = None,
        name: str = "router",
        tenants: Mapping[str, AlertingConfig] = {},
        on_poll: Callable[[], None] | None = None,
    ) -> None:
        self.name = name
        self.config = config
        self.store = RouterStore(engine)
        self._clock = clock
        self._on_queued = on_queued
        self._on_poll = on_poll
        self._lock = threading.RLock()
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._last_gc = datetime.min.replace(tzinfo=UTC)
        self._last_orphan_check = datetime.min.replace(tzinfo=UTC)
        self._acks: dict[str, dict[str, Any]] = {}
        self.queued = 0  # notifications queued since start (for /metrics)
        # The config file's tree for every tenant, except those with their own (alerting/tenant_config.py).
        self.core = TenantRouterCore(
            config, tenants, muters=muters, inhibitor=inhibitor, external_url=external_url, nflog=self.store.nflog()
        )
        now = clock()
        cursor = self.store.cursor(name)
        if cursor is None:
            # A new router: the alerts firing now are its start; the log before them is history.
            cursor = self.store.newest_log_id()
            held = [AlertMessage.from_logged(body) for body in self.store.current_firing()]
            for alert in held:
                self.core.put(alert, now)
            self.store.commit(name, cursor, now=now, held=held)
        else:
            for alert in self.store.routed():
                self.core.put(alert, now)
        self._cursor = cursor

    def reconfigure(self, config: AlertingConfig, inhibitor: Any = None) -> None:
        """Route by a new config from now on: the alerts held go into the new tree's groups (which start with
        `group_wait`; the notification log, kept, stops them re-sending what was sent)."""
        with self._lock:
            self.core.set_fallback(config, inhibitor, self._clock())
            self.config = config
        self.wake()

    def set_tenant(self, tenant: str, config: AlertingConfig | None) -> None:
        """Route `tenant`'s alerts by its own `config` from now on (None: by the config file's again); its alerts
        held move into the new tree's groups, other tenants' groups are untouched."""
        with self._lock:
            self.core.set_tenant(tenant, config, self._clock())
        self.wake()

    # --- thread -----------------------------------------------------------------------------------------

    def start(self) -> None:
        self._thread = threading.Thread(target=self._loop, name="lw-alert-router", daemon=True)
        self._thread.start()

    def wake(self, *_: Any) -> None:
        self._wake.set()

    def stop(self, timeout: float = 10.0) -> None:
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout)

    def _loop(self) -> None:
        polled = time.monotonic()
        while not self._stop.is_set():
            wait = _STEP
            if self._on_poll is not None and time.monotonic() - polled >= _POLL_EVERY:
                polled = time.monotonic()
                try:
                    self._on_poll()
                except Exception:
                    log.exception("alert router: polling for changed tenant configs failed; retrying")
            try:
                wait = self.step()
            except Exception:
                log.exception("alert router step failed; retrying")
            self._wake.wait(wait)
            self._wake.clear()

    # --- one step ---------------------------------------------------------------------------------------

    def step(self) -> float:
        """Take new transitions and acknowledgements, run due groups, commit; the seconds until the next step."""
        with self._lock:
            now = self._clock()
            # Read before the log: an alert that fires after this read is in the log read below.
            current = self.store.current_fingerprints() if now - self._last_orphan_check >= _ORPHANS_EVERY else None
            rows = self.store.read_log(self._cursor)
            acks = self.store.acks()
            changed: dict[str, AlertMessage] = {}
            unacked: list[str] = []
            for row in rows:
                if row.status not in ("firing", "resolved"):
                    continue  # acknowledgements are read from their table below
                alert = AlertMessage.from_logged(row.body)
                if alert.status == "resolved":
                    unacked.append(alert.fingerprint)
                    acks.pop(alert.fingerprint, None)
                changed[alert.fingerprint] = alert
            for alert in changed.values():
                self.core.put(self._with_ack(alert, acks), now)
            if acks != self._acks:
                for alert in self.core.alerts():
                    if alert.status == "firing" and alert.acked != acks.get(alert.fingerprint):
                        updated = self._with_ack(alert, acks)
                        self.core.put(updated, now)
                        changed[alert.fingerprint] = updated
                self._acks = acks
            if current is not None and len(rows) < 1000:
                self._last_orphan_check = now
                for alert in self._orphans(current, changed):
                    self.core.put(alert, now)
                    changed[alert.fingerprint] = alert
                    unacked.append(alert.fingerprint)
            outgoing = self.core.step(now)
            dropped = set(self.core.take_dropped())
            held = [a for fp, a in changed.items() if fp not in dropped]
            queued = [
                NewNotification(o.tenant, o.receiver, o.integration, o.notification.group_key, o.notification)
                for o in outgoing
                if o.notification is not None
            ]
            cursor = rows[-1].id if rows else self._cursor
            if rows or outgoing or dropped or changed:
                self.store.commit(
                    self.name,
                    cursor,
                    now=now,
                    held=held,
                    dropped=dropped,
                    nflog={o.nflog_key: o.nflog_entry for o in outgoing},
                    queued=queued,
                    delivery_deadline=self.config.delivery.deadline,
                    unacked=unacked,
                )
                self._cursor = cursor
            if queued:
                self.queued += len(queued)
                if self._on_queued is not None:
                    self._on_queued(len(queued))
            if now - self._last_gc >= _GC_EVERY:
                self._last_gc = now
                self.store.gc_nflog(now, keep={g.group_key for g in self.core.groups()})
                SilenceStore(self.store.engine).gc(now, self.config.silence_retention)
                NotificationQueue(self.store.engine).gc(now, self.config.delivery.history_retention)
            if len(rows) >= 1000:
                return 0.0  # more waiting in the log
            due = self.core.next_due()
            if due is None:
                return _STEP
            return min(_STEP, max(0.0, (due - self._clock()).total_seconds()))

    def _orphans(self, current: set[str], changed: dict[str, AlertMessage]) -> list[AlertMessage]:
        """Held firing alerts no rules engine has any more and no transition ended (their rule was deleted or its
        settings changed, which starts it afresh): resolved now, so their groups notify it and let them go."""
        now = self._clock()
        out = []
        for alert in self.core.alerts():
            if alert.status == "firing" and alert.fingerprint not in current and alert.fingerprint not in changed:
                log.info("alert %s of %s is gone from its rules engine: resolving it", alert.fingerprint, alert.name)
                out.append(dataclasses.replace(alert, status="resolved", ends_at=now, acked=None))
        return out

    @staticmethod
    def _with_ack(alert: AlertMessage, acks: dict[str, dict[str, Any]]) -> AlertMessage:
        ack = acks.get(alert.fingerprint) if alert.status == "firing" else None
        return alert if alert.acked == ack else dataclasses.replace(alert, acked=ack)
