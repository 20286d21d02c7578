"""The rules engine: every rule evaluated on each durable batch, as one stateful, lossless bus subscriber.

**State and exactly once.** The engine commits, in one SQLite transaction (`<data_dir>/rules/state.sqlite`), a
batch's sequence number (its bus cursor), every rule's window, head and alerts, and the alert transitions the
batch caused (the `alert_log` table: an outbox the router will read) — after every batch that causes a
transition, and otherwise at most every `commit_interval` (and when stopping). After a crash the bus replays
every batch after the committed cursor, and replaying the same lines through the same state gives the same
transitions at the same event times: no line is counted twice or missed, and no transition is lost or repeated.
Transitions exist only once committed.

**Time.** Rules evaluate at the stream's head (event time, see rules/windows.py), so an alert fires in the batch
that completes its condition. When no batch has arrived for `idle`, a ticker moves every rule's head on by the
wall clock (now − `max_delay`), so an alert resolves when its lines stop, even if nothing arrives at all; those
evaluations are committed with the same cursor.

**Reload.** `set_rules` keeps the state of every rule whose evaluation settings are unchanged; a new or changed
rule starts empty and sees lines from then on.
"""

from __future__ import annotations

import logging
import sqlite3
import threading
import time
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import orjson

from logwarden.bus.base import BusBatch, RewindError
from logwarden.rules.base import BatchCache, Evaluator, HistoryReader, settings_hash
from logwarden.rules.state import Alert, AlertStatus, Transition

log = logging.getLogger(__name__)

STATE_FILE = "state.sqlite"
_DDL = (
    "CREATE TABLE IF NOT EXISTS checkpoint (id INTEGER PRIMARY KEY CHECK (id = 1), seq INTEGER NOT NULL, "
    "state TEXT NOT NULL, updated TEXT NOT NULL)",
    "CREATE TABLE IF NOT EXISTS alert_log (id INTEGER PRIMARY KEY AUTOINCREMENT, at TEXT NOT NULL, "
    "rule TEXT NOT NULL, fingerprint TEXT NOT NULL, status TEXT NOT NULL, alert TEXT NOT NULL)",
)


