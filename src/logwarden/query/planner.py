"""Query + request → an executable plan: the tenant, the time range to prune partitions with, and SQL.

The tenant filter is injected here (besides the store reading only the tenant's partitions), and the
`_time` clause is intersected with the request's start/end so that the store reads only the partitions
the query can touch. The SQL is a sqlglot `Select` over the table `logs`, which the engine binds to the
store's snapshot of hot partitions, archive files and in-memory batches.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Literal

from sqlglot import exp

from logwarden.model.schema import STORED_COLUMNS
from logwarden.query import ast
from logwarden.query.compiler import (
    StoreFields,
    comparison,
    compile_node,
    func,
    lit,
    number_lit,
)
from logwarden.query.errors import QuerySyntaxError
from logwarden.query.timerange import MIN_TIME, TimeRangeError, parse_time
from logwarden.store.duckdb.tokens import query_tokens

MAX_TABLE_ROWS = 10_000
MAX_BUCKETS = 10_000
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
# Bucket keys are epoch microseconds // span in BIGINT: wider spans are never useful (years 1..9999).
_MAX_SPAN_MICROS = 10_000 * 366 * 86_400 * 1_000_000
_QUANTILES = {"p50": 0.5, "p90": 0.9, "p95": 0.95, "p99": 0.99}
# Newest first; lines of one ts in reverse stored order (seq; rows without one, stored before it existed, last).
_HIT_ORDER = (("ts", True), ("seq", True), ("log_id", True))
# Bucket sizes a timechart or histogram picks from (seconds): round numbers people read easily.
NICE_SPANS = (1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200, 10800, 21600, 43200, 86400, 172800, 604800)


@dataclass(frozen=True, slots=True)
class TimechartFill:
    """How to complete a timechart's table: bucket width, group columns after `_time`, empty values."""

    span: float
    groups: int
    defaults: tuple[int | None, ...]


@dataclass(frozen=True, slots=True)
class Plan:
    """What the engine runs: `select` over `logs` in [start, end) of `tenant`; for hits also `count`."""

    tenant: str
    start: datetime
    end: datetime
    kind: Literal["hits", "table"]
    select: exp.Select
    count: exp.Select | None = None
    columns: tuple[str, ...] = ()
    # Hits with `| fields`: names as written → True when the value is attrs JSON text to decode.
    projected: tuple[tuple[str, bool], ...] = ()
    where: exp.Expr = field(default_factory=exp.true)
    limit: int = 0
    # Words every matching line's message holds whole: the store prunes row groups by them.
    tokens: tuple[str, ...] = ()
    # A timechart's empty buckets to add to the table (None for other tables).
    fill: TimechartFill | None = None

    def sql(self) -> str:
        return self.select.sql(dialect="duckdb")


def resolve_range(query: ast.Query, start: datetime, end: datetime, now: datetime) -> tuple[datetime, datetime]:
    """The request's [start, end) intersected with the query's `_time` clause."""
    if query.time is not None:
        try:
            if query.time.start is not None:
                start = max(start, parse_time(query.time.start, now, default=start, name="_time start"))
            if query.time.end is not None:
                t_end = parse_time(query.time.end, now, default=end, name="_time end")
                if query.time.include_end:
                    t_end += timedelta(microseconds=1)
                end = min(end, t_end)
        except TimeRangeError as exc:
            raise QuerySyntaxError(str(exc), 1, "_time") from None
    return start, end


def base_where(query: ast.Query, tenant: str, start: datetime, end: datetime) -> exp.Expr:
    """Tenant, time range and the row filter: the WHERE of every statement a query runs."""
    fields = StoreFields()
    tests: list[exp.Expr] = [
        exp.EQ(this=exp.column("tenant", quoted=True), expression=lit(tenant)),
        exp.GTE(this=exp.column("ts", quoted=True), expression=ts_lit(start)),
        exp.LT(this=exp.column("ts", quoted=True), expression=ts_lit(end)),
    ]
    if not isinstance(query.filter, ast.MatchAll):
        tests.append(compile_node(query.filter, fields))
    return exp.and_(*tests)


