"""Stored lines for rules, read through the Store protocol (store/base.py): the rules' `HistoryReader`
(rules/base.py) and the line source of backtests (rules/backtest.py).

Lines come back one tenant at a time in event-time order, a bounded page at a time. Each page is one
`SearchPlan` of that tenant over a time chunk, sorted by `ts` ascending, at most `page_lines` lines:

- a page with fewer lines than the limit is the whole chunk: every line of it is final, the next chunk starts
  at the chunk's end (and is twice as long: sparse data takes few queries);
- a full page is final only before its last `ts`: lines at that instant may go on in the next page, so the
  next chunk starts at that instant (inclusive) and none of them is lost or read twice. The next chunk is as
  long as this page covered, so each query's count stays about a page;
- a full page that is all one instant (more lines at one microsecond than a page holds) reads that
  microsecond whole in one more query.

Lines of one instant come in arrival order (the store's `seq`). `StoreHistory.scan` (the `HistoryReader`,
called on the engine's thread) runs the async store on the server's event loop, finds the tenants by the
store's partitions (after a flush, so lines just acknowledged count) and merges them by `ts`, holding at most
`max_lines`; `StoreHistory.apages`/`ascan` are the same for code running on the event loop.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Coroutine, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, TypeVar

import pyarrow as pa
import pyarrow.compute as pc

from logwarden.model.schema import CORE_COLUMNS, TS_TYPE
from logwarden.plan.filter import Node
from logwarden.plan.nodes import META_TOTAL, SearchPlan, meta_int
from logwarden.plan.table import SortKey
from logwarden.query.parser import parse_filter
from logwarden.store.base import Store

log = logging.getLogger(__name__)
T = TypeVar("T")

PAGE_LINES = 20_000
MAX_SCAN_LINES = 5_000_000  # what one `scan` holds in memory at most (a warning says when it stops there)
FIRST_CHUNK = timedelta(hours=1)
PAGE_TIMEOUT = 120.0  # seconds one page may take when read from another thread
_ONE_US = timedelta(microseconds=1)
_ORDER = (SortKey("ts", False),)  # then the store's tie-breakers: seq and log_id, descending


def filter_of(query: str) -> Node:
    """The row filter of a rule's query (the search language without pipes)."""
    return parse_filter(query).filter


def history_columns(columns: Sequence[str] | None) -> tuple[str, ...] | None:
    """The store `fields` to read for `columns` (None: every stored column). `ts` and `tenant` always come;
    a field that is not a core column needs the `attrs` JSON, which only whole rows carry."""
    if columns is None:
        return None
    wanted = ["ts", "tenant", *[c for c in columns if c not in ("ts", "tenant")]]
    if any(c not in CORE_COLUMNS or c == "attrs" for c in wanted):
        return None
    return tuple(dict.fromkeys(wanted))


def select_columns(table: pa.Table, columns: Sequence[str] | None) -> pa.Table:
    """`table` cut to `columns` (plus ts and tenant; `attrs` when a non-core field is asked for)."""
    if columns is None:
        return table
    keep = ["ts", "tenant"]
    for name in columns:
        target = name if name in CORE_COLUMNS else "attrs"
        if target not in keep:
            keep.append(target)
    return table.select([c for c in keep if c in table.column_names])


@dataclass(slots=True)
class LinePager:
    """The paging of one tenant's matching lines in [start, end) (see the module docstring): `plan()` says
    which query to run next (None when done), `take(answer)` returns the lines of it that are final, in
    (ts, arrival) order."""

    tenant: str
    start: datetime
    end: datetime
    filter: Node
    fields: tuple[str, ...] = ()
    page_lines: int = PAGE_LINES
    cursor: datetime = field(init=False)
    span: timedelta = FIRST_CHUNK
    _instant: tuple[datetime, int] | None = None  # one microsecond to read whole: (its time, its line count)
    _pending: SearchPlan | None = None

    def __post_init__(self) -> None:
        self.cursor = self.start

    @property
    def done(self) -> bool:
        return self.cursor >= self.end and self._instant is None

    def plan(self) -> SearchPlan | None:
        if self._instant is not None:
            at, total = self._instant
            plan = SearchPlan(self.tenant, at, at + _ONE_US, self.filter, total + 1, _ORDER, self.fields)
        elif self.cursor >= self.end:
            return None
        else:
            chunk_end = self.end if self.span >= self.end - self.cursor else self.cursor + self.span
            plan = SearchPlan(self.tenant, self.cursor, chunk_end, self.filter, self.page_lines, _ORDER, self.fields)
        self._pending = plan
        return plan

    def take(self, answer: pa.Table) -> pa.Table:
        plan = self._pending
        assert plan is not None, "take() without plan()"
        self._pending = None
        if answer.num_rows < plan.limit:  # the whole chunk
            if self._instant is not None:
                self._instant = None
                self.cursor = plan.end
            else:
                self.cursor = plan.end
                self.span = min(self.span * 2, self.end - self.start)
            return _arrival_order(answer)
        ts = answer.column("ts")
        first, last = ts[0].as_py(), ts[-1].as_py()
        if first == last:
            # More lines at one microsecond than a page: read that instant whole next (its count is known).
            self._instant = (last, max(meta_int(answer, META_TOTAL), answer.num_rows))
            if self._instant[1] < plan.limit:  # cannot happen with a store that counts right; stay finite
                self._instant = (last, plan.limit * 2)
            return answer.slice(0, 0)
        self.span = max(last - self.cursor, timedelta(seconds=1))
        self.cursor = last
        keep = pc.less(ts, pa.scalar(last, ts.type))
        return _arrival_order(answer.filter(keep))


