"""The rules engine: every rule evaluated on each durable batch, as one stateful, lossless bus subscriber.

**State and exactly once.** The engine commits, in one transaction of its `StateStore` (rules/statestore.py: the
metadata database), a batch's sequence number (its bus cursor), every rule's window, head and alerts, the alert
transitions the batch caused (the `alert_log` table: an outbox the router will read) and the changes to the
current alerts (the `alerts` table) — after every batch that causes a transition, and otherwise at most every
`commit_interval` (and when stopping). After a crash the bus replays every batch after the committed cursor,
and replaying the same lines through the same state gives the same transitions at the same event times: no line
is counted twice or missed, and no transition is lost or repeated. Transitions exist only once committed.

**Time.** Rules evaluate at the stream's head (event time, see rules/windows.py), so an alert fires in the batch
that completes its condition. When no batch has arrived for `idle`, a ticker moves every rule's head on by the
wall clock (now − `max_delay`), so an alert resolves when its lines stop, even if nothing arrives at all; those
evaluations are committed with the same cursor.

**Scheduled rules** (rules/types/scheduled.py) are held here but skipped by batches and ticks: the scheduler
(rules/scheduler.py) runs their queries and hands the values to `record_run`, which commits them the same way,
with the cursor of the batches handled so far.

**Reload.** `set_rules` keeps the state of every rule whose evaluation settings are unchanged; a new or changed
rule starts empty and sees lines from then on. Saved state is restored for the rules the engine opens with, so
give it its rules at once (not an empty set first).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

import orjson

from logwarden.bus.base import BusBatch, RewindError
from logwarden.query.batch_attrs import ATTR_COLUMNS, reads_attributes
from logwarden.query.filter import RowFilter, compile_filter
from logwarden.rules.base import BatchCache, Evaluator, HistoryReader, settings_hash
from logwarden.rules.links import judged_by, search_link
from logwarden.rules.state import Alert, AlertStatus, Transition
from logwarden.rules.statestore import CurrentAlert, HistoryFilter, LoggedTransition, SqlStateStore, StateStore

if TYPE_CHECKING:  # the types import the engine's neighbours; the engine knows scheduled rules by a flag
    from logwarden.rules.types.scheduled import ScheduledEvaluator

log = logging.getLogger(__name__)

# What makes a current alert's row change (its `last_active` alone does not: no rewrite per evaluation).
_Signature = tuple[Any, ...]


SHARED_WINDOWS = "\x1fwindows"  # the checkpoint's windows shared by several rules (no rule has this name)
WINDOW_REF = "\x1fshared"  # a rule's window written under SHARED_WINDOWS, by this key
HOLD_FACTOR = 10  # transitions wait up to this many times as long as the last commit took (see _held_for)

DROP_REASONS = {  # evaluator attribute → the `reason` label of logwarden_rule_dropped_total
    "not_a_number": "skipped_values",
    "key_evicted": "evicted_keys",
    "run_dropped": "dropped_runs",
}


class RulesEngine:
    """All rules of a server; the bus's lossless subscriber `rules` (bus/base.py: StatefulSubscriber)."""

    name = "rules"
    coalesce_rows = 128 * 1024  # batches waiting on the bus are evaluated together (per-rule costs are per call)
    coalesce_wait = 0.25  # and rests up to 250 ms after a call (4 × its length): busy, it spends ~⅕ of a core
    nice = 5  # and its thread gives way to ingest when the cores are busy (it catches up in larger calls)

    @staticmethod
    def batches_waiting() -> int | None:
        """How many batches wait on the bus behind the one being handled (the bus sets its own; None: unknown)."""
        return None

    def __init__(
        self,
        state: StateStore | Path,
        specs: Sequence[Any] = (),
        *,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
        idle: timedelta = timedelta(seconds=2),
        tick: float | None = 1.0,
        on_transition: Callable[[Transition, dict[str, str]], None] | None = None,
        annotate: Callable[[Any, Alert], dict[str, str]] | None = None,
        commit_interval: timedelta = timedelta(seconds=1),
        transition_gap: timedelta = timedelta(0),
        history: HistoryReader | None = None,
        name: str | None = None,
    ) -> None:
        """`state`: where checkpoints go, closed with the engine (a directory: a SQLite metadata database of
        the engine's own in it); `name`: the engine's checkpoint and bus subscriber name (default `rules`)."""
        if name is not None:
            self.name = name
        self._store: StateStore = SqlStateStore.embedded(state) if isinstance(state, Path) else state
        self._clock = clock
        self._idle = idle.total_seconds()
        self._on_transition = on_transition
        self._annotate = annotate
        self._history = history
        self._lock = threading.RLock()
        self._rules: dict[str, tuple[str, Evaluator]] = {}
        self._needs: tuple[list[RowFilter], list[str]] | None = None
        self._filters: dict[str, RowFilter] = {}
        self._streaming: list[Evaluator] = []  # the rules batches and ticks evaluate (not the scheduled ones)
        self._scheduled: tuple[tuple[str, ScheduledEvaluator], ...] = ()
        self._seq: int | None = None
        self._last_batch = time.monotonic()
        self._last_commit = 0.0
        self._uncommitted: int | None = None  # a batch handled whose state is not committed yet
        self._commit_interval = commit_interval.total_seconds()
        self._transition_gap = min(self._commit_interval, transition_gap.total_seconds())
        self._pending: list[tuple[Evaluator, Transition, LoggedTransition]] = []
        self._last_commit_took = 0.0
        self._values_written = 0.0  # when a commit last rewrote every current alert that changed
        self._deferred = False  # current alerts whose new value is not written yet
        self._judged: dict[str, tuple[Any, dict[str, Any]]] = {}  # rule name → (its spec, judged_by(spec))
        self._links: dict[str, tuple[Any, datetime, dict[str, str]]] = {}  # fingerprint → (spec, end, search)
        self.transitions = 0
        self._evaluated: dict[str, datetime] = {}  # rule name → its last evaluation (engine clock), for the API
        self._closed = False
        checkpoint = self._store.load(self.name)
        self._saved: dict[str, Any] = {}
        if checkpoint is not None:
            self._seq = checkpoint.seq
            self._saved = checkpoint.state
        # The current alerts' rows as committed; unknown signatures, so the first commit rewrites them all.
        self._written: dict[str, _Signature | None] = dict.fromkeys(self._store.alert_fingerprints(self.name))
        self.set_rules(specs)
        self._stop = threading.Event()
        self._wake = threading.Event()
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
                if self._streaming:  # with no streaming rules a batch only moves the cursor
                    table = batch.table
                    if table.num_columns and table.column(0).num_chunks > 1:
                        # Batches taken together arrive as many chunks; every kernel below runs per chunk.
                        table = table.combine_chunks()
                    shared = BatchCache(table, lean=True)
                    shared.prepare(*self._batch_needs())
                    for rule in self._streaming:
                        rule.observe(table, shared)
                now = self._clock()
                self._hold([(rule, t) for rule in self._streaming for t in rule.evaluate(now)])
                self._evaluated.update((rule.spec.name, now) for rule in self._streaming)
                if self._commit_due() or self._seq is None:
                    self._commit(batch.seq)
                else:
                    self._uncommitted = batch.seq  # replayed from the last commit after a crash: same outcome
                    if self._pending:
                        self._wake.set()
            except Exception as exc:
                # Back to the committed state, and every batch after it again: none counted twice, none lost.
                committed = self._seq
                self._rewind()
                if committed is None:
                    raise
                raise RewindError(committed, f"{type(exc).__name__}: {exc}") from exc
            self._last_batch = time.monotonic()

    def _hold(self, transitions: list[tuple[Evaluator, Transition]]) -> None:
        """Keep transitions for the next commit, each logged as it was when it happened."""
        for rule, t in transitions:
            body = self._body(rule, t.alert)
            body["status"] = str(t.status)
            body["labels"] = {**dict(getattr(rule.spec, "labels", {}) or {}), **t.alert.labels}
            logged = LoggedTransition(_tenant(t.alert), rule.name, t.alert.fingerprint, str(t.status), t.at, body)
            self._pending.append((rule, t, logged))

    def _commit_due(self) -> bool:
        """Transitions are committed at once unless a commit was just made and more batches wait on the bus: then
        they wait (up to `transition_gap`, see `_held_for`) and go together, so that under a busy stream one
        checkpoint carries many; everything else is committed at most every `commit_interval`."""
        since = time.monotonic() - self._last_commit
        if since >= self._commit_interval:
            return True
        # Nothing behind on the bus: no later call would take the transitions along, so they go now.
        return bool(self._pending) and (since >= self._held_for() or self.batches_waiting() == 0)

    def _held_for(self) -> float:
        # Ten times as long as the last commit took, at most `transition_gap`: commits cost at most about a tenth
        # of the engine's time, and a cheap one (few rules, little state) holds transitions back hardly at all.
        return min(self._transition_gap, HOLD_FACTOR * self._last_commit_took)

    def _rewind(self) -> None:
        self._uncommitted = None
        self._pending = []
        checkpoint = self._store.load(self.name)
        saved = checkpoint.state if checkpoint is not None else {}
        for name, (digest, rule) in list(self._rules.items()):
            self._rules[name] = (digest, _restored(rule.spec, digest, saved))
        self._split()

    def close(self) -> None:
        self._stop.set()
        self._wake.set()
        if self._ticker is not None and self._ticker is not threading.current_thread():
            self._ticker.join(5)
        with self._lock:
            if self._uncommitted is not None or self._pending or self._deferred:
                self._commit(self._uncommitted if self._uncommitted is not None else self._seq, refresh=True)
            self._closed = True
            ATTR_COLUMNS.want(self, False)
            self._store.close()

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
            self._needs = None
            self._split()
            self._saved = {}
            # Ingest keeps its decoded attribute columns while some subscriber reads attributes (query/batch_attrs.py).
            ATTR_COLUMNS.want(self, bool(self._streaming) and reads_attributes(*self._batch_needs()))

    def _split(self) -> None:
        """Sort the rules in force into the streaming ones and the scheduled ones (a new tuple: read lock-free)."""
        self._streaming = [rule for _, rule in self._rules.values() if not _is_scheduled(rule)]
        _share_windows(self._streaming)
        self._scheduled = tuple(
            (digest, cast("ScheduledEvaluator", rule)) for digest, rule in self._rules.values() if _is_scheduled(rule)
        )

    @property
    def rule_names(self) -> list[str]:
        return sorted(self._rules)

    def alerts(self) -> list[Alert]:
        """Pending and firing alerts of every rule."""
        with self._lock:
            return [a for _, rule in self._rules.values() for a in rule.tracker.alerts.values()]

    @property
    def store(self) -> StateStore:
        return self._store

    def history(self, limit: int = 100, tenant: str | None = None) -> list[dict[str, Any]]:
        """The newest committed transitions (of every tenant, or one), newest first."""
        return self._store.history(tenant, HistoryFilter(limit=limit))

    def scheduled(self) -> list[tuple[str, ScheduledEvaluator]]:
        """The scheduled rules in force, as (settings hash, evaluator), for the scheduler. Without the lock: the
        event loop asks, and must not wait for a batch."""
        return list(self._scheduled)

    def record_run(self, name: str, digest: str, at: datetime, values: dict[str, tuple[dict[str, str], float]]) -> int:
        """Take a scheduled rule's run (its values at evaluation time `at`) and commit it with its transitions
        and the cursor of the batches handled so far. A rule changed or removed since is left alone (returns -1);
        else the number of transitions."""
        with self._lock:
            entry = self._rules.get(name)
            if self._closed or entry is None or entry[0] != digest:
                return -1
            rule = cast("ScheduledEvaluator", entry[1])
            before = rule.snapshot()
            transitions: list[tuple[Evaluator, Transition]] = [(rule, t) for t in rule.apply(at, values)]
            seq = self._uncommitted if self._uncommitted is not None else self._seq
            self._hold(transitions)
            self._evaluated[name] = at
            try:
                self._commit(seq)
            except Exception:
                rule.restore(before)  # as if the run had not happened: the scheduler tries it again
                self._pending = [entry for entry in self._pending if entry[0] is not rule]
                raise
            return len(transitions)

    def status(self) -> list[dict[str, Any]]:
        """Per rule: matched and late lines, groups in the window, alerts by status (for /metrics), and when it was
        last evaluated (`last_evaluated`, None before its first evaluation)."""
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
                        "last_evaluated": self._evaluated.get(name),
                        # What a type had to leave out, by reason (values that are not numbers, bounds reached).
                        "dropped": {
                            reason: int(getattr(rule, attr))
                            for reason, attr in DROP_REASONS.items()
                            if isinstance(getattr(rule, attr, None), int)
                        },
                    }
                )
            return out

    def _batch_needs(self) -> tuple[list[RowFilter], list[str]]:
        """Every filter the rules evaluate and every field they read, for BatchCache.prepare."""
        if self._needs is None:
            texts: dict[str, None] = {}
            fields: dict[str, None] = {}
            for _, rule in self._rules.values():
                spec = rule.spec
                if _is_scheduled(rule):  # scheduled rules and aggregates over a metric read no batch
                    continue
                for text in (spec.query, getattr(spec, "total_query", None)):
                    if text:
                        texts[text] = None
                for step in getattr(spec, "steps", None) or ():
                    texts[step.query] = None
                for name in (
                    *spec.group_by,
                    *(getattr(spec, "by", None) or ()),
                    *(getattr(spec, "fields", None) or ()),
                ):
                    fields[name] = None
                field = getattr(spec, "field", None)
                if isinstance(field, str):
                    fields[field] = None
            filters = []
            for text in texts:
                compiled = self._filters.get(text)
                if compiled is None:
                    compiled = self._filters[text] = compile_filter(text)
                filters.append(compiled)
            self._needs = (filters, list(fields))
        return self._needs

    # --- time without lines ----------------------------------------------------------------------

    def tick(self) -> None:
        """Evaluate by the wall clock when no batch came for `idle` (commits with the same cursor)."""
        with self._lock:
            if (self._uncommitted is not None or self._deferred) and self._commit_due():
                self._commit(self._uncommitted if self._uncommitted is not None else self._seq)
            if self._seq is None or time.monotonic() - self._last_batch < self._idle:
                return
            now = self._clock()
            self._seed(now)
            self._hold(
                [(rule, t) for rule in self._streaming for t in rule.evaluate(now, idle_head=now - rule.spec.max_delay)]
            )
            self._evaluated.update((rule.spec.name, now) for rule in self._streaming)
            if self._pending:
                self._commit(self._uncommitted if self._uncommitted is not None else self._seq)

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

    def flush(self) -> None:
        """Commit what is handled and held now (tests, and anyone who must read the database right after)."""
        with self._lock:
            if not self._closed and (self._uncommitted is not None or self._pending or self._deferred):
                self._commit(self._uncommitted if self._uncommitted is not None else self._seq, refresh=True)

    def _tick_loop(self, interval: float) -> None:
        # Held transitions are committed once their gap has passed even when no batch comes to do it: `handle`
        # wakes this loop when it holds some.
        while not self._stop.is_set():
            timeout = interval
            if self._pending:
                timeout = min(interval, max(0.0, self._last_commit + self._held_for() - time.monotonic()))
            self._wake.wait(timeout)
            self._wake.clear()
            if self._stop.is_set():
                break
            try:
                self.tick()
            except Exception:
                log.exception("evaluating rules on the clock failed; retrying next tick")

    # --- checkpoints ------------------------------------------------------------------------------

    def _commit(self, seq: int | None, *, refresh: bool | None = None) -> None:
        """One transaction: the cursor `seq`, every rule's state, the transitions held since the last commit, and
        the current alerts that changed. A current alert whose value alone changed is rewritten at most every
        `commit_interval` (or with `refresh`): commits for transitions, which may come several times a second,
        do not rewrite every firing alert whose count moved."""
        began = time.monotonic()
        if refresh is None:
            refresh = began - self._values_written >= self._commit_interval
        state = _checkpoint(self._rules)
        held = list(self._pending)
        logged = [entry for _, _, entry in held]
        # The current alerts: rows whose alert changed are rewritten, rows of alerts that ended are deleted.
        current: dict[str, _Signature | None] = {}
        upserts = []
        deferred = False
        for _, rule in self._rules.values():
            for fp, alert in rule.tracker.alerts.items():
                signature = _signature(alert)
                written = self._written.get(fp, ())
                if written == signature:
                    current[fp] = written
                    continue
                if not refresh and _value_moved(written, signature):
                    current[fp] = written  # only its value changed: rewritten with the next refresh
                    deferred = True
                    continue
                current[fp] = signature
                blob = orjson.dumps(self._body(rule, alert))
                status = str(alert.status)
                upserts.append(CurrentAlert(fp, _tenant(alert), rule.name, status, alert.active_at, blob))
        deletes = [fp for fp in self._written if fp not in current]
        for fp in deletes:
            self._links.pop(fp, None)
        if len(self._links) > 2 * len(current) + 1024:
            self._links = {}  # a cache: rebuilt when alerts that never had a row left theirs behind
        self._store.commit(self.name, seq, orjson.dumps(state), logged, upserts, deletes)
        self._pending = self._pending[len(held) :]  # kept until committed: a failed commit loses none
        self._written = current
        self._deferred = deferred
        if seq is not None:
            self._seq = seq
        self._uncommitted = None
        self._last_commit = time.monotonic()
        self._last_commit_took = self._last_commit - began
        if refresh:
            self._values_written = began
        self.transitions += len(logged)
        if self._on_transition is not None:
            for rule, t, _ in held:
                self._on_transition(t, {"rule": rule.name})

    def _body(self, rule: Evaluator, alert: Alert) -> dict[str, Any]:
        """An alert as the history and the current alerts show it: with severity and rendered annotations."""
        body = alert.to_json()
        body["severity"] = getattr(rule.spec, "severity", None)
        judged = self._judged.get(rule.name)
        if judged is None or judged[0] is not rule.spec:  # a pure function of the rule's settings: once per rule
            judged = self._judged[rule.name] = (rule.spec, judged_by(rule.spec))
        body.update(judged[1])
        end = alert.resolved_at or alert.last_active or alert.fired_at or alert.active_at
        # A pure function of the rule, the labels and the end: kept per alert while they stay the same.
        link = self._links.get(alert.fingerprint)
        if link is None or link[0] is not rule.spec or link[1] != end:
            link = self._links[alert.fingerprint] = (rule.spec, end, search_link(rule.spec, alert.labels, end))
        body["search"] = dict(link[2])
        if self._annotate is not None:
            body["annotations"] = self._annotate(rule.spec, alert)
        return body


