"""The `sequence` rule's matcher: ordered steps per correlation key, in event time, with late lines in order.

Pure Python over the lines that passed a step filter (rules/types/sequence.py does the vectorized part: the
filters, the keys, the sort). One `SequenceMatcher` per rule keeps, per key:

- **final runs**: the partial sequences after every line up to the *final point* F (the head minus `max_delay`,
  or the wall-clock head when nothing arrives): lines at or before F are settled, a line arriving later at or
  before F is late (counted, not matched);
- **pending lines**: the key's step lines after F, sorted by (event time, arrival seq). A line that arrives out
  of order is put where it belongs, so every line is matched in event-time order;
- **tentative runs and completions** (sequences without a trailing absent step): the final runs carried through
  the pending lines, so a sequence completes in the batch of its last line, not `max_delay` later. A line
  arriving out of order makes the key recompute them from the final runs (a completion that no longer holds is
  withdrawn from the count; an alert it already fired stays fired).

A run starts at every line of the first step; a line moves each run by at most one step (`count` lines of a
step before the next one). A run that cannot finish within `within` of its first line is dropped. Of the runs in
the same position, only the youngest is kept (it can finish whenever an older one could, and later). A completed
sequence drops every run that started at or before its last line (SQL's AFTER MATCH SKIP PAST LAST ROW), and that
line starts no run. Absent steps in the middle (`A, not B, C`) end a run that sees them before the next positive
step is complete; trailing absent steps make the sequence complete at first line + `within` when none of them
came by then — decided at the final point, so a late line within `max_delay` still counts.

Completions are events at an event time (the last line's, or the deadline of a trailing absence); `values`
gives each key's completions in `(head - window, head]`, and at least one for a completion just found (so an
alert fires even when it is found after its window). Bounds: `max_runs` runs per key (beyond, new ones are not
started; counted), `max_keys` keys (the least recently active evicted; counted), `MAX_PENDING` pending lines per
key (beyond, the oldest are settled early), `MAX_COMPLETIONS` completion times per key, `samples` lines per run.
"""

from __future__ import annotations

import heapq
from bisect import bisect_right, insort
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

Pos = tuple[int, int]  # (event time in µs, arrival seq): the order lines are matched in
Evidence = tuple[Any, ...]  # what an alert shows of a line: log_id, service, host, level, message
Line = tuple[int, int, int, Evidence]  # ts µs, seq, the steps it matches as bits, evidence
Taken = tuple[int, int, Evidence]  # a line a run took: step index, ts µs, evidence

MAX_PENDING = 1024  # pending lines per key; beyond, the oldest are settled early (a line older is then late)
MAX_COMPLETIONS = 1000  # completion times kept per key (the alert's value saturates there)


@dataclass(frozen=True, slots=True)
class Pattern:
    """A sequence compiled for matching; steps are referred to by their index in the rule."""

    names: tuple[str, ...]  # every step's name
    positives: tuple[int, ...]  # the positive steps, in order
    counts: tuple[int, ...]  # lines each positive step takes
    guards: tuple[int, ...]  # per positive step: bits of the absent steps just before it
    trailing: int  # bits of the absent steps after the last positive step
    within_us: int
    max_runs: int
    samples: int

    @classmethod
    def build(cls, steps: Sequence[tuple[str, int, bool]], *, within_us: int, max_runs: int, samples: int) -> Pattern:
        """From (name, count, absent) per step; the first step must be positive."""
        positives: list[int] = []
        counts: list[int] = []
        guards: list[int] = []
        waiting = 0  # absent steps seen since the last positive one
        for index, (_, count, absent) in enumerate(steps):
            if absent:
                if not positives:
                    raise ValueError("the first step cannot be absent")
                waiting |= 1 << index
                continue
            positives.append(index)
            counts.append(count)
            guards.append(waiting)
            waiting = 0
        return cls(
            names=tuple(name for name, _, _ in steps),
            positives=tuple(positives),
            counts=tuple(counts),
            guards=tuple(guards),
            trailing=waiting,
            within_us=within_us,
            max_runs=max_runs,
            samples=samples,
        )

    @property
    def ends_absent(self) -> bool:
        return self.trailing != 0


