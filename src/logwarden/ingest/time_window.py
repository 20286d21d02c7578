"""Which event times a line may be stored with: one vectorized rule for every source.

Applied to each batch after its pipelines ran (a `timestamp` parser may have set `ts`), before it is
stored. Relative to the batch's receive time:

- older than the retention of the line's tenant (or of its retention class): **refused** — not stored,
  counted in the answer to the client and in `logwarden_rejected_lines_total{reason="too_old"}`.
  Retention would delete such a line at the next maintenance pass; saying so now is honest. The cutoff
  is the start of the oldest UTC day retention still keeps, the same day boundary maintenance uses.
- more than `ingest.future_grace` ahead: stored as a **dead letter** at its receive time, with the time
  it claimed in `attrs.error` (`reason="future"`): a clock that runs ahead must not hide lines from
  every search of "the last hour", and nothing is lost.

Times outside what the store can hold at all (before year 1, after 9999, numbers that overflow) never get
this far: the timestamp parser treats them like unparseable text (the receive time is used and the
original value stays in attrs; see model/timestamps.py).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

import pyarrow as pa
import pyarrow.compute as pc

from logwarden.model.normalize import attr_column, one_array
from logwarden.model.schema import TS_TYPE

if TYPE_CHECKING:
    from logwarden.config.model import Config

RETENTION_FIELD = "retention_class"  # the attribute the `route` processor sets
ITEM_COLUMN = "__item"  # optional: the position of each record in the request, for per-item answers
TOO_OLD = "too_old"
FUTURE = "future"


@dataclass(frozen=True, slots=True)
class TimeWindow:
    """The retention and future grace that decide which event times a tenant's lines may have."""

    retention_days: int
    future_grace: timedelta
    class_days: Mapping[str, int] = field(default_factory=dict)  # retention class → days

    def cutoff(self, received: datetime, days: int) -> datetime:
        """The oldest time kept: midnight (UTC) of the oldest day retention of `days` keeps."""
        day = (received.astimezone(UTC) - timedelta(days=days)).date()
        return datetime(day.year, day.month, day.day, tzinfo=UTC)


def window_for(config: Config, tenant: str) -> TimeWindow:
    """The window of `tenant` under `config`."""
    return TimeWindow(
        retention_days=config.retention_days_for(tenant),
        future_grace=config.ingest.future_grace,
        class_days=dict(config.store.retention_classes),
    )


@dataclass(slots=True)
class WindowOutcome:
    """A wide batch split by the window: lines to store, future lines as dead letters, refused lines."""

    kept: pa.Table
    future: pa.Table | None = None  # wide dead letters (source dead_letter, ts = receive time)
    refused: int = 0
    oldest_refused: datetime | None = None
    refused_items: list[int] = field(default_factory=list)  # ITEM_COLUMN values of refused lines
    reason: str | None = None  # what the client is told about the refused lines
    line_reason: str | None = None  # the same for one of them (per-item answers)

    @property
    def future_count(self) -> int:
        return 0 if self.future is None else self.future.num_rows


def apply_window(wide: pa.Table, window: TimeWindow, received: datetime) -> WindowOutcome:
    """Split a wide batch (after its pipelines) into kept, future (dead letters) and refused lines."""
    if wide.num_rows == 0:
        return WindowOutcome(wide)
    ts = one_array(wide.column("ts"))
    latest = pa.scalar(received + window.future_grace, TS_TYPE)
    too_new = pc.greater(ts, latest)
    too_old = pc.less(ts, _cutoffs(wide, window, received))
    any_new, any_old = pc.any(too_new).as_py(), pc.any(too_old).as_py()
    if not any_new and not any_old:
        return WindowOutcome(wide)  # the common case: two comparisons, no copies
    outcome = WindowOutcome(wide.filter(pc.invert(pc.or_(too_new, too_old))))
    if any_old:
        old = wide.filter(too_old)
        outcome.refused = old.num_rows
        oldest = pc.min(old.column("ts")).as_py()
        outcome.oldest_refused = oldest
        if ITEM_COLUMN in old.column_names:
            outcome.refused_items = [int(i) for i in old.column(ITEM_COLUMN).to_pylist() if i is not None]
        retention = f"the retention of tenant {received_tenant(wide)!r} ({_days_text(window)})"
        outcome.reason = (
            f"{old.num_rows} line(s) older than {retention} were refused, the oldest at {_iso(oldest)}: "
            "retention would delete them at once"
        )
        outcome.line_reason = f"the timestamp is older than {retention}: retention would delete the line at once"
    if any_new:
        outcome.future = _future_dead_letters(wide.filter(too_new), window.future_grace)
    return outcome


def _cutoffs(wide: pa.Table, window: TimeWindow, received: datetime) -> pa.Scalar | pa.Array:
    """The oldest allowed ts: one scalar, or per row when lines are routed to retention classes."""
    base = pa.scalar(window.cutoff(received, window.retention_days), TS_TYPE)
    column = attr_column(RETENTION_FIELD)
    if not window.class_days or column not in wide.column_names:
        return base
    classes = one_array(wide.column(column))
    if not pa.types.is_string(classes.type):
        return base
    cutoffs: pa.Array = pa.repeat(base, wide.num_rows)
    for name, days in window.class_days.items():
        mask = pc.fill_null(pc.equal(classes, name), False)
        if pc.any(mask).as_py():
            cutoffs = pc.if_else(mask, pa.scalar(window.cutoff(received, days), TS_TYPE), cutoffs)
    return cutoffs


def _future_dead_letters(rows: pa.Table, grace: timedelta) -> pa.Table:
    """Lines stamped too far ahead, as dead letters at their receive time with the claimed time in the reason."""
    n = rows.num_rows
    claimed = pc.cast(rows.column("ts").combine_chunks(), pa.string())
    reasons = pc.binary_join_element_wise(
        "timestamp ",
        claimed,
        f" is more than {_duration_text(grace)} after the time it was received (ingest.future_grace)",
        "",
    )
    columns = {name: rows.column(name).combine_chunks() for name in rows.column_names}
    previous_error = columns.get(attr_column("error"))
    if previous_error is not None and previous_error.null_count < n:
        columns[attr_column("original_error")] = previous_error  # the line's own `error` field, kept
    columns[attr_column("error")] = reasons
    columns[attr_column("original_source")] = columns["source"]
    columns["source"] = pa.repeat(pa.scalar("dead_letter", pa.string()), n)
    columns["ts"] = columns["observed_ts"]
    return pa.table(columns)


def received_tenant(wide: pa.Table) -> str:
    value = wide.column("tenant")[0].as_py() if wide.num_rows else None
    return str(value)


def _days_text(window: TimeWindow) -> str:
    return f"{window.retention_days} day{'s' if window.retention_days != 1 else ''}"


def _duration_text(delta: timedelta) -> str:
    seconds = int(delta.total_seconds())
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds and seconds % size == 0:
            return f"{seconds // size}{unit}"
    return f"{seconds}s"


def _iso(value: object) -> str:
    return value.isoformat().replace("+00:00", "Z") if isinstance(value, datetime) else str(value)