def _tenant(alert: Alert) -> str:
    return alert.labels.get("tenant", "")


def _signature(alert: Alert) -> _Signature:
    return (
        alert.status,
        alert.value,
        alert.active_at,
        alert.fired_at,
        alert.flapping,
        getattr(alert, "evidence_at", None),
        len(alert.evidence),
    )


def _value_moved(written: _Signature | None, signature: _Signature) -> bool:
    """Whether an alert's row as written differs from its signature in its value alone."""
    return bool(written) and written[0] == signature[0] and written[2:] == signature[2:]  # type: ignore[index]


def _share_windows(rules: Sequence[Evaluator]) -> None:
    """Rules that count the same lines the same way (`window_key`: query, grouping, window, lateness) and hold
    equal windows share one window object: it takes each batch and is read and checkpointed once for all of
    them (threshold rules that differ only in threshold or severity, as warning and critical levels do). A new
    rule's window starts empty, so it shares only with other new ones, until a restart finds them equal."""
    classes: dict[tuple[Any, ...], Any] = {}
    for rule in rules:
        key_of = getattr(rule, "window_key", None)
        if key_of is None:
            continue
        window = rule.window  # type: ignore[attr-defined]
        key = (key_of(), orjson.dumps(window.snapshot(), option=orjson.OPT_SERIALIZE_NUMPY))
        found = classes.setdefault(key, window)
        if found is not window:
            rule.window = found  # type: ignore[attr-defined]