def ts_lit(value: datetime) -> exp.Expr:
    return exp.cast(lit(value.astimezone(UTC).isoformat()), exp.DataType.build("TIMESTAMPTZ"))


def plan(
    query: ast.Query,
    *,
    tenant: str,
    start: datetime,
    end: datetime,
    limit: int = 100,
    now: datetime | None = None,
) -> Plan:
    """Plan a parsed query for one tenant and time range (`limit` caps hits)."""
    now = now or datetime.now(UTC)
    start, end = resolve_range(query, start, end, now)
    where = base_where(query, tenant, start, end)
    agg = query.aggregation
    if agg is None:
        return _hits_plan(query, tenant, start, end, where, limit)
    select, columns, order, row_limit = _aggregate(agg, where, start, end)
    select, columns = _after(select, columns, order, row_limit, query.pipes[1:])
    fill = None
    if isinstance(agg, ast.Timechart) and len(query.pipes) == 1:
        # A chart wants every bucket: the engine adds the empty ones (not after further pipes).
        fill = TimechartFill(
            span=agg.span or pick_span(start, end, 60),
            groups=1 if agg.by else 0,
            defaults=tuple(0 if a.func in ("count", "count_distinct") else None for a in agg.aggs),
        )
    return Plan(
        tenant,
        start,
        end,
        "table",
        select,
        columns=tuple(columns),
        where=where,
        tokens=required_tokens(query.filter),
        fill=fill,
    )


def _logs() -> exp.Table:
    return exp.to_table("logs")


def _hits_plan(query: ast.Query, tenant: str, start: datetime, end: datetime, where: exp.Expr, limit: int) -> Plan:
    fields = StoreFields()
    order: list[exp.Ordered] = [_ordered(exp.column(c, quoted=True), d) for c, d in _HIT_ORDER]
    projection: list[exp.Expr] = [exp.column(c, quoted=True) for c in STORED_COLUMNS]
    projected: tuple[tuple[str, bool], ...] = ()
    for pipe in query.pipes:
        if isinstance(pipe, ast.Limit):
            limit = min(limit, pipe.n)
        elif isinstance(pipe, ast.Sort):
            order = []
            for key in pipe.keys:
                ref = ast.FieldRef.parse(key.name)
                if ref.core:
                    order.append(_ordered(exp.column(ref.name, quoted=True), key.descending))
                else:
                    # Numbers sort as numbers; text after them, as text.
                    order.append(_ordered(fields.number(ref), key.descending))
                    order.append(_ordered(fields.text(ref), key.descending))
            order.extend(_ordered(exp.column(c, quoted=True), d) for c, d in _HIT_ORDER)
        elif isinstance(pipe, ast.Fields):
            projection = []
            names = []
            for name in pipe.names:
                ref = ast.FieldRef.parse(name)
                projection.append(exp.alias_(fields.value(ref), name, quoted=True))
                names.append((name, not ref.core))
            projected = tuple(names)
    select = (
        exp.select(*projection, copy=False)
        .from_(_logs(), copy=False)
        .where(where.copy(), copy=False)
        .order_by(*order, copy=False)
        .limit(limit, copy=False)
    )
    count = (
        exp.select(exp.alias_(exp.Count(this=exp.Star()), "total"), copy=False)
        .from_(_logs(), copy=False)
        .where(where.copy(), copy=False)
    )
    return Plan(
        tenant,
        start,
        end,
        "hits",
        select,
        count,
        projected=projected,
        where=where,
        limit=limit,
        tokens=required_tokens(query.filter),
    )


def required_tokens(node: ast.Node) -> tuple[str, ...]:
    """Tokens every line matching `node` has in its message (for index pruning; may be empty).

    A word or phrase term requires its tokens; AND requires what any part requires, OR only what every
    branch requires; NOT, wildcards, regexes and field filters require nothing.
    """
    if isinstance(node, ast.Term):
        return () if node.wildcard else tuple(query_tokens(node.text))
    if isinstance(node, ast.And):
        out: list[str] = []
        for item in node.items:
            out.extend(t for t in required_tokens(item) if t not in out)
        return tuple(out)
    if isinstance(node, ast.Or):
        sets = [required_tokens(item) for item in node.items]
        return tuple(t for t in sets[0] if all(t in other for other in sets[1:])) if sets else ()
    return ()


