"""The rules' state in the metadata database: one transaction per commit (checkpoint, alert log, current alerts),
history filters per tenant, durable SQLite commits, the old state file moved in, the engine on top of it (the
`alerts` table follows the alerts), and the rules made through the API.

The same checks run on a real PostgreSQL in tests/integration/test_rules_state_postgres.py (`check_*` below)."""

from __future__ import annotations

import sqlite3
from datetime import timedelta
from pathlib import Path
from typing import Any

import orjson
import pytest
from sqlalchemy import Engine, func, select
from sqlalchemy.exc import IntegrityError

from logwarden.meta.db import MetaDB, default_url
from logwarden.meta.tables import alert_log, alerts, rule_checkpoints
from logwarden.rules.engine import SHARED_WINDOWS, RulesEngine
from logwarden.rules.statestore import (
    ApiRuleRepository,
    CurrentAlert,
    HistoryFilter,
    LoggedTransition,
    RuleNameTakenError,
    SqlStateStore,
    import_legacy_state,
)
from tests.unit.rules.harness import T0, Clock, stored
from tests.unit.rules.test_engine import Spec, errors

pytestmark = pytest.mark.filterwarnings("error")


def logged(tenant: str, rule: str, fp: str, status: str, seconds: int) -> LoggedTransition:
    return LoggedTransition(tenant, rule, fp, status, T0 + timedelta(seconds=seconds), {"labels": {"tenant": tenant}})


def current(fp: str, tenant: str = "a", rule: str = "r", status: str = "firing") -> CurrentAlert:
    body = orjson.dumps({"fingerprint": fp, "rule": rule, "status": status, "labels": {"tenant": tenant}})
    return CurrentAlert(fp, tenant, rule, status, T0, body)


def count(engine: Engine, table: Any) -> int:
    with engine.connect() as con:
        return int(con.execute(select(func.count()).select_from(table)).scalar_one())


# --- checks shared with the PostgreSQL variant ------------------------------------------------------------


def check_a_commit_is_all_or_nothing(store: SqlStateStore) -> None:
    store.commit("rules", 7, b'{"r": 1}', [logged("a", "r", "f1", "firing", 1)], [current("f1")], [])
    assert store.load("rules") is not None and store.load("rules").seq == 7  # type: ignore[union-attr]
    # The second commit fails on its last statement (two rows for one fingerprint): none of it stays.
    with pytest.raises(IntegrityError):
        store.commit(
            "rules",
            8,
            b'{"r": 2}',
            [logged("a", "r", "f2", "firing", 2)],
            [current("f2"), current("f2")],
            ["f1"],
        )
    checkpoint = store.load("rules")
    assert checkpoint is not None and (checkpoint.seq, checkpoint.state) == (7, {"r": 1})
    assert [t["fingerprint"] for t in store.history(None)] == ["f1"]
    assert [a["fingerprint"] for a in store.current(None)] == ["f1"]
    # And the store keeps working after the failure.
    store.commit("rules", 8, b'{"r": 2}', [logged("a", "r", "f2", "firing", 2)], [current("f2")], ["f1"])
    assert [a["fingerprint"] for a in store.current(None)] == ["f2"]
    assert store.alert_fingerprints("rules") == {"f2"}
    assert store.alert_fingerprints("other") == set()