@dataclass(slots=True)
class Run:
    """A partial sequence: `step` indexes `Pattern.positives` (== their number: every positive step done,
    waiting out the trailing absent ones), `n` lines taken for it so far."""

    start: Pos
    step: int
    n: int
    last: Pos  # the last line taken
    taken: list[Taken]

    def copy(self) -> Run:
        return Run(self.start, self.step, self.n, self.last, list(self.taken))

    def to_json(self) -> list[Any]:
        return [*self.start, self.step, self.n, *self.last, self.taken]  # orjson writes the tuples as arrays

    @classmethod
    def from_json(cls, data: list[Any]) -> Run:
        start_ts, start_seq, step, n, last_ts, last_seq, taken = data
        return cls(
            (int(start_ts), int(start_seq)),
            int(step),
            int(n),
            (int(last_ts), int(last_seq)),
            [(int(s), int(t), tuple(e)) for s, t, e in taken],
        )


@dataclass(frozen=True, slots=True)
class Completion:
    """A completed sequence: its event time, identity (the completing line, or the run's first line for a
    trailing absence) and the lines it took."""

    at_us: int
    ident: Pos
    taken: tuple[Taken, ...]

    def to_json(self) -> list[Any]:
        return [self.at_us, *self.ident, self.taken]

    @classmethod
    def from_json(cls, data: list[Any]) -> Completion:
        at_us, ident_ts, ident_seq, taken = data
        return cls(int(at_us), (int(ident_ts), int(ident_seq)), tuple((int(s), int(t), tuple(e)) for s, t, e in taken))


def _line_json(line: Line) -> Line:
    return line  # a tuple of numbers and a tuple: orjson writes it as nested arrays


def _line_from_json(data: list[Any]) -> Line:
    return (int(data[0]), int(data[1]), int(data[2]), tuple(data[3]))


def _pos(line: Line) -> Pos:
    return (line[0], line[1])


@dataclass(slots=True)
class KeyState:
    """One key's matching state (see the module docstring)."""

    runs: list[Run] = field(default_factory=list)  # final runs, by start
    pending: list[Line] = field(default_factory=list)  # lines after the final point, by position
    floor: Pos | None = None  # lines at or before this were settled early (MAX_PENDING)
    t_runs: list[Run] | None = None  # tentative runs after the pending lines (None: to recompute)
    t_done: list[Completion] = field(default_factory=list)  # tentative completions among the pending lines
    due_pushed: int | None = None  # the due time of this key's newest entry in the matcher's heap

    def due(self, within_us: int) -> int | None:
        """When this key next has work at the final point: its first pending line, its first run's deadline."""
        times = [self.pending[0][0]] if self.pending else []
        if self.runs:
            times.append(self.runs[0].start[0] + within_us)
        return min(times) if times else None


@dataclass(slots=True)
class DoneLog:
    """A key's final completions: their event times (for the window) and the newest one (for evidence)."""

    times: list[int]
    newest: Completion