def _ordered(expr: exp.Expr, descending: bool) -> exp.Ordered:
    return exp.Ordered(this=expr, desc=descending, nulls_first=False)


def _group_value(ref: ast.FieldRef) -> exp.Expr:
    fields = StoreFields()
    return fields.column(ref.name) if ref.core else fields.text(ref)


def _agg_expr(agg: ast.Agg) -> exp.Expr:
    fields = StoreFields()
    ref = agg.field
    if ref is None:
        return exp.Count(this=exp.Star())
    if agg.func == "count":
        return exp.Count(this=_group_value(ref))
    if agg.func == "count_distinct":
        return exp.Count(this=exp.Distinct(expressions=[_group_value(ref)]))
    if ref.core and ref.name in ast.TIME_CORE and agg.func in ("min", "max"):
        value: exp.Expr = fields.column(ref.name)
    else:
        value = fields.number(ref)
    if agg.func in _QUANTILES:
        return func("quantile_cont", value, number_lit(_QUANTILES[agg.func]))
    classes: dict[str, type[exp.Func]] = {"avg": exp.Avg, "sum": exp.Sum, "min": exp.Min, "max": exp.Max}
    return classes[agg.func](this=value)


def pick_span(start: datetime, end: datetime, buckets: int) -> float:
    """The smallest nice bucket size that covers [start, end) in at most `buckets` buckets."""
    seconds = (end - start).total_seconds()
    for span in NICE_SPANS:
        if seconds / span <= buckets:
            return float(span)
    return float(max(NICE_SPANS) * (int(seconds / buckets / max(NICE_SPANS)) + 1))


def check_span(start: datetime, end: datetime, span: float, column: int = 1, name: str = "span") -> None:
    """Refuse a bucket width that makes too many buckets, or aligns the first bucket before year 1."""
    if (end - start).total_seconds() / span > MAX_BUCKETS:
        raise QuerySyntaxError(
            f"{name}={span:g}s makes more than {MAX_BUCKETS} buckets over this range; use a larger {name}", column
        )
    micros = round(span * 1_000_000)
    if micros > _MAX_SPAN_MICROS:
        raise QuerySyntaxError(f"{name}={span:g}s is wider than 10000 years; use a smaller {name}", column)
    # Buckets align to multiples of the span since 1970 (bucket_key), so a wide one can start before year 1.
    first = (start - _EPOCH) // timedelta(microseconds=1) // micros * micros
    if first < (MIN_TIME - _EPOCH) // timedelta(microseconds=1):
        raise QuerySyntaxError(
            f"{name}={span:g}s aligns the first bucket before year 1; use a smaller {name} or a later start", column
        )


def bucket_key(span: float) -> exp.Expr:
    """The number of the `span`-second bucket of ts (microseconds since the epoch // span): GROUP BY this."""
    micros = round(span * 1_000_000)
    return exp.IntDiv(this=func("epoch_us", exp.column("ts", quoted=True)), expression=exp.Literal.number(micros))


def bucket_expr(span: float) -> exp.Expr:
    """The start of the `span`-second bucket of ts, written over `bucket_key` so that, grouped by the key,
    DuckDB converts once per bucket: ~5x faster on 10M rows than time_bucket (bench/query.py)."""
    micros = round(span * 1_000_000)
    return func(
        "make_timestamptz", exp.Mul(this=exp.Paren(this=bucket_key(span)), expression=exp.Literal.number(micros))
    )