def check_history_filters_by_tenant_rule_status_fingerprint_and_time(store: SqlStateStore) -> None:
    rows = [
        logged("a", "r1", "f1", "firing", 10),
        logged("a", "r2", "f2", "firing", 20),
        logged("b", "r1", "f3", "firing", 30),
        logged("a", "r1", "f1", "resolved", 40),
    ]
    store.commit("rules", 1, b"{}", rows, [], [])
    at = [t["at"] for t in store.history("a")]
    assert at == [(T0 + timedelta(seconds=s)).isoformat() for s in (40, 20, 10)]  # newest first, tenant a only
    assert [t["fingerprint"] for t in store.history("b")] == ["f3"]
    assert [t["status"] for t in store.history("a", HistoryFilter(rule="r1"))] == ["resolved", "firing"]
    assert [t["rule"] for t in store.history("a", HistoryFilter(status="firing"))] == ["r2", "r1"]
    assert len(store.history("a", HistoryFilter(fingerprint="f1"))) == 2
    since, until = T0 + timedelta(seconds=20), T0 + timedelta(seconds=40)
    assert [t["fingerprint"] for t in store.history("a", HistoryFilter(since=since, until=until))] == ["f2"]
    assert len(store.history("a", HistoryFilter(limit=1))) == 1
    assert store.history("a", HistoryFilter(rule="r1"))[0]["alert"] == {"labels": {"tenant": "a"}}


def check_api_rules_are_per_tenant_with_names_unique_across_tenants(engine: Engine) -> None:
    repo = ApiRuleRepository(engine)
    rule = {"name": "errors", "type": "threshold", "query": "level:error", "window": "1m", "threshold": 3}
    made = repo.create("a", "api", None, rule, now=T0)
    assert repo.get("a", "errors") == made and repo.get("b", "errors") is None
    with pytest.raises(RuleNameTakenError):
        repo.create("b", "api", None, rule, now=T0)
    replaced = repo.replace("a", "errors", "other", "30s", {**rule, "threshold": 5}, now=T0 + timedelta(seconds=1))
    assert replaced is not None and (replaced.group, replaced.interval, replaced.rule["threshold"]) == (
        "other",
        "30s",
        5,
    )
    assert repo.replace("b", "errors", "x", None, rule) is None
    assert [r.name for r in repo.all()] == ["errors"] and repo.list("b") == []
    assert not repo.delete("b", "errors") and repo.delete("a", "errors") and repo.all() == []


# --- SQLite ---------------------------------------------------------------------------------------------------


@pytest.fixture
def meta(tmp_path: Path) -> Any:
    db = MetaDB(default_url(tmp_path))
    yield db
    db.close()


def test_a_commit_is_all_or_nothing(meta: MetaDB) -> None:
    check_a_commit_is_all_or_nothing(SqlStateStore(meta.engine))


def test_history_filters_by_tenant_rule_status_fingerprint_and_time(meta: MetaDB) -> None:
    check_history_filters_by_tenant_rule_status_fingerprint_and_time(SqlStateStore(meta.engine))


def test_api_rules_are_per_tenant_with_names_unique_across_tenants(meta: MetaDB) -> None:
    check_api_rules_are_per_tenant_with_names_unique_across_tenants(meta.engine)


def test_sqlite_commits_are_durable_on_their_own_connection(meta: MetaDB) -> None:
    store = SqlStateStore(meta.engine)
    store.commit("rules", 1, b"{}", [], [], [])
    writer = store._connection()  # the connection commits go through
    assert writer.exec_driver_sql("PRAGMA synchronous").scalar() == 2  # FULL
    assert str(writer.exec_driver_sql("PRAGMA journal_mode").scalar()).lower() == "wal"
    writer.rollback()
    store.close()
    assert meta.engine.pool.status()  # the shared engine is still open after the store closes
    assert SqlStateStore(meta.engine).load("rules") is not None


