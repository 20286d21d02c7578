"""`sequence`: ordered steps correlated by a key within a time bound, with counts and negation (complex event
processing: `3 × LOGIN_FAILED then LOGIN_OK by user within 5m`, `PAYMENT_STARTED not followed by PAYMENT_DONE
within 2m`).

Per batch, vectorized: the rule's `query` selects lines, each step's filter (compiled once) gives one bit per
line, and the lines that match a step and have every `by` field are sorted by (event time, arrival seq). Python
then runs per such line only: rules/sequence_engine.py matches them per key in event-time order (its docstring
has the semantics: overlapping runs, late lines, negation, bounds).

Each completed sequence is an event: a key's alert fires when one completes (a trailing absence completes at
first line + `within`, decided once `max_delay` has passed, by the wall clock too when nothing arrives), its
value is the number of completions in `window` (default: `within`), and it resolves when `window` passes without
one. Evidence is the completion's lines (the last `samples`), each with its step name.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from typing import Any, Literal

import pyarrow as pa
import pyarrow.compute as pc
from pydantic import Field, ValidationInfo, field_validator, model_validator
from pydantic_core import PydanticCustomError

from logwarden.model.schema import SEQ_COLUMN
from logwarden.model.units import Duration
from logwarden.query.filter import compile_filter
from logwarden.rules.base import BatchCache, GroupRule
from logwarden.rules.model import FIELD_NAME_PATTERN, Rule, RuleSettings, query_checked
from logwarden.rules.sequence_engine import Completion, Pattern, SequenceMatcher
from logwarden.rules.state import Transition, fingerprint

STEP_NAME_PATTERN = r"^[A-Za-z0-9_][A-Za-z0-9_.:-]{0,63}$"
MAX_STEPS = 20
EVIDENCE_MESSAGE_CHARS = 1000  # a matched line's message is kept (in checkpoints too) up to this length
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def _us(value: datetime | timedelta) -> int:
    span = value - _EPOCH if isinstance(value, datetime) else value
    return span // timedelta(microseconds=1)


class SequenceStep(RuleSettings):
    """One step of a sequence."""

    name: str = Field(pattern=STEP_NAME_PATTERN)
    """Name of the step, shown with its lines in the alert's evidence (unique within the rule)."""
    query: str
    """The step's lines among those the rule's `query` selects, in the search language (`event:LOGIN_FAILED`)."""
    count: int = Field(1, ge=1, le=1000)
    """How many lines of this step it takes before the next step (`3`: at least three)."""
    absent: bool = False
    """Negation: in the middle, a line of this step between the steps around it ends the attempt; at the end, the
    sequence completes when `within` passes without one."""

    @field_validator("query")
    @classmethod
    def _query_compiles(cls, value: str) -> str:
        query_checked(compile_filter, value)
        return value

    @model_validator(mode="after")
    def _absent_counts_once(self) -> SequenceStep:
        if self.absent and self.count != 1:
            raise PydanticCustomError("absent_count", "an absent step cannot have a count", {})
        return self


