"""What the rules keep in the metadata database: each engine's checkpoint, the alert log, the current alerts, and
the rules made through the API.

`StateStore` is the engine's side: `load` a checkpoint at start, `commit` — in **one transaction** — the bus
cursor with every rule's state, the transitions it caused (`alert_log`, the outbox the alert router reads), and
the changes to the current alerts (`alerts`, one row per fingerprint, so `/api/v1/alerts` reads the database from
any process). A crash loses either all of a commit or none of it: the bus replays the batches after the
committed cursor and the same transitions come again, once.

`SqlStateStore` implements it on SQLAlchemy Core (meta/tables.py): SQLite embedded, PostgreSQL scaled. On SQLite
the commits go through one connection of their own with `synchronous=FULL` (WAL): a commit is on disk when it
returns, as durable as the ingest log's fdatasync; PostgreSQL commits are durable by default.
"""

from __future__ import annotations

import logging
import sqlite3
import threading
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol

import orjson
from sqlalchemy import Connection, Engine, Row, delete, insert, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.pool import StaticPool

from logwarden.meta.tables import alert_log, alerts, rule_checkpoints, rules

log = logging.getLogger(__name__)

EMBEDDED_FILE = "meta.sqlite"  # a state store of its own in a directory (tests, `rules test`)
LEGACY_FILE = "state.sqlite"  # where the engine kept its state before the metadata database
_CHUNK = 500  # fingerprints per DELETE … IN (…)


@dataclass(frozen=True, slots=True)
class Checkpoint:
    """An engine's last commit: the bus cursor (None: before any batch) and every rule's state."""

    seq: int | None
    state: dict[str, Any]


@dataclass(frozen=True, slots=True)
class LoggedTransition:
    """One row of the alert log: an alert started firing or resolved at `at`."""

    tenant: str
    rule: str
    fingerprint: str
    status: str
    at: datetime
    alert: dict[str, Any]


@dataclass(frozen=True, slots=True)
class CurrentAlert:
    """One row of the current alerts (pending or firing); `alert` is its JSON."""

    fingerprint: str
    tenant: str
    rule: str
    status: str
    active_at: datetime
    alert: bytes


@dataclass(frozen=True, slots=True)
class HistoryFilter:
    """Which transitions `history` returns (newest first): all of them, or those matching every given field."""

    rule: str | None = None
    status: str | None = None
    fingerprint: str | None = None
    since: datetime | None = None
    """Transitions at or after this time."""
    until: datetime | None = None
    """Transitions before this time."""
    limit: int = 100


class StateStore(Protocol):
    """Where a rules engine keeps its checkpoint, its transitions and its current alerts."""

    def load(self, engine: str) -> Checkpoint | None:
        """The engine's last checkpoint (None: it never committed)."""
        ...

    def alert_fingerprints(self, engine: str) -> set[str]:
        """The fingerprints of the engine's rows in the current alerts."""
        ...

    def commit(
        self,
        engine: str,
        seq: int | None,
        state: bytes,
        transitions: Sequence[LoggedTransition],
        upserts: Sequence[CurrentAlert],
        deletes: Iterable[str],
    ) -> None:
        """In one durable transaction: the checkpoint, the transitions, and the current alerts' changes."""
        ...

    def history(self, tenant: str | None, which: HistoryFilter = HistoryFilter()) -> list[dict[str, Any]]:
        """Committed transitions of a tenant (None: every tenant), newest first."""
        ...

    def current(self, tenant: str | None, rule: str | None = None) -> list[dict[str, Any]]:
        """The pending and firing alerts of a tenant (None: every tenant) as of the last commits."""
        ...

    def close(self) -> None: ...


def _utc(value: datetime) -> datetime:
    # SQLite keeps no time zone; everything is written in UTC.
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


