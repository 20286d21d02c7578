"""The pieces every rule-type test drives the rules engine with: a settable clock, lines as the bus hands them
over (normalized, sequenced), batches fed after the engine's cursor, and the alert log read back."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import orjson
import pyarrow as pa

from logwarden.bus.base import BusBatch
from logwarden.ingest.ndjson import decode_json_body
from logwarden.model.normalize import BatchContext, normalize
from logwarden.rules.engine import RulesEngine
from logwarden.store.arrival import with_seq

T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
"""A fixed moment the tests' lines and clocks start from (never today's date)."""


class Clock:
    """A wall clock the test sets."""

    def __init__(self, now: datetime = T0) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


def table_of(records: list[dict[str, Any]], tenant: str = "default") -> pa.Table:
    """JSON records as ingest normalizes them."""
    body = b"\n".join(orjson.dumps(r) for r in records)
    return normalize(decode_json_body(body).records, BatchContext(tenant, "http", T0))


def stored(seq: int, records: list[dict[str, Any]], tenant: str = "default") -> BusBatch:
    """The records as the bus publishes them once stored, as batch `seq`."""
    return BusBatch(seq, with_seq(seq, table_of(records, tenant)))


def feed(e: RulesEngine, clock: Clock, batches: Sequence[tuple[int, float, list[dict[str, Any]]]]) -> None:
    """Handle the batches after the engine's cursor (what the bus replays), the clock at each batch's time
    (seconds after T0)."""
    for seq, seconds, records in batches:
        if e.cursor() is None or seq > e.cursor():  # type: ignore[operator]
            clock.now = T0 + timedelta(seconds=seconds)
            e.handle(stored(seq, records))


def transitions(e: RulesEngine) -> list[tuple[str, str, dict[str, str]]]:
    """The engine's alert log, oldest first: (status, at, labels)."""
    return [(h["status"], h["at"], h["alert"]["labels"]) for h in reversed(e.history())]


def valued_transitions(e: RulesEngine) -> list[tuple[str, str, dict[str, str], float]]:
    """The engine's alert log, oldest first: (status, at, labels, value)."""
    return [(h["status"], h["at"], h["alert"]["labels"], h["alert"]["value"]) for h in reversed(e.history())]


def engine(path: Path, clock: Clock, *specs: Any, commit: timedelta = timedelta(0)) -> RulesEngine:
    """An engine on the state in `path` evaluating `specs` by `clock` only (no idle wait, no ticker)."""
    return RulesEngine(path, specs, clock=clock, idle=timedelta(0), tick=None, commit_interval=commit)


ValuedLog = list[tuple[str, str, dict[str, str], float]]


def restarted(
    path: Path, specs: Sequence[Any], batches: Sequence[tuple[int, float, list[dict[str, Any]]]], split: int,
    commit: timedelta,
) -> tuple[ValuedLog, ValuedLog]:  # fmt: skip
    """(the alert log of one engine fed every batch, that of an engine whose process died after `split` batches
    — no close — and whose successor was replayed what came after the committed cursor)."""
    clock = Clock()
    whole = engine(path / "whole", clock, *specs, commit=commit)
    feed(whole, clock, batches)
    first = engine(path / "split", clock, *specs, commit=commit)
    feed(first, clock, batches[:split])
    # The process dies here (no close); the next one replays what came after the committed cursor.
    second = engine(path / "split", clock, *specs, commit=commit)
    feed(second, clock, batches)
    logs = valued_transitions(whole), valued_transitions(second)
    whole.close()
    second.close()
    return logs