class SequenceRule(Rule):
    """Fires for a key (`by`) when its lines complete the `steps` in order within `within` — `3 × LOGIN_FAILED
    then LOGIN_OK by user within 5m`, or with a last step `absent: true`, `PAYMENT_STARTED not followed by
    PAYMENT_DONE within 2m`. Each completed sequence is an event: the alert fires at once, its value is the
    number of completions in `window` (optional here: default `within`), its evidence the matched lines with
    their step names, and it resolves when `window` passes without a completion."""

    type: Literal["sequence"] = "sequence"
    """`sequence`."""
    by: tuple[str, ...] = ()
    """The correlation key: fields whose values all lines of one sequence share (`[attrs.user]`); they become the
    alert's labels. The same as `group_by` (give one or the other). Lines without a value for one of them are not
    matched."""
    within: Duration = Field(gt=timedelta(0))
    """The time bound of one sequence, from its first line: its positive steps must all come by then (and, for a
    trailing absent step, none of its lines)."""
    steps: tuple[SequenceStep, ...]
    """The steps in order (2 to 20), each with `name` (unique, shown with its lines in the evidence), `query` (its
    lines among the rule's, in the search language), `count` (default 1: lines of it before the next step) and
    `absent` (default false; a negation: in the middle a line of it ends the attempt, at the end the sequence
    completes when `within` passes without one). The first step cannot be absent."""
    max_runs: int = Field(32, ge=1, le=1000)
    """Partial sequences kept per key at once (every line of the first step starts one); beyond, a line starts
    no new one until older ones finish or expire."""
    max_keys: int = Field(100_000, ge=1, le=10_000_000)
    """Keys with partial sequences or recent completions kept at once; beyond, the least recently active key is
    forgotten."""

    @model_validator(mode="before")
    @classmethod
    def _window_defaults_to_within(cls, data: Any) -> Any:
        if isinstance(data, dict) and "window" not in data and "within" in data:
            return {**data, "window": data["within"]}
        return data

    @field_validator("by")
    @classmethod
    def _by_fields(cls, value: tuple[str, ...], info: ValidationInfo) -> tuple[str, ...]:
        for name in value:
            if not re.match(FIELD_NAME_PATTERN, name):
                raise PydanticCustomError("field_name", "'{name}' is not a field name", {"name": name})
        if len(set(value)) != len(value):
            raise PydanticCustomError("field_name", "a field is listed twice", {})
        if value and info.data.get("group_by"):
            raise PydanticCustomError("by_and_group_by", "give `by` or `group_by`, not both", {})
        return value

    @field_validator("steps")
    @classmethod
    def _steps_shape(cls, value: tuple[SequenceStep, ...]) -> tuple[SequenceStep, ...]:
        if not 2 <= len(value) <= MAX_STEPS:
            raise PydanticCustomError(
                "steps", "a sequence has 2 to {most} steps, not {n}", {"most": MAX_STEPS, "n": len(value)}
            )
        if value[0].absent:
            raise PydanticCustomError("steps", "the first step cannot be absent", {})
        names = [s.name for s in value]
        for name in names:
            if names.count(name) > 1:
                raise PydanticCustomError("steps", "step name '{name}' is used twice", {"name": name})
        return value

    @property
    def key_fields(self) -> tuple[str, ...]:
        """The correlation key's fields (`by`, else `group_by`)."""
        return self.by or self.group_by

    def evaluator(self) -> SequenceEvaluator:
        return SequenceEvaluator(self)