def test_the_old_state_file_is_moved_in_once(tmp_path: Path, meta: MetaDB) -> None:
    old = tmp_path / "state.sqlite"
    con = sqlite3.connect(old)
    con.execute("CREATE TABLE checkpoint (id INTEGER PRIMARY KEY, seq INTEGER, state TEXT, updated TEXT)")
    con.execute(
        "CREATE TABLE alert_log (id INTEGER PRIMARY KEY AUTOINCREMENT, at TEXT, rule TEXT, fingerprint TEXT, "
        "status TEXT, alert TEXT)"
    )
    con.execute("INSERT INTO checkpoint VALUES (1, 42, ?, 'x')", ('{"error-burst": {"hash": "h", "state": {}}}',))
    body = orjson.dumps({"labels": {"tenant": "acme", "service": "api"}}).decode()
    con.execute(
        "INSERT INTO alert_log (at, rule, fingerprint, status, alert) VALUES (?, 'r', 'f', 'firing', ?)",
        (T0.isoformat(), body),
    )
    con.commit()
    con.close()
    store = SqlStateStore(meta.engine)
    assert import_legacy_state(old, store)
    checkpoint = store.load("rules")
    assert checkpoint is not None and checkpoint.seq == 42 and "error-burst" in checkpoint.state
    (row,) = store.history("acme")
    assert (row["rule"], row["status"], row["at"]) == ("r", "firing", T0.isoformat())
    assert not old.exists() and old.with_name("state.sqlite.migrated").exists()
    assert not import_legacy_state(old, store)  # nothing left to move


def test_the_engine_keeps_the_alerts_table_in_step_with_its_alerts(meta: MetaDB) -> None:
    clock = Clock()
    clock.now = T0 + timedelta(seconds=30)
    store = SqlStateStore(meta.engine)
    e = RulesEngine(store, (Spec(),), clock=clock, tick=None)
    e.handle(stored(1, errors(1, "api", 5) + errors(2, "web", 5), tenant="acme"))
    rows = store.current("acme")
    assert {a["labels"]["service"] for a in rows} == {"api", "web"}
    assert all(a["status"] == "firing" and a["severity"] == "critical" for a in rows)
    assert store.current("other") == []
    clock.now = T0 + timedelta(minutes=5)
    e.handle(stored(2, errors(200, "api", 4), tenant="acme"))  # web's window emptied: resolved; api fires again
    assert [a["labels"]["service"] for a in store.current("acme")] == ["api"]
    # A new engine on the same database (the process died) knows which rows are its own.
    again = RulesEngine(SqlStateStore(meta.engine), (Spec(name="renamed"),), clock=clock, tick=None)
    again.handle(stored(3, errors(201, "db", 1), tenant="acme"))
    assert store.current("acme") == []  # "error-burst" is gone: its alerts with it
    assert count(meta.engine, alerts) == 0 and count(meta.engine, rule_checkpoints) == 1
    assert count(meta.engine, alert_log) == 3  # api and web fired, web resolved (a removed rule logs nothing)
    e.close()
    again.close()


def test_commits_of_100_rules_checkpoint_every_rule_with_the_cursor(meta: MetaDB) -> None:
    """Commits without transitions (the engine's once-a-second checkpoint) write every rule's state with the
    cursor; a new engine on the same database starts from it. (What a commit costs is bench/alerts.py's job.)"""
    clock = Clock()
    clock.now = T0 + timedelta(seconds=30)
    specs = [Spec(name=f"rule-{i}", query=f"level:error service:svc-{i % 10}") for i in range(100)]
    e = RulesEngine(SqlStateStore(meta.engine), specs, clock=clock, tick=None)
    e.handle(stored(1, [r for s in range(20) for r in errors(s % 30, f"svc-{s % 10}", 2)]))
    for seq in range(2, 22):
        e._uncommitted = seq
        e._commit(seq)
    checkpoint = SqlStateStore(meta.engine).load("rules")
    assert checkpoint is not None and checkpoint.seq == 21
    assert sorted(checkpoint.state) == sorted([*(f"rule-{i}" for i in range(100)), SHARED_WINDOWS])
    # Rules with the same query and window share their window, written once: ten for the hundred rules.
    assert len(checkpoint.state[SHARED_WINDOWS]) == 10
    e.close()
    again = RulesEngine(SqlStateStore(meta.engine), specs, clock=clock, tick=None)
    assert again.cursor() == 21
    assert {a.rule for a in again.alerts()} == {a.rule for a in e.alerts()}
    again.close()