def _arrival_order(table: pa.Table) -> pa.Table:
    """The store's page (ts ascending, then newest arrival first) with each instant's lines oldest first: the
    reversed page (ts descending, oldest first) sorted by ts, stably."""
    if table.num_rows <= 1:
        return _typed(table)
    reversed_ = table.take(pa.array(range(table.num_rows - 1, -1, -1), pa.int64()))
    order = pc.sort_indices(reversed_, sort_keys=[("ts", "ascending")])
    return _typed(reversed_.take(order))


def _typed(table: pa.Table) -> pa.Table:
    """`ts` as the core schema's type (backends may answer with another time zone name)."""
    if table.num_rows == 0 or "ts" not in table.column_names:
        return table
    ts = table.column("ts")
    if ts.type == TS_TYPE:
        return table
    return table.set_column(table.column_names.index("ts"), "ts", pc.cast(ts, TS_TYPE))


class StoreHistory:
    """Stored lines read through a `Store` whose coroutines run on `loop` (the server's event loop).

    `scan` is the rules' HistoryReader: every tenant's lines (or `tenant`'s only), from any thread but the
    loop's. `pages`/`apages` page one tenant's lines, from another thread or on the loop.
    """

    def __init__(
        self,
        store: Store,
        loop: asyncio.AbstractEventLoop,
        *,
        tenant: str | None = None,
        page_lines: int = PAGE_LINES,
        max_lines: int = MAX_SCAN_LINES,
    ) -> None:
        self.store = store
        self.loop = loop
        self.tenant = tenant
        self.page_lines = page_lines
        self.max_lines = max_lines
        self.capped = False  # the last scan stopped at max_lines

    def tenants(self, start: datetime, end: datetime) -> list[str]:
        """Tenants with stored lines that may lie in [start, end) (by partition day; lines still on their way
        into the store's own storage have no partition yet: `scan` flushes first)."""
        if self.tenant is not None:
            return [self.tenant]
        hot, archived = self.store.partitions()
        first, last = start.date(), end.date()
        return sorted({k.tenant for k in (*hot, *archived) if first <= k.day <= last})

    # --- from another thread ---------------------------------------------------------------------

    def scan(
        self, query: str, start: datetime, end: datetime, columns: Sequence[str] | None = None
    ) -> Sequence[pa.Table]:
        """The lines matching `query` in [start, end) of every tenant, ordered by ts (tenants merged), at most
        `max_lines` of them (`capped` says whether it stopped there)."""
        self.capped = False
        found: list[pa.Table] = []
        total = 0
        if self.tenant is None:
            self._on_loop(self.store.flush())
        for tenant in self.tenants(start, end):
            for read in self.pages(query, start, end, tenant, columns):
                page = read
                if total + page.num_rows > self.max_lines:
                    page = page.slice(0, self.max_lines - total)
                    self.capped = True
                found.append(page)
                total += page.num_rows
                if self.capped:
                    break
            if self.capped:
                log.warning(
                    "reading history for %r stopped at %d lines (the most one scan holds)", query, self.max_lines
                )
                break
        found = [t for t in found if t.num_rows]
        if len({t.column("tenant")[0].as_py() for t in found}) <= 1:
            return found
        merged = pa.concat_tables(found, promote_options="permissive")
        merged = merged.take(pc.sort_indices(merged, sort_keys=[("ts", "ascending")]))
        return [pa.Table.from_batches([b]) for b in merged.to_batches(max_chunksize=self.page_lines)]

    def pages(
        self,
        query: str | Node,
        start: datetime,
        end: datetime,
        tenant: str | None = None,
        columns: Sequence[str] | None = None,
    ) -> Iterator[pa.Table]:
        """One tenant's matching lines in [start, end), page by page in ts order (never on the loop's thread)."""
        try:
            running = asyncio.get_running_loop()
        except RuntimeError:
            running = None
        if running is self.loop:
            raise RuntimeError("StoreHistory.pages blocks: on the event loop use apages")
        pager = self._pager(query, start, end, tenant, columns)
        while (plan := pager.plan()) is not None:
            answer = self._on_loop(self.store.execute(plan))
            page = select_columns(pager.take(answer), columns)
            if page.num_rows:
                yield page

    def _on_loop(self, coro: Coroutine[Any, Any, T]) -> T:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(PAGE_TIMEOUT)

    # --- on the event loop -------------------------------------------------------------------------

    async def apages(
        self,
        query: str | Node,
        start: datetime,
        end: datetime,
        tenant: str | None = None,
        columns: Sequence[str] | None = None,
    ) -> AsyncIterator[pa.Table]:
        """`pages` for code running on the event loop."""
        pager = self._pager(query, start, end, tenant, columns)
        while (plan := pager.plan()) is not None:
            page = select_columns(pager.take(await self.store.execute(plan)), columns)
            if page.num_rows:
                yield page

    async def ascan(
        self, query: str, start: datetime, end: datetime, columns: Sequence[str] | None = None
    ) -> list[pa.Table]:
        """`scan` for code running on the event loop (tenants one after another, each in ts order)."""
        found: list[pa.Table] = []
        total = 0
        self.capped = False
        if self.tenant is None:
            await self.store.flush()
        for tenant in self.tenants(start, end):
            async for page in self.apages(query, start, end, tenant, columns):
                if total + page.num_rows > self.max_lines:
                    found.append(page.slice(0, self.max_lines - total))
                    self.capped = True
                    return found
                found.append(page)
                total += page.num_rows
        return found

    def _pager(
        self, query: str | Node, start: datetime, end: datetime, tenant: str | None, columns: Sequence[str] | None
    ) -> LinePager:
        who = tenant or self.tenant
        if who is None:
            raise ValueError("pages() needs a tenant")
        node = filter_of(query) if isinstance(query, str) else query
        return LinePager(who, start, end, node, history_columns(columns) or (), self.page_lines)