class SqlStateStore:
    """`StateStore` on the metadata database (see the module docstring). Thread-safe; blocking."""

    def __init__(self, engine: Engine, *, owns_engine: bool = False) -> None:
        self._engine = engine
        self._owns_engine = owns_engine
        self._sqlite_file = engine.dialect.name == "sqlite" and not isinstance(engine.pool, StaticPool)
        # In-memory SQLite is one connection shared by every thread: one statement at a time on it.
        self._shared = isinstance(engine.pool, StaticPool)
        self._lock = threading.RLock()
        self._writer: Connection | None = None

    @classmethod
    def embedded(cls, directory: Path) -> SqlStateStore:
        """A store in a SQLite metadata database of its own, `<directory>/meta.sqlite` (migrated on open)."""
        from logwarden.meta.db import default_url, open_engine
        from logwarden.meta.migrate import upgrade

        directory.mkdir(parents=True, exist_ok=True)
        engine = open_engine(default_url(directory))
        try:
            upgrade(engine)
        except BaseException:
            engine.dispose()
            raise
        return cls(engine, owns_engine=True)

    @property
    def engine(self) -> Engine:
        return self._engine

    # --- the engine's side ------------------------------------------------------------------------

    def load(self, engine: str) -> Checkpoint | None:
        stmt = select(rule_checkpoints.c.seq, rule_checkpoints.c.state).where(rule_checkpoints.c.engine == engine)
        with self._lock, self._engine.connect() as con:
            row = con.execute(stmt).first()
        if row is None:
            return None
        return Checkpoint(None if row.seq is None else int(row.seq), orjson.loads(row.state))

    def alert_fingerprints(self, engine: str) -> set[str]:
        stmt = select(alerts.c.fingerprint).where(alerts.c.engine == engine)
        with self._lock, self._engine.connect() as con:
            return {str(fp) for (fp,) in con.execute(stmt)}

    def commit(
        self,
        engine: str,
        seq: int | None,
        state: bytes,
        transitions: Sequence[LoggedTransition],
        upserts: Sequence[CurrentAlert],
        deletes: Iterable[str],
    ) -> None:
        now = datetime.now(UTC)
        gone = list(dict.fromkeys([*deletes, *(a.fingerprint for a in upserts)]))
        with self._lock:
            con = self._connection()
            try:
                with con.begin():
                    done = con.execute(
                        update(rule_checkpoints)
                        .where(rule_checkpoints.c.engine == engine)
                        .values(seq=seq, state=state.decode(), updated=now)
                    )
                    if done.rowcount == 0:
                        con.execute(
                            insert(rule_checkpoints).values(engine=engine, seq=seq, state=state.decode(), updated=now)
                        )
                    if transitions:
                        con.execute(
                            insert(alert_log),
                            [
                                {
                                    "engine": engine,
                                    "tenant": t.tenant,
                                    "rule": t.rule,
                                    "fingerprint": t.fingerprint,
                                    "status": t.status,
                                    "at": t.at,
                                    "alert": orjson.dumps(t.alert).decode(),
                                }
                                for t in transitions
                            ],
                        )
                    # Replaced rows are deleted and inserted again: portable, and one statement per chunk.
                    for i in range(0, len(gone), _CHUNK):
                        con.execute(delete(alerts).where(alerts.c.fingerprint.in_(gone[i : i + _CHUNK])))
                    if upserts:
                        con.execute(
                            insert(alerts),
                            [
                                {
                                    "fingerprint": a.fingerprint,
                                    "engine": engine,
                                    "tenant": a.tenant,
                                    "rule": a.rule,
                                    "status": a.status,
                                    "active_at": a.active_at,
                                    "alert": a.alert.decode(),
                                }
                                for a in upserts
                            ],
                        )
            except BaseException:
                self._drop_writer()
                raise
            finally:
                if not self._sqlite_file:
                    self._drop_writer()

    def _connection(self) -> Connection:
        """The connection commits run on: a SQLite file's own with synchronous=FULL, else one from the pool."""
        if self._writer is None:
            con = self._engine.connect()
            if self._sqlite_file:
                raw = con.connection.dbapi_connection
                assert raw is not None
                # Outside any transaction (the connection is in autocommit mode: meta/db.py).
                cursor = raw.cursor()
                cursor.execute("PRAGMA synchronous=FULL")
                cursor.close()
            self._writer = con
        return self._writer

    def _drop_writer(self) -> None:
        if self._writer is not None:
            self._writer.close()
            self._writer = None

    # --- readers (the API, any process) -------------------------------------------------------------

    def history(self, tenant: str | None, which: HistoryFilter = HistoryFilter()) -> list[dict[str, Any]]:
        c = alert_log.c
        stmt = select(c.id, c.at, c.rule, c.fingerprint, c.status, c.alert)
        if tenant is not None:
            stmt = stmt.where(c.tenant == tenant)
        if which.rule is not None:
            stmt = stmt.where(c.rule == which.rule)
        if which.status is not None:
            stmt = stmt.where(c.status == which.status)
        if which.fingerprint is not None:
            stmt = stmt.where(c.fingerprint == which.fingerprint)
        if which.since is not None:
            stmt = stmt.where(c.at >= which.since.astimezone(UTC))
        if which.until is not None:
            stmt = stmt.where(c.at < which.until.astimezone(UTC))
        stmt = stmt.order_by(c.at.desc(), c.id.desc()).limit(which.limit)
        with self._lock if self._shared else _nolock(), self._engine.connect() as con:
            rows = con.execute(stmt).all()
        return [
            {
                "id": int(r.id),
                "at": _utc(r.at).isoformat(),
                "rule": r.rule,
                "fingerprint": r.fingerprint,
                "status": r.status,
                "alert": orjson.loads(r.alert),
            }
            for r in rows
        ]

    def current(self, tenant: str | None, rule: str | None = None) -> list[dict[str, Any]]:
        c = alerts.c
        stmt = select(c.alert)
        if tenant is not None:
            stmt = stmt.where(c.tenant == tenant)
        if rule is not None:
            stmt = stmt.where(c.rule == rule)
        stmt = stmt.order_by(c.rule, c.active_at, c.fingerprint)
        with self._lock if self._shared else _nolock(), self._engine.connect() as con:
            return [orjson.loads(text) for (text,) in con.execute(stmt)]

    def close(self) -> None:
        """Release the store's connection (and the database engine, when the store opened it)."""
        with self._lock:
            self._drop_writer()
            if self._owns_engine:
                self._engine.dispose()