class SequenceMatcher:
    """Every key's runs of one rule (see the module docstring). Not thread-safe: the engine's thread only."""

    def __init__(self, pattern: Pattern, *, max_keys: int) -> None:
        self.pattern = pattern
        self.max_keys = max_keys
        self.keys: OrderedDict[str, KeyState] = OrderedDict()  # least recently active first
        self.done: OrderedDict[str, DoneLog] = OrderedDict()
        self.final_us: int | None = None
        self.late_lines = 0
        self.evicted_keys = 0
        self.dropped_runs = 0
        self._heap: list[tuple[int, str]] = []
        self._dirty: set[str] = set()  # keys whose tentative runs are to be recomputed
        self._tentative: set[str] = set()  # keys with tentative completions
        self._fresh: set[str] = set()  # keys with a completion not reported yet
        self._position: int = 0  # arrival order for lines without a seq column

    # --- lines in --------------------------------------------------------------------------------

    def next_seq(self) -> int:
        """An arrival number for a line without a `seq` (checkpointed, so replays number lines alike)."""
        self._position += 1
        return self._position

    def add(self, key: str, line: Line) -> None:
        """Take one step line (lines of a batch in (ts, seq) order)."""
        ts = line[0]
        if self.final_us is not None and ts <= self.final_us:
            self.late_lines += 1
            return
        st = self.keys.get(key)
        if st is None:
            st = self.keys[key] = KeyState(t_runs=None if self.pattern.ends_absent else [])
            while len(self.keys) > self.max_keys:
                old, _ = self.keys.popitem(last=False)
                self._forget(old)
                self.evicted_keys += 1
        else:
            self.keys.move_to_end(key)
        pos = _pos(line)
        if st.floor is not None and pos <= st.floor:
            self.late_lines += 1
            return
        pending = st.pending
        if not pending or pos > _pos(pending[-1]):
            pending.append(line)
            if st.t_runs is not None:
                if st.t_runs is st.runs:
                    st.t_runs = [r.copy() for r in st.runs]  # copy on write: the final runs stay as they are
                found: list[Completion] = []
                st.t_runs = self._feed(st.t_runs, line, found, count=True)
                if found:
                    st.t_done.extend(found)
                    self._tentative.add(key)
                    self._fresh.add(key)
            if len(pending) == 1:
                self._schedule(key, st)
        else:
            insort(pending, line, key=_pos)
            if not self.pattern.ends_absent:
                st.t_runs = None
                self._dirty.add(key)
            self._schedule(key, st)
        if len(pending) > MAX_PENDING:
            upto = _pos(st.pending[len(st.pending) - MAX_PENDING // 2 - 1])
            self._settle(key, st, upto, None)
            st.floor = upto

    # --- the final point -------------------------------------------------------------------------

    def advance(self, final_us: int) -> None:
        """Move the final point to `final_us` (never back): settle every line and deadline at or before it, then
        recompute the tentative runs of keys that got a line out of order."""
        if self.final_us is not None and final_us <= self.final_us:
            final_us = self.final_us
        self.final_us = final_us
        upto = (final_us, 1 << 63)  # after every seq (an int64)
        while self._heap and self._heap[0][0] <= final_us:
            due, key = heapq.heappop(self._heap)
            st = self.keys.get(key)
            if st is None or st.due_pushed != due:
                continue  # superseded, or the key is gone
            st.due_pushed = None
            self._settle(key, st, upto, final_us)
            if st.runs or st.pending or st.t_done:
                self._schedule(key, st)
            else:
                del self.keys[key]
                self._forget(key)
        for key in sorted(self._dirty):
            st = self.keys.get(key)
            if st is not None:
                self._recompute(key, st)
        self._dirty.clear()

    def _schedule(self, key: str, st: KeyState) -> None:
        due = st.due(self.pattern.within_us)
        if due is not None and (st.due_pushed is None or due < st.due_pushed):
            st.due_pushed = due
            heapq.heappush(self._heap, (due, key))

    def _settle(self, key: str, st: KeyState, upto: Pos, final_us: int | None) -> None:
        """Match the pending lines at or before `upto` into the final runs (and, at the final point, fire the
        trailing absences and drop the runs whose time is up)."""
        cut = bisect_right(st.pending, upto, key=_pos)
        found: list[Completion] = []
        if st.t_runs is not None and cut == len(st.pending):
            # Every pending line settles and the tentative runs are current: they are the final runs now.
            found, st.t_done = st.t_done, []
            self._tentative.discard(key)
            st.runs = st.t_runs
            st.pending = []
            if final_us is not None:
                st.runs = self._expire(st.runs, final_us, found, inclusive=True)
            st.t_runs = st.runs
            for c in found:
                self._record(key, c, fresh=False)  # reported when found
            return
        absent = self.pattern.ends_absent  # counted here only where no tentative reading counted them
        for line in st.pending[:cut]:
            st.runs = self._expire(st.runs, line[0], found, inclusive=False)
            st.runs = self._feed(st.runs, line, found, count=absent)
        del st.pending[:cut]
        if final_us is not None:
            st.runs = self._expire(st.runs, final_us, found, inclusive=True)
        if found:
            known = {c.ident for c in st.t_done}
            for c in found:
                self._record(key, c, fresh=c.ident not in known)
        if st.t_done:
            st.t_done = [c for c in st.t_done if c.ident > upto]
            if not st.t_done:
                self._tentative.discard(key)

    def _recompute(self, key: str, st: KeyState) -> None:
        runs = [r.copy() for r in st.runs]
        found: list[Completion] = []
        for line in st.pending:
            runs = self._feed(runs, line, found, count=False)
        known = {c.ident for c in st.t_done}
        if any(c.ident not in known for c in found):
            self._fresh.add(key)
        st.t_runs, st.t_done = runs, found
        if found:
            self._tentative.add(key)
        else:
            self._tentative.discard(key)

    def _record(self, key: str, c: Completion, *, fresh: bool) -> None:
        log = self.done.get(key)
        if log is None:
            self.done[key] = DoneLog([c.at_us], c)
            while len(self.done) > self.max_keys:
                old, _ = self.done.popitem(last=False)
                self._fresh.discard(old)
                self.evicted_keys += 1
        else:
            self.done.move_to_end(key)
            log.times.append(c.at_us)
            if len(log.times) > MAX_COMPLETIONS:
                del log.times[0]
            if c.at_us >= log.newest.at_us:
                log.newest = c
        if fresh:
            self._fresh.add(key)

    def _forget(self, key: str) -> None:
        self._dirty.discard(key)
        self._tentative.discard(key)

    # --- matching ---------------------------------------------------------------------------------

    def _take(self, run: Run, step: int, line: Line) -> None:
        run.n += 1
        run.last = _pos(line)
        if self.pattern.samples:
            run.taken.append((step, line[0], line[3]))
            if len(run.taken) > self.pattern.samples:
                del run.taken[0]

    def _advance(self, run: Run) -> bool:
        """Move a run past a step it has enough lines of; True when that completes the sequence."""
        p = self.pattern
        if run.n < p.counts[run.step]:
            return False
        run.step += 1
        run.n = 0
        return run.step == len(p.positives) and not p.trailing

    def _feed(self, runs: list[Run], line: Line, out: list[Completion], *, count: bool) -> list[Run]:
        """Runs after one line (in position order); a completed sequence goes to `out`; `count`: count the runs
        `max_runs` keeps from starting (once per line: at its first reading)."""
        p = self.pattern
        ts, _, bits, _ = line
        first = p.positives[0]
        if not runs and not bits & (1 << first):
            return runs
        last = len(p.positives)
        kept: list[Run] = []
        for run in runs:
            deadline = run.start[0] + p.within_us
            if run.step == last:  # waiting out the trailing absent steps
                if not (bits & p.trailing and ts <= deadline):
                    kept.append(run)
                continue
            if ts > deadline or bits & p.guards[run.step]:
                continue  # too late to finish, or an absent step came between
            index = p.positives[run.step]
            if bits & (1 << index):
                self._take(run, index, line)
                if self._advance(run):
                    # Skip past the last line: every run started at or before it ends; it starts none.
                    out.append(Completion(ts, _pos(line), tuple(run.taken)))
                    return []
            kept.append(run)
        if bits & (1 << first):
            run = Run(_pos(line), 0, 0, _pos(line), [])
            self._take(run, first, line)
            if self._advance(run):  # only a one-step sequence, which the rule model refuses
                out.append(Completion(ts, _pos(line), tuple(run.taken)))
                return []
            kept.append(run)
        if len(kept) < 2:
            return kept
        return self._bound(kept, count=count)

    def _bound(self, runs: list[Run], *, count: bool) -> list[Run]:
        """One run per position (the youngest), at most `max_runs` (the newest beyond it not started: older runs
        are further along and finish or expire first)."""
        p = self.pattern
        last = len(p.positives)
        seen: set[tuple[int, int]] = set()
        out: list[Run] = []
        for run in reversed(runs):
            if run.step < last:
                state = (run.step, run.n)
                if state in seen:
                    continue
                seen.add(state)
            out.append(run)
        out.reverse()
        excess = len(out) - p.max_runs
        if excess > 0:
            if count:
                self.dropped_runs += excess
            out = out[: p.max_runs]
        return out

    def _expire(self, runs: list[Run], until_us: int, out: list[Completion], *, inclusive: bool) -> list[Run]:
        """Runs whose deadline is before `until_us` (or at it, `inclusive`): a trailing absence completes, a run
        still missing positive steps is dropped. Runs are by start, so deadlines come in order."""
        p = self.pattern
        last = len(p.positives)
        kept: list[Run] = []
        skip_to: Pos | None = None
        for run in runs:
            if skip_to is not None and run.start <= skip_to:
                continue
            deadline = run.start[0] + p.within_us
            if deadline < until_us or (inclusive and deadline == until_us):
                if run.step == last and p.trailing:
                    out.append(Completion(deadline, run.start, tuple(run.taken)))
                    skip_to = run.last
                    kept = [k for k in kept if k.start > run.last]
                continue
            kept.append(run)
        return kept

    # --- what the alerts see ---------------------------------------------------------------------

    def values(self, at_us: int, window_us: int) -> dict[str, tuple[int, Completion | None]]:
        """Per key: its completions in `(at - window, …]` (at least 1 when one was just found), and — for keys
        with a new completion — the newest completion, whose lines are the alert's evidence."""
        horizon = at_us - window_us
        out: dict[str, tuple[int, Completion | None]] = {}
        for key in list(self.done):
            kept = self.done[key]
            if kept.times and min(kept.times) <= horizon:
                kept.times = [t for t in kept.times if t > horizon]
            if kept.times:
                out[key] = (len(kept.times), None)
            elif key not in self._fresh:
                del self.done[key]
        for key in self._tentative:
            n = sum(1 for c in self.keys[key].t_done if c.at_us > horizon)
            if n:
                out[key] = (out.get(key, (0, None))[0] + n, None)
        for key in self._fresh:
            newest: Completion | None = None
            log = self.done.get(key)
            if log is not None:
                newest = log.newest
                if not log.times:
                    del self.done[key]
            st = self.keys.get(key)
            if st is not None and st.t_done and (newest is None or st.t_done[-1].at_us >= newest.at_us):
                newest = st.t_done[-1]
            if newest is not None:  # else withdrawn (tentative) or forgotten (evicted) since it was found
                out[key] = (max(1, out.get(key, (0, None))[0]), newest)
        self._fresh.clear()
        return out

    @property
    def groups(self) -> int:
        return len(self.keys.keys() | self.done.keys())

    # --- checkpoints ------------------------------------------------------------------------------

    def snapshot(self) -> dict[str, Any]:
        """JSON-able state (tentative runs are recomputed on restore; their completions are kept)."""
        return {
            "final_us": self.final_us,
            "position": self._position,
            "late": self.late_lines,
            "evicted": self.evicted_keys,
            "dropped": self.dropped_runs,
            "keys": [
                [
                    key,
                    list(st.floor) if st.floor is not None else None,
                    [r.to_json() for r in st.runs],
                    [_line_json(line) for line in st.pending],
                    [c.to_json() for c in st.t_done],
                ]
                for key, st in self.keys.items()
            ],
            "done": [[key, log.times, log.newest.to_json()] for key, log in self.done.items()],
        }

    def restore(self, state: dict[str, Any]) -> None:
        final_us = state.get("final_us")
        self.final_us = None if final_us is None else int(final_us)
        self._position = int(state.get("position", 0))
        self.late_lines = int(state.get("late", 0))
        self.evicted_keys = int(state.get("evicted", 0))
        self.dropped_runs = int(state.get("dropped", 0))
        self.keys = OrderedDict()
        self._heap, self._dirty, self._tentative, self._fresh = [], set(), set(), set()
        for key, floor, runs, pending, t_done in state.get("keys", []):
            st = KeyState(
                runs=[Run.from_json(r) for r in runs],
                pending=[_line_from_json(line) for line in pending],
                floor=(int(floor[0]), int(floor[1])) if floor is not None else None,
                t_done=[Completion.from_json(c) for c in t_done],
            )
            self.keys[key] = st
            if not self.pattern.ends_absent:
                self._dirty.add(key)  # tentative runs: recomputed at the next evaluation
            if st.t_done:
                self._tentative.add(key)
            self._schedule(key, st)
        self.done = OrderedDict(
            (key, DoneLog([int(t) for t in times], Completion.from_json(newest)))
            for key, times, newest in state.get("done", [])
        )