class SequenceEvaluator(GroupRule):
    """A `sequence` rule's evaluation (see the module docstring): filters and keys vectorized, matching per step
    line in rules/sequence_engine.py, alerts through the base's `AlertTracker` (value > 0 fires)."""

    def __init__(self, spec: SequenceRule) -> None:
        super().__init__(spec, threshold=0.0)
        self.key_fields = [f for f in spec.key_fields if f != "tenant"]
        self.label_names = ["tenant", *self.key_fields]
        self.step_filters = [compile_filter(step.query) for step in spec.steps]
        self.pattern = Pattern.build(
            [(s.name, s.count, s.absent) for s in spec.steps],
            within_us=_us(spec.within),
            max_runs=spec.max_runs,
            samples=spec.samples,
        )
        self.matcher = SequenceMatcher(self.pattern, max_keys=spec.max_keys)
        self._window_us = _us(spec.window)

    def add(self, matched: pa.Table, keys: pa.Array, shared: BatchCache) -> tuple[pa.Array, pa.Table] | None:
        bits: Any = None
        for index, step in enumerate(self.step_filters):
            # The step's mask over the batch (evaluated once for every rule), restricted to the query's lines.
            step_mask = shared.mask_within(self.filter.text, step)
            part = pc.if_else(step_mask, pa.scalar(1 << index, pa.int64()), pa.scalar(0, pa.int64()))
            bits = part if bits is None else pc.bit_wise_or(bits, part)
        wanted = pc.not_equal(bits, 0)
        if self.key_fields:
            for values in shared.fields(self.filter.text, matched, self.key_fields).values():
                wanted = pc.and_(wanted, pc.is_valid(values))
        if not pc.any(wanted).as_py():
            return None
        # Only the step lines are read further: their evidence columns are taken for them alone.
        matched, bits, keys = matched.filter(wanted), bits.filter(wanted), keys.filter(wanted)
        texts = shared.lines_at(matched, ("log_id", "service", "host", "level", "message"))
        columns: dict[str, Any] = {
            "ts": pc.cast(matched.column("ts"), pa.int64()),
            "bits": bits,
            "key": keys,
        }
        has_seq = SEQ_COLUMN in matched.column_names
        if has_seq:
            columns["seq"] = matched.column(SEQ_COLUMN)
        for name in ("log_id", "service", "host", "level"):
            if name in texts.column_names:
                columns[name] = texts.column(name)
        if "message" in texts.column_names:
            columns["message"] = pc.utf8_slice_codeunits(texts.column("message"), 0, EVIDENCE_MESSAGE_CHARS)
        lines = pa.table(columns)
        order = [("ts", "ascending"), *([("seq", "ascending")] if has_seq else [])]
        lines = lines.take(pc.sort_indices(lines, sort_keys=order))
        n = lines.num_rows

        def column(name: str) -> list[Any]:
            return lines.column(name).to_pylist() if name in lines.column_names else [None] * n

        seqs = column("seq") if has_seq else [self.matcher.next_seq() for _ in range(n)]
        evidence = zip(
            column("log_id"), column("service"), column("host"), column("level"), column("message"), strict=True
        )
        add = self.matcher.add
        for key, ts, seq, step_bits, ev in zip(
            column("key"), column("ts"), seqs, column("bits"), evidence, strict=True
        ):
            add(key, (ts, seq, step_bits, ev))
        return None  # evidence is each completion's lines, not the batch's

    def evaluate(self, now: datetime, idle_head: datetime | None = None) -> list[Transition]:
        at = self.head(now, idle_head)
        if at is None:
            return []
        # The final point: lines up to here are all in (the head less `max_delay`, or the clock's idle head).
        newest = self.watermark.head(now)
        points = [newest - self.spec.max_delay if newest is not None else None, idle_head]
        self.matcher.advance(max(_us(p) for p in points if p is not None))
        values: dict[str, tuple[dict[str, str], float]] = {}
        evidence: dict[str, list[dict[str, Any]]] = {}
        known = self._known
        for key, (count, newest_completion) in self.matcher.values(_us(at), self._window_us).items():
            found = known.get(key)
            if found is None:
                labels = self.labels_of(key)
                found = known[key] = (labels, fingerprint(self.name, labels))
            labels, fp = found
            values[fp] = (labels, float(count))
            if newest_completion is not None:
                evidence[fp] = self.evidence_of(newest_completion)
        if len(known) > 2 * max(len(values), 1024):
            self._known = {}  # a cache of labels and fingerprints, rebuilt when it outgrows the keys
        return self.tracker.update(at, values, evidence)

    def evidence_of(self, completion: Completion) -> list[dict[str, Any]]:
        """A completion's lines as alert evidence, oldest first, each with its step's name."""
        names = self.pattern.names
        return [
            {
                "step": names[step],
                "log_id": ev[0],
                "ts": (_EPOCH + timedelta(microseconds=ts)).isoformat(),
                "service": ev[1],
                "host": ev[2],
                "level": ev[3],
                "message": ev[4],
            }
            for step, ts, ev in completion.taken
        ]

    def values(self, at: datetime) -> dict[str, float]:
        """Completions per key in the window at `at` (evaluate() does this with evidence; this reports them)."""
        return {key: float(n) for key, (n, _) in self.matcher.values(_us(at), self._window_us).items()}

    def window_snapshot(self) -> Any:
        return self.matcher.snapshot()

    def window_restore(self, state: Any) -> None:
        self.matcher.restore(state)

    @property
    def late_lines(self) -> int:
        return self.matcher.late_lines

    @property
    def groups(self) -> int:
        return self.matcher.groups

    @property
    def evicted_keys(self) -> int:
        """Keys forgotten because `max_keys` were held (their partial sequences with them)."""
        return self.matcher.evicted_keys

    @property
    def dropped_runs(self) -> int:
        """Partial sequences dropped because `max_runs` were held for their key."""
        return self.matcher.dropped_runs