def _is_scheduled(rule: Evaluator) -> bool:
    return bool(getattr(rule, "scheduled", False))


def _checkpoint(rules: dict[str, tuple[str, Evaluator]]) -> dict[str, Any]:
    """Every rule's state by name, with its settings hash. A window several rules share (`_share_windows`) is
    written once, under `SHARED_WINDOWS`, and each of those rules' states refers to it."""
    users: dict[int, int] = {}
    for _, rule in rules.values():
        window = getattr(rule, "window", None)
        if window is not None and getattr(rule, "window_key", None) is not None:
            users[id(window)] = users.get(id(window), 0) + 1
    state: dict[str, Any] = {}
    shared: dict[str, Any] = {}
    refs: dict[int, str] = {}
    for name, (digest, rule) in rules.items():
        snapshot = rule.snapshot()
        window = getattr(rule, "window", None)
        if window is not None and users.get(id(window), 0) > 1 and snapshot.get("window") is window.snapshot():
            ref = refs.setdefault(id(window), str(len(refs)))
            shared.setdefault(ref, snapshot["window"])
            snapshot = {**snapshot, "window": {WINDOW_REF: ref}}
        state[name] = {"hash": digest, "state": snapshot}
    if shared:
        state[SHARED_WINDOWS] = shared
    return state


def _restored(spec: Any, digest: str, saved: dict[str, Any]) -> Evaluator:
    """A rule with its saved state when the state is for these evaluation settings, else empty (and then, if
    its type starts from history, marked to be seeded: `needs_history`)."""
    rule: Evaluator = spec.evaluator()
    state = saved.get(spec.name)
    if state is not None and state.get("hash") == digest:
        window = state["state"].get("window")
        if isinstance(window, dict) and WINDOW_REF in window:  # written once for the rules sharing it
            state = {**state, "state": {**state["state"], "window": saved[SHARED_WINDOWS][window[WINDOW_REF]]}}
        rule.restore(state["state"])
        if hasattr(rule, "needs_history"):
            rule.needs_history = False
    return rule