class _nolock:  # noqa: N801 - a null context manager, cheaper than contextlib.nullcontext per call
    def __enter__(self) -> None:
        return None

    def __exit__(self, *exc: object) -> None:
        return None


# --- the old state file ------------------------------------------------------------------------------


def import_legacy_state(path: Path, store: SqlStateStore, engine: str = "rules") -> bool:
    """Move an old `<data_dir>/rules/state.sqlite` (checkpoint and alert log) into the metadata database, once:
    only when the engine has no checkpoint there yet; the file is then renamed `*.migrated`. The current alerts
    are written by the engine's first commit (they are in the rules' state)."""
    if not path.exists() or store.load(engine) is not None:
        return False
    old = sqlite3.connect(path)
    try:
        row = old.execute("SELECT seq, state FROM checkpoint WHERE id = 1").fetchone()
        logged = old.execute("SELECT at, rule, fingerprint, status, alert FROM alert_log ORDER BY id").fetchall()
    except sqlite3.Error as exc:
        log.error("rules: cannot read the old state file %s (%s); rules start without it", path, exc)
        return False
    finally:
        old.close()
    transitions = []
    for at, rule, fp, status, alert in logged:
        body = orjson.loads(alert)
        tenant = str((body.get("labels") or {}).get("tenant", ""))
        transitions.append(LoggedTransition(tenant, rule, fp, status, _utc(datetime.fromisoformat(at)), body))
    seq, state = (int(row[0]), row[1].encode()) if row is not None else (None, b"{}")
    store.commit(engine, seq, state, transitions, (), ())
    path.rename(path.with_name(path.name + ".migrated"))
    log.info("rules: moved %s (cursor %s, %d transitions) into the metadata database", path, seq, len(transitions))
    return True