class RulesEngine:
    """All rules of a server; the bus's lossless subscriber `rules` (bus/base.py: StatefulSubscriber)."""

    name = "rules"
    coalesce_rows = 64 * 1024  # batches waiting on the bus are evaluated together (per-rule costs are per call)

    def __init__(
        self,
        directory: Path,
        specs: Sequence[Any] = (),
        *,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
        idle: timedelta = timedelta(seconds=2),
        tick: float | None = 1.0,
        on_transition: Callable[[Transition, dict[str, str]], None] | None = None,
        annotate: Callable[[Any, Alert], dict[str, str]] | None = None,
        commit_interval: timedelta = timedelta(seconds=1),
        history: HistoryReader | None = None,
    ) -> None:
        directory.mkdir(parents=True, exist_ok=True)
        self._db = sqlite3.connect(directory / STATE_FILE, check_same_thread=False, isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=FULL")  # the cursor must be as durable as the ingest log
        for ddl in _DDL:
            self._db.execute(ddl)
        self._clock = clock
        self._idle = idle.total_seconds()
        self._on_transition = on_transition
        self._annotate = annotate
        self._history = history
        self._lock = threading.RLock()
        self._rules: dict[str, tuple[str, Evaluator]] = {}
        self._seq: int | None = None
        self._last_batch = time.monotonic()
        self._last_commit = 0.0
        self._uncommitted: int | None = None  # a batch handled whose state is not committed yet
        self._commit_interval = commit_interval.total_seconds()
        self.transitions = 0
        row = self._db.execute("SELECT seq, state FROM checkpoint WHERE id = 1").fetchone()
        self._saved: dict[str, Any] = {}
        if row is not None:
            self._seq = int(row[0])
            self._saved = orjson.loads(row[1])
        self.set_rules(specs)
        self._stop = threading.Event()
        self._ticker: threading.Thread | None = None
        if tick:
            self._ticker = threading.Thread(target=self._tick_loop, args=(tick,), name="lw-rules-tick", daemon=True)
            self._ticker.start()

    # --- the bus contract -------------------------------------------------------------------------

    def cursor(self) -> int | None:
        """The last batch whose effects are committed (None: a new engine starts at the newest batch)."""
        return self._seq

    def handle(self, batch: BusBatch) -> None:
        with self._lock:
            try:
                self._seed(self._clock())
                shared = BatchCache(batch.table)
                for _, rule in self._rules.values():
                    rule.observe(batch.table, shared)
                now = self._clock()
                transitions = [(rule, t) for _, rule in self._rules.values() for t in rule.evaluate(now)]
                due = time.monotonic() - self._last_commit >= self._commit_interval
                if transitions or due or self._seq is None:
                    self._commit(batch.seq, transitions)
                else:
                    self._uncommitted = batch.seq  # replayed from the last commit after a crash: same outcome
            except Exception as exc:
                # Back to the committed state, and every batch after it again: none counted twice, none lost.
                committed = self._seq
                self._rewind()
                if committed is None:
                    raise
                raise RewindError(committed, f"{type(exc).__name__}: {exc}") from exc
            self._last_batch = time.monotonic()

    def _rewind(self) -> None:
        self._uncommitted = None
        row = self._db.execute("SELECT state FROM checkpoint WHERE id = 1").fetchone()
        saved = orjson.loads(row[0]) if row is not None else {}
        for name, (digest, rule) in list(self._rules.items()):
            self._rules[name] = (digest, _restored(rule.spec, digest, saved))

    def close(self) -> None:
        self._stop.set()
        if self._ticker is not None and self._ticker is not threading.current_thread():
            self._ticker.join(5)
        with self._lock:
            if self._uncommitted is not None:
                self._commit(self._uncommitted, [])
            self._db.close()

    # --- rules -----------------------------------------------------------------------------------

    def set_rules(self, specs: Sequence[Any]) -> None:
        """Install a rule set: unchanged rules keep their state, others start empty."""
        with self._lock:
            current = {name: entry for name, entry in self._rules.items()}
            saved = self._saved
            rules: dict[str, tuple[str, Evaluator]] = {}
            for spec in specs:
                digest = settings_hash(spec)
                kept = current.get(spec.name)
                if kept is not None and kept[0] == digest:
                    kept[1].spec = spec  # labels, annotations and the like may change freely
                    rules[spec.name] = kept
                    continue
                rules[spec.name] = (digest, _restored(spec, digest, saved))
            self._rules = rules
            self._saved = {}

    @property
    def rule_names(self) -> list[str]:
        return sorted(self._rules)

    def alerts(self) -> list[Alert]:
        """Pending and firing alerts of every rule."""
        with self._lock:
            return [a for _, rule in self._rules.values() for a in rule.tracker.alerts.values()]

    def history(self, limit: int = 100) -> list[dict[str, Any]]:
        """The newest committed transitions, newest first."""
        with self._lock:
            rows = self._db.execute(
                "SELECT id, at, rule, fingerprint, status, alert FROM alert_log ORDER BY id DESC LIMIT ?", (limit,)
            ).fetchall()
        return [
            {"id": i, "at": at, "rule": rule, "fingerprint": fp, "status": status, "alert": orjson.loads(alert)}
            for i, at, rule, fp, status, alert in rows
        ]

    def status(self) -> list[dict[str, Any]]:
        """Per rule: matched and late lines, groups in the window, alerts by status (for /metrics)."""
        with self._lock:
            out = []
            for name, (_, rule) in sorted(self._rules.items()):
                by_status = {s: 0 for s in (AlertStatus.PENDING, AlertStatus.FIRING)}
                for a in rule.tracker.alerts.values():
                    by_status[a.status] += 1
                out.append(
                    {
                        "rule": name,
                        "matched": rule.matched_lines,
                        "late": rule.late_lines,
                        "groups": rule.groups,
                        "pending": by_status[AlertStatus.PENDING],
                        "firing": by_status[AlertStatus.FIRING],
                    }
                )
            return out

    # --- time without lines ----------------------------------------------------------------------

    def tick(self) -> None:
        """Evaluate by the wall clock when no batch came for `idle` (commits with the same cursor)."""
        with self._lock:
            if self._uncommitted is not None and time.monotonic() - self._last_commit >= self._commit_interval:
                self._commit(self._uncommitted, [])
            if self._seq is None or time.monotonic() - self._last_batch < self._idle:
                return
            now = self._clock()
            self._seed(now)
            transitions = [
                (rule, t)
                for _, rule in self._rules.values()
                for t in rule.evaluate(now, idle_head=now - rule.spec.max_delay)
            ]
            if transitions:
                self._commit(self._seq, transitions)

    def _seed(self, now: datetime) -> None:
        """Give rules that start from stored history (`needs_history`) their history, once, on this thread."""
        for _, rule in self._rules.values():
            if getattr(rule, "needs_history", False):
                if self._history is not None:
                    try:
                        rule.seed(self._history, now)  # type: ignore[attr-defined]
                    except Exception:
                        log.exception("rule %s: reading its history failed; it starts from what it sees", rule.name)
                rule.needs_history = False  # type: ignore[attr-defined]

    def _tick_loop(self, interval: float) -> None:
        while not self._stop.wait(interval):
            try:
                self.tick()
            except Exception:
                log.exception("evaluating rules on the clock failed; retrying next tick")

    # --- checkpoints ------------------------------------------------------------------------------

    def _commit(self, seq: int, transitions: list[tuple[Evaluator, Transition]]) -> None:
        state = {name: {"hash": digest, "state": rule.snapshot()} for name, (digest, rule) in self._rules.items()}
        rows = []
        for rule, t in transitions:
            body = t.alert.to_json()
            body["severity"] = getattr(rule.spec, "severity", None)
            body["labels"] = {**dict(getattr(rule.spec, "labels", {}) or {}), **t.alert.labels}
            if self._annotate is not None:
                body["annotations"] = self._annotate(rule.spec, t.alert)
            rows.append((t.at.isoformat(), rule.name, t.alert.fingerprint, str(t.status), orjson.dumps(body).decode()))
        self._db.execute("BEGIN IMMEDIATE")
        try:
            self._db.execute(
                "INSERT INTO checkpoint (id, seq, state, updated) VALUES (1, ?, ?, ?) ON CONFLICT (id) DO UPDATE "
                "SET seq = excluded.seq, state = excluded.state, updated = excluded.updated",
                (seq, orjson.dumps(state).decode(), datetime.now(UTC).isoformat()),
            )
            self._db.executemany(
                "INSERT INTO alert_log (at, rule, fingerprint, status, alert) VALUES (?, ?, ?, ?, ?)", rows
            )
            self._db.execute("COMMIT")
        except BaseException:
            self._db.execute("ROLLBACK")
            raise
        self._seq = seq
        self._uncommitted = None
        self._last_commit = time.monotonic()
        self.transitions += len(rows)
        if self._on_transition is not None:
            for rule, t in transitions:
                self._on_transition(t, {"rule": rule.name})


def _restored(spec: Any, digest: str, saved: dict[str, Any]) -> Evaluator:
    """A rule with its saved state when the state is for these evaluation settings, else empty (and then, if
    its type starts from history, marked to be seeded: `needs_history`)."""
    rule: Evaluator = spec.evaluator()
    state = saved.get(spec.name)
    if state is not None and state.get("hash") == digest:
        rule.restore(state["state"])
        if hasattr(rule, "needs_history"):
            rule.needs_history = False
    return rule
