"""The router's I/O: reads transitions from the alert log, queues notifications, and across a restart neither
loses nor repeats one (the alert log written through the rules engine's own state store)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import orjson
import pytest
import yaml
from sqlalchemy import select

from logwarden.alerting.config import AlertingConfig
from logwarden.alerting.router import AlertRouter
from logwarden.alerting.store import AckError, RouterStore
from logwarden.meta.db import MetaDB, default_url
from logwarden.meta.tables import notifications
from logwarden.rules.statestore import CurrentAlert, LoggedTransition, SqlStateStore

T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)

CONFIG = """
route:
  receiver: ops
  group_by: [alertname, service]
  group_wait: 0s
  group_interval: 1m
  repeat_interval: 4h
receivers:
  - name: ops
    webhook: {url: 'http://127.0.0.1:9/hook'}
    slack: {url: 'http://127.0.0.1:9/slack', send_resolved: false}
"""


class Clock:
    def __init__(self) -> None:
        self.now = T0

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture
def meta(tmp_path: Path) -> Iterator[MetaDB]:
    db = MetaDB(default_url(tmp_path))
    yield db
    db.close()


def body(fp: str, status: str, service: str, at: datetime) -> dict[str, Any]:
    return {
        "rule": "errors",
        "fingerprint": fp,
        "labels": {"tenant": "default", "service": service},
        "status": status,
        "value": 3.0,
        "active_at": (at - timedelta(seconds=5)).isoformat(),
        "fired_at": (at - timedelta(seconds=5)).isoformat(),
        "resolved_at": at.isoformat() if status == "resolved" else None,
        "evidence": [{"message": f"{service} failed", "ts": at.isoformat()}],
        "severity": "warning",
    }


def transition(state: SqlStateStore, fp: str, status: str, service: str, at: datetime) -> None:
    b = body(fp, status, service, at)
    current = [] if status == "resolved" else [CurrentAlert(fp, "default", "errors", status, at, orjson.dumps(b))]
    state.commit("rules", 1, b"{}", [LoggedTransition("default", "errors", fp, status, at, b)], current,
                 [fp] if status == "resolved" else [])  # fmt: skip


def queued(meta: MetaDB) -> list[tuple[str, str, list[str]]]:
    with meta.engine.connect() as con:
        rows = con.execute(select(notifications).order_by(notifications.c.id)).all()
    out = []
    for r in rows:
        payload = orjson.loads(r.payload)
        out.append((r.integration, payload["group_labels"]["service"], [a["status"] for a in payload["alerts"]]))
    return out


def router(meta: MetaDB, clock: Clock) -> AlertRouter:
    return AlertRouter(meta.engine, AlertingConfig.model_validate(yaml.safe_load(CONFIG)), clock=clock)


def test_transitions_become_queued_notifications_once_even_across_a_restart(meta: MetaDB) -> None:
    state = SqlStateStore(meta.engine)
    clock = Clock()
    first = router(meta, clock)
    transition(state, "a" * 32, "firing", "api", T0)
    transition(state, "b" * 32, "firing", "db", T0)
    first.step()
    assert sorted(queued(meta)) == [
        ("slack[0]", "api", ["firing"]),
        ("slack[0]", "db", ["firing"]),
        ("webhook[0]", "api", ["firing"]),
        ("webhook[0]", "db", ["firing"]),
    ]
    first.step()
    assert len(queued(meta)) == 4  # nothing new, nothing repeated
    # A restart (the router's state is in the database): groups are rebuilt, the log keeps them from re-sending.
    clock.now += timedelta(seconds=30)
    second = router(meta, clock)
    second.step()
    assert len(queued(meta)) == 4
    transition(state, "a" * 32, "resolved", "api", clock.now)
    second.step()
    assert len(queued(meta)) == 4  # the resolve waits for the group's next tick
    # The restarted router's groups are new (created at T0+30s): their next tick is a group_interval later.
    clock.now = T0 + timedelta(minutes=1, seconds=29)
    second.step()
    assert len(queued(meta)) == 4
    clock.now = T0 + timedelta(minutes=1, seconds=30)
    second.step()
    # Resolved goes to the webhook; slack has send_resolved: false, so only its log entry is updated.
    assert queued(meta)[4:] == [("webhook[0]", "api", ["resolved"])]
    assert {a.fingerprint for a in second.core.alerts()} == {"b" * 32}  # the resolved alert is let go
    third = router(meta, clock)
    assert {a.fingerprint for a in third.core.alerts()} == {"b" * 32}


def test_a_new_router_starts_from_the_alerts_firing_now_not_the_whole_log(meta: MetaDB) -> None:
    state = SqlStateStore(meta.engine)
    transition(state, "a" * 32, "firing", "api", T0 - timedelta(hours=2))
    transition(state, "a" * 32, "resolved", "api", T0 - timedelta(hours=1))
    transition(state, "c" * 32, "firing", "web", T0 - timedelta(minutes=5))
    r = router(meta, Clock())
    r.step()
    assert sorted(queued(meta)) == [("slack[0]", "web", ["firing"]), ("webhook[0]", "web", ["firing"])]


def test_acknowledging_reaches_the_router_and_a_resolve_ends_it(meta: MetaDB) -> None:
    state = SqlStateStore(meta.engine)
    clock = Clock()
    r = router(meta, clock)
    transition(state, "a" * 32, "firing", "api", T0)
    r.step()
    store = RouterStore(meta.engine)
    with pytest.raises(AckError):
        store.ack("other-tenant", "a" * 32, "alice", "", T0)
    with pytest.raises(AckError):
        store.ack("default", "f" * 32, "alice", "", T0)
    store.ack("default", "a" * 32, "alice", "on it", T0 + timedelta(seconds=1))
    r.step()
    (held,) = r.core.alerts()
    assert held.acked is not None and held.acked["by"] == "alice"
    # Past repeat_interval: an acknowledged alert is not repeated.
    clock.now = T0 + timedelta(hours=5)
    r.step()
    assert len(queued(meta)) == 2
    transition(state, "a" * 32, "resolved", "api", clock.now)
    clock.now += timedelta(minutes=2)
    r.step()
    assert store.acks() == {}
    assert queued(meta)[-1] == ("webhook[0]", "api", ["resolved"])


def test_an_alert_whose_rule_went_away_is_resolved_and_let_go(meta: MetaDB) -> None:
    state = SqlStateStore(meta.engine)
    clock = Clock()
    r = router(meta, clock)
    transition(state, "a" * 32, "firing", "api", T0)
    transition(state, "b" * 32, "firing", "db", T0)
    r.step()
    assert len(queued(meta)) == 4
    # The rule of `a` is deleted: the engine drops its current alert without a transition.
    state.commit("rules", 2, b"{}", [], [], ["a" * 32])
    clock.now = T0 + timedelta(minutes=1)
    r.step()  # resolved now; sent at the group's next tick
    clock.now = T0 + timedelta(minutes=2)
    r.step()
    assert queued(meta)[4:] == [("webhook[0]", "api", ["resolved"])]
    assert {a.fingerprint for a in r.core.alerts()} == {"b" * 32}
    clock.now = T0 + timedelta(hours=5)
    r.step()  # and no repeat of it, ever
    assert [q for q in queued(meta) if q[1] == "api" and q[2] == ["firing"]] == [
        ("slack[0]", "api", ["firing"]),
        ("webhook[0]", "api", ["firing"]),
    ]