# --- rules made through the API -------------------------------------------------------------------------


class RuleNameTakenError(Exception):
    """Another API rule (of any tenant) already has this name."""


@dataclass(frozen=True, slots=True)
class ApiRule:
    """A rule made through /api/v1/rules: its group (and the group's interval) and the rule mapping as sent."""

    id: str
    tenant: str
    name: str
    group: str
    interval: str | None
    rule: dict[str, Any]
    created: datetime
    updated: datetime


class ApiRuleRepository:
    """CRUD over the `rules` table. Names are unique across tenants; reads and writes of one rule are scoped to
    its tenant. Blocking: run it in a thread."""

    def __init__(self, engine: Engine) -> None:
        self._engine = engine

    def all(self) -> list[ApiRule]:
        """Every tenant's rules (what the engine runs), by name."""
        with self._engine.connect() as con:
            return [_rule_of(r) for r in con.execute(select(rules).order_by(rules.c.name))]

    def list(self, tenant: str) -> list[ApiRule]:
        stmt = select(rules).where(rules.c.tenant == tenant).order_by(rules.c.name)
        with self._engine.connect() as con:
            return [_rule_of(r) for r in con.execute(stmt)]

    def get(self, tenant: str, name: str) -> ApiRule | None:
        stmt = select(rules).where(rules.c.tenant == tenant, rules.c.name == name)
        with self._engine.connect() as con:
            row = con.execute(stmt).first()
        return _rule_of(row) if row is not None else None

    def exists(self, name: str) -> bool:
        """Whether any tenant has a rule of this name."""
        with self._engine.connect() as con:
            return con.execute(select(rules.c.id).where(rules.c.name == name)).first() is not None

    def create(
        self,
        tenant: str,
        group: str,
        interval: str | None,
        rule: dict[str, Any],
        now: datetime | None = None,
    ) -> ApiRule:
        now = now or datetime.now(UTC)
        made = ApiRule(uuid.uuid4().hex, tenant, str(rule["name"]), group, interval, rule, now, now)
        try:
            with self._engine.begin() as con:
                con.execute(
                    insert(rules).values(
                        id=made.id,
                        tenant=tenant,
                        name=made.name,
                        group_name=group,
                        interval=interval,
                        rule=orjson.dumps(rule).decode(),
                        created=now,
                        updated=now,
                    )
                )
        except IntegrityError:
            raise RuleNameTakenError(made.name) from None
        return made

    def replace(
        self,
        tenant: str,
        name: str,
        group: str,
        interval: str | None,
        rule: dict[str, Any],
        now: datetime | None = None,
    ) -> ApiRule | None:
        """Replace a rule's group and mapping (same name); None when the tenant has no such rule."""
        now = now or datetime.now(UTC)
        stmt = (
            update(rules)
            .where(rules.c.tenant == tenant, rules.c.name == name)
            .values(group_name=group, interval=interval, rule=orjson.dumps(rule).decode(), updated=now)
        )
        with self._engine.begin() as con:
            if con.execute(stmt).rowcount == 0:
                return None
        return self.get(tenant, name)

    def delete(self, tenant: str, name: str) -> bool:
        stmt = delete(rules).where(rules.c.tenant == tenant, rules.c.name == name)
        with self._engine.begin() as con:
            return bool(con.execute(stmt).rowcount)


def _rule_of(row: Row[Any]) -> ApiRule:
    m = row._mapping
    return ApiRule(
        id=m["id"],
        tenant=m["tenant"],
        name=m["name"],
        group=m["group_name"],
        interval=m["interval"],
        rule=orjson.loads(m["rule"]),
        created=_utc(m["created"]),
        updated=_utc(m["updated"]),
    )