def _aggregate(
    agg: ast.Stats | ast.Top | ast.Rare | ast.Timechart, where: exp.Expr, start: datetime, end: datetime
) -> tuple[exp.Select, list[str], list[exp.Ordered], int | None]:
    """The aggregation's SELECT (no ORDER BY/LIMIT yet), its columns, its order and its row limit."""
    if isinstance(agg, ast.Top | ast.Rare):
        name = str(agg.field)
        value = _group_value(agg.field)
        count = exp.Count(this=exp.Star())
        percent = func(
            "round",
            exp.Div(
                this=exp.Mul(this=number_lit(100.0), expression=count.copy()),
                expression=exp.Window(this=exp.Sum(this=count.copy())),
            ),
            exp.Literal.number(2),
        )
        not_null = exp.Not(this=exp.Is(this=value.copy(), expression=exp.Null()))
        select = (
            exp.select(exp.alias_(value, name, quoted=True), exp.alias_(count, "count"), exp.alias_(percent, "percent"))
            .from_(_logs())
            .where(exp.and_(where.copy(), not_null))
            .group_by(exp.Literal.number(1))
        )
        descending = isinstance(agg, ast.Top)
        order = [_ordered(exp.column("count", quoted=True), descending), _ordered(exp.column(name, quoted=True), False)]
        return select, [name, "count", "percent"], order, agg.n
    projection: list[exp.Expr] = []
    columns: list[str] = []
    group: list[exp.Expr] = []
    if isinstance(agg, ast.Timechart):
        span = agg.span or pick_span(start, end, 60)
        check_span(start, end, span, agg.column)
        projection.append(exp.alias_(bucket_expr(span), "_time", quoted=True))
        columns.append("_time")
        by: tuple[ast.FieldRef, ...] = (agg.by,) if agg.by else ()
    else:
        by = agg.by
    for ref in by:
        name = str(ref)
        if name in columns:
            raise QuerySyntaxError(f"{name!r} appears twice in by", agg.column, name)
        projection.append(exp.alias_(_group_value(ref), name, quoted=True))
        columns.append(name)
    group = [exp.Literal.number(i + 1) for i in range(len(columns))]
    if isinstance(agg, ast.Timechart):
        group[0] = bucket_key(span)
    for a in agg.aggs:
        if a.alias in columns:
            raise QuerySyntaxError(f"{a.alias!r} names both a group and an aggregate; rename it with `as`", agg.column)
        projection.append(exp.alias_(_agg_expr(a), a.alias, quoted=True))
        columns.append(a.alias)
    select = exp.select(*projection, copy=False).from_(_logs(), copy=False).where(where.copy(), copy=False)
    if group:
        select = select.group_by(*group, copy=False)
    first_agg = exp.column(agg.aggs[0].alias, quoted=True)
    if isinstance(agg, ast.Timechart):
        order = [_ordered(exp.column(c, quoted=True), False) for c in columns[: len(group)]]
    else:
        order = [_ordered(first_agg, True)] + [
            _ordered(exp.column(c, quoted=True), False) for c in columns[: len(group)]
        ]
    return select, columns, order, None


def _after(
    select: exp.Select,
    columns: list[str],
    order: list[exp.Ordered],
    limit: int | None,
    pipes: tuple[ast.Pipe, ...],
) -> tuple[exp.Select, list[str]]:
    """where / sort / limit / fields over an aggregation's output, in the order written.

    A limit is applied lazily: only a `where` or `sort` after it needs a subquery to keep its meaning.
    """
    projection = list(columns)
    for pipe in pipes:
        if isinstance(pipe, ast.Where):
            cond = _where(pipe.expr, columns, pipe.column)
            if limit is not None:
                select, limit = _finish(select, columns, order, limit), None
            select = _wrap(select, columns).where(cond)
        elif isinstance(pipe, ast.Sort):
            for key in pipe.keys:
                _check_column(key.name, columns, pipe.column)
            if limit is not None:
                select, limit = _finish(select, columns, order, limit), None
            order = [_ordered(exp.column(k.name, quoted=True), k.descending) for k in pipe.keys]
        elif isinstance(pipe, ast.Limit):
            limit = pipe.n if limit is None else min(limit, pipe.n)
        elif isinstance(pipe, ast.Fields):
            for name in pipe.names:
                _check_column(name, projection, pipe.column)
            projection = list(pipe.names)
        else:
            raise QuerySyntaxError("only one of stats, top, rare, timechart per query", pipe.column)
    select = _finish(select, columns, order, MAX_TABLE_ROWS if limit is None else limit)
    if projection != columns:
        select = _wrap(select, projection).order_by(*[o.copy() for o in order if o.this.name in projection])
    return select, projection


