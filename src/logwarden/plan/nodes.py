"""Plan nodes: one frozen dataclass per question the store answers, each over one tenant and [start, end).

A backend's `execute(plan)` answers with an Arrow table whose shape each node documents. Figures that
are not rows (a total, the sample size, the anchor's index) ride in the table's schema metadata under
the `META_*` keys, as ASCII decimal text, so the answer stays one Arrow table.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

import pyarrow as pa

from logwarden.plan.filter import FieldRef, MatchAll, Node
from logwarden.plan.table import Pipe, Rare, RowPipe, SortKey, Stats, Timechart, Top

META_TOTAL = b"logwarden.total"
META_SAMPLED = b"logwarden.sampled"
META_ANCHOR = b"logwarden.anchor_index"
META_TRUNCATED = b"logwarden.truncated"
META_SPANS = b"logwarden.spans"


@dataclass(frozen=True, slots=True)
class SearchPlan:
    """Matching lines, newest first (or by `sort` keys, then newest first), at most `limit`.

    Answer: the stored columns (attrs as JSON text) or, with `fields`, one column per name as written
    (attribute values as JSON text); META_TOTAL holds the number of matching lines.
    """

    tenant: str
    start: datetime
    end: datetime
    filter: Node = field(default_factory=MatchAll)
    limit: int = 100
    sort: tuple[SortKey, ...] = ()
    fields: tuple[str, ...] = ()
    # Row pipes (extract, json, logfmt, where) between the filter and the hits; their fields are
    # extra columns `extracted` (JSON text) when `fields` is empty.
    rows: tuple[RowPipe, ...] = ()
    extracted: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class CountPlan:
    """Matching lines counted per group of `by` (core columns or attrs keys), largest first, `limit` groups.

    Answer: one column per `by` name, then `count`; META_TOTAL holds the count over all groups.
    """

    tenant: str
    start: datetime
    end: datetime
    filter: Node = field(default_factory=MatchAll)
    by: tuple[str, ...] = ()
    limit: int = 1000


@dataclass(frozen=True, slots=True)
class HistogramPlan:
    """Matching lines counted per `span`-second bucket aligned to the Unix epoch (and per `by` value).

    Answer: `bucket` (timestamp, UTC), with `by` a `value` column (text, null when absent), and `count`;
    buckets without lines are absent (the caller zero-fills).
    """

    tenant: str
    start: datetime
    end: datetime
    span: float
    filter: Node = field(default_factory=MatchAll)
    by: FieldRef | None = None


@dataclass(frozen=True, slots=True)
class FieldsPlan:
    """Field summary of the newest `sample` matching lines: core fields, then attribute keys.

    Answer: `name`, `core` (bool), `type`, `count`, `distinct`, `top` (list of {value: text, count}, at
    most `top` entries); META_SAMPLED holds how many lines were summarized.
    """

    tenant: str
    start: datetime
    end: datetime
    filter: Node = field(default_factory=MatchAll)
    sample: int = 10_000
    top: int = 5


@dataclass(frozen=True, slots=True)
class AggregatePlan:
    """stats / top / rare / timechart over matching lines, then the table pipes after it, as written.

    `span` is the timechart's bucket width, resolved by the planner. Answer: the table, at most
    `max_rows` rows when no `limit` pipe says otherwise.
    """

    tenant: str
    start: datetime
    end: datetime
    aggregation: Stats | Top | Rare | Timechart
    filter: Node = field(default_factory=MatchAll)
    pipes: tuple[Pipe, ...] = ()
    span: float | None = None
    max_rows: int = 10_000
    rows: tuple[RowPipe, ...] = ()  # extract / json / logfmt / where on lines, before the aggregation


@dataclass(frozen=True, slots=True)
class ContextPlan:
    """The `before` lines before and `after` lines after the line `log_id`, of its host and service.

    Answer: the stored columns of those lines in stored order (ts, seq, log_id), META_ANCHOR the index
    of the line itself; no rows when no line has this id in the range.
    """

    tenant: str
    start: datetime
    end: datetime
    log_id: str
    before: int = 20
    after: int = 20


@dataclass(frozen=True, slots=True)
class TracePlan:
    """The first `limit` lines with this trace_id, in stored order (ts, seq, log_id).

    Answer: the stored columns; META_TRUNCATED is "1" when the trace has more lines than `limit`.
    """

    tenant: str
    start: datetime
    end: datetime
    trace_id: str
    limit: int = 1000


@dataclass(frozen=True, slots=True)
class TraceSummaryPlan:
    """Per service of a trace: lines, errors (ERROR/FATAL), distinct spans, first and last ts.

    Answer: `service`, `lines`, `errors`, `spans`, `first_ts`, `last_ts`, by first_ts then service
    (nulls last); META_SPANS holds the distinct span count over the whole trace.
    """

    tenant: str
    start: datetime
    end: datetime
    trace_id: str


Plan = SearchPlan | CountPlan | HistogramPlan | FieldsPlan | AggregatePlan | ContextPlan | TracePlan | TraceSummaryPlan


def meta_int(table: pa.Table, key: bytes, default: int = 0) -> int:
    """An integer figure from an answer's schema metadata (see the META_* keys)."""
    raw = (table.schema.metadata or {}).get(key)
    return default if raw is None else int(raw)