def _finish(select: exp.Select, columns: list[str], order: list[exp.Ordered], limit: int) -> exp.Select:
    """ORDER BY and LIMIT on a select (wrapping it first when it already has them)."""
    if select.args.get("order") or select.args.get("limit"):
        select = _wrap(select, columns)
    return select.order_by(*[o.copy() for o in order], copy=False).limit(limit, copy=False)


def _wrap(select: exp.Select, columns: list[str]) -> exp.Select:
    return exp.select(*(exp.column(c, quoted=True) for c in columns)).from_(select.subquery("_t"))


def _check_column(name: str, columns: list[str], column: int) -> None:
    if name not in columns:
        raise QuerySyntaxError(f"no column {name!r} here; the columns are {', '.join(columns)}", column, name)


def _where(node: ast.WhereExpr, columns: list[str], column: int) -> exp.Expr:
    if isinstance(node, ast.WhereAnd):
        return exp.and_(*(_where(i, columns, column) for i in node.items))
    if isinstance(node, ast.WhereOr):
        return exp.paren(exp.or_(*(_where(i, columns, column) for i in node.items)))
    if isinstance(node, ast.WhereNot):
        return exp.Not(this=exp.paren(_where(node.item, columns, column)))
    _check_column(node.name, columns, column)
    left: exp.Expr = exp.column(node.name, quoted=True)
    if node.value_is_column:
        assert isinstance(node.value, str)
        _check_column(node.value, columns, column)
        right: exp.Expr = exp.column(node.value, quoted=True)
    elif isinstance(node.value, float):
        # Compared as numbers whatever the column holds: text that is not a number never matches.
        left = exp.TryCast(this=left, to=exp.DataType.build("DOUBLE"))
        right = number_lit(node.value)
    else:
        left = exp.cast(left, exp.DataType.build("VARCHAR"))
        right = lit(node.value)
    return comparison(node.op, left, right)


# --- the minimal search and count APIs (store.search / store.count), on the same compiler ---------


def bind_sql(from_sql: str, select: exp.Select) -> str:
    """The statement over a store snapshot: its union as the CTE `logs`, then the planned select."""
    inner = from_sql.removesuffix(" AS logs")
    return f"WITH logs AS {inner} {select.sql(dialect='duckdb')}"


def terms_filter(terms: tuple[str, ...], equals: dict[str, tuple[str, ...]]) -> ast.Node:
    """Every term in the message (literal, case-insensitive) and each core column one of its values."""
    items: list[ast.Node] = [ast.Term(t.lower()) for t in terms]
    for column, values in equals.items():
        ref = ast.FieldRef(column, True)
        alternatives = [ast.Equals(ref, v) for v in values]
        items.append(alternatives[0] if len(alternatives) == 1 else ast.Or(tuple(alternatives)))
    if not items:
        return ast.MatchAll()
    return items[0] if len(items) == 1 else ast.And(tuple(items))


def count_select(where: exp.Expr, by: tuple[str, ...], limit: int) -> exp.Select:
    """Counts per group (names as given, attrs keys allowed), largest first, with `_total` over all groups."""
    projection: list[exp.Expr] = [exp.alias_(_group_value(ast.FieldRef.parse(name)), name, quoted=True) for name in by]
    count = exp.Count(this=exp.Star())
    projection.append(exp.alias_(count, "count", quoted=True))
    # The window total is computed before LIMIT, so it counts groups that are cut off too.
    projection.append(exp.alias_(exp.Window(this=exp.Sum(this=count.copy())), "_total", quoted=True))
    select = exp.select(*projection).from_(_logs()).where(where)
    if by:
        select = select.group_by(*(exp.Literal.number(i + 1) for i in range(len(by))))
    return select.order_by(_ordered(exp.column("count", quoted=True), True)).limit(limit)
