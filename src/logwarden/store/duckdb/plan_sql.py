"""Plan nodes → DuckDB SQL (sqlglot expressions over the table `logs`): the DuckDB backend's compiler.

The tenant filter is put in every statement here, besides the store reading only the tenant's
partitions. Each SELECT runs over `WITH logs AS (<the store's union of hot partitions, archive files and
in-memory batches>)` (`bind_sql`); DuckDB pushes the WHERE into each branch of the union. User text only
ever becomes a sqlglot Literal or a quoted Identifier, so it cannot change the shape of the SQL.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

import pyarrow as pa
import pyarrow.compute as pc
from sqlglot import exp

from logwarden.model.schema import STORED_COLUMNS
from logwarden.plan import filter as ast
from logwarden.plan.duckdb_filter import (
    UNICODE_MATCH_UDF,
    AttrColumns,
    StoreFields,
    comparison,
    compile_node,
    finite,
    func,
    lit,
    number_lit,
    number_test,
)
from logwarden.plan.errors import QuerySyntaxError
from logwarden.plan.nodes import AggregatePlan, CountPlan, FieldsPlan, HistogramPlan, SearchPlan
from logwarden.plan.rows import ValueResolver, row_conditions, row_fields
from logwarden.plan.table import (
    Agg,
    Fields,
    Limit,
    Pipe,
    Rare,
    RowPipe,
    Sort,
    Stats,
    Timechart,
    Top,
    Where,
    WhereAnd,
    WhereExpr,
    WhereNot,
    WhereOr,
)
from logwarden.store.duckdb.tokens import field_key, may_be_indexed, query_tokens

_QUANTILES = {"p50": 0.5, "p90": 0.9, "p95": 0.95, "p99": 0.99}
# Newest first; lines of one ts in reverse stored order (seq; rows without one, stored before it existed, last).
_HIT_ORDER = (("ts", True), ("seq", True), ("log_id", True))
_MAX_SEQ_RUNS = 16  # a page's keys in more runs than this are fetched with `seq IN (…)` (page_by_keys)


@dataclass(frozen=True, slots=True)
class CompiledSearch:
    """A search's page of hits, its total, and the words the token index may prune by."""

    select: exp.Select
    count: exp.Select
    tokens: tuple[str, ...]
    keys: exp.Select | None = None  # newest-first pages: the page's sort keys, then `page_by_keys(fetch, …)`
    fetch: exp.Select | None = None
    counted: exp.Select | None = None  # common words: the total and the page in one aggregate (`counted_page`)


@dataclass(frozen=True, slots=True)
class CompiledFields:
    """The field summary's sample: the newest `sample` matching lines, every stored column.

    Without words to prune by, `cutoff` (the ts of the sample's oldest line, read from the ts column alone)
    runs first and `since(select, cutoff)` then reads only the blocks from there on: one top-N over every
    column of every match costs seconds at 10M lines, most of it in columns the sample never keeps.
    """

    select: exp.Select
    tokens: tuple[str, ...]
    cutoff: exp.Select | None = None


def since(select: exp.Select, ts: datetime) -> exp.Select:
    """`select` narrowed to lines at or after `ts` (a newest-first top-N keeps its answer when it has enough)."""
    return select.copy().where(exp.GTE(this=exp.column("ts", quoted=True), expression=ts_lit(ts)), copy=False)


@dataclass(frozen=True, slots=True)
class CompiledTable:
    """A table-answering statement, its output columns, and the words the token index may prune by."""

    select: exp.Select
    columns: tuple[str, ...]
    tokens: tuple[str, ...] = ()


def base_where(
    node: ast.Node, tenant: str, start: datetime, end: datetime, attrs: AttrColumns | None = None
) -> exp.Expr:
    """Tenant, time range and the row filter: the WHERE of every statement a query runs.

    With `attrs`, attribute values are read from the columns the store's source adds for them (typed
    attributes); without, from the attrs JSON (what golden files show)."""
    narrow = likely_narrow(node)
    # The split word test (ASCII classes, the Unicode pattern per non-ASCII line in a function) only where few
    # candidate lines are expected: the function compiles its pattern once per vector of such lines, which over a
    # common word in mostly non-ASCII (CJK) logs would cost more than the constant pattern's one compile per table.
    fields = StoreFields(attr_columns=attrs, narrowed=narrow, unicode_udf=narrow)
    tests: list[exp.Expr] = [
        exp.EQ(this=exp.column("tenant", quoted=True), expression=lit(tenant)),
        exp.GTE(this=exp.column("ts", quoted=True), expression=ts_lit(start)),
        exp.LT(this=exp.column("ts", quoted=True), expression=ts_lit(end)),
    ]
    if not isinstance(node, ast.MatchAll):
        tests.append(compile_node(node, fields))
    return exp.and_(*tests, copy=False)  # fresh nodes: sqlglot's default deep copy of each is ~1 ms a query


def rows_where(
    node: ast.Node,
    tenant: str,
    start: datetime,
    end: datetime,
    rows: tuple[RowPipe, ...],
    attrs: AttrColumns | None = None,
) -> tuple[exp.Expr, ValueResolver]:
    """`base_where` and the `where` row pipes; and the fields as the row pipes (extract, json, logfmt) leave them."""
    where = base_where(node, tenant, start, end, attrs)
    conditions = row_conditions(StoreFields(attr_columns=attrs), rows)
    if conditions:
        where = exp.and_(where, *conditions, copy=False)
    return where, row_fields(StoreFields(attr_columns=attrs), rows)


def message_tests(select: exp.Select) -> str:
    """The conjuncts of the statement's row filter over `logs` that read `message` alone, as one SQL predicate
    ("" when there are none), for each day table's branch to apply itself.

    DuckDB does not push a filter holding a non-literal regexp (a term's case-insensitive or word-boundary test)
    through the union of branches: each branch would compute every column, the virtual `log_id` included, of
    every candidate row before the filter dropped nearly all of them. The statement keeps its own filter.
    Only tests DuckDB's scan takes as its own filter are given (no CASE, no Python function: a term's
    word-boundary test): the scan then reads the other columns for the rows that pass alone (a needle's 7 hits
    in 9 candidate blocks: 24 → 15 ms of CPU), where a filter above the scan has every column of every candidate
    row read first.
    """
    for inner in select.find_all(exp.Select):
        source = inner.args.get("from_")
        where = inner.args.get("where")
        if source is None or where is None or not isinstance(source.this, exp.Table) or source.this.name != "logs":
            continue
        tests = [
            test
            for test in _conjuncts(where.this)
            if test.find(exp.Column) is not None
            and not test.find(exp.Subquery, exp.Select)
            and all(column.name == "message" and not column.table for column in test.find_all(exp.Column))
            and _scan_filter(test)
        ]
        return exp.and_(*(t.copy() for t in tests)).sql(dialect="duckdb") if tests else ""
    return ""


def _scan_filter(test: exp.Expr) -> bool:
    """Whether DuckDB's scan can take `test` as its own filter: no CASE and no Python function in it."""
    if test.find(exp.Case) is not None:
        return False
    return not any(f.name.lower() == UNICODE_MATCH_UDF for f in test.find_all(exp.Anonymous))


def _conjuncts(expr: exp.Expr) -> list[exp.Expr]:
    """The parts of an AND (through parentheses), or the expression itself."""
    inner = expr.unnest()
    if isinstance(inner, exp.And):
        return _conjuncts(inner.left) + _conjuncts(inner.right)
    return [inner]


def ts_lit(value: datetime) -> exp.Expr:
    return exp.cast(lit(value.astimezone(UTC).isoformat()), exp.DataType.build("TIMESTAMPTZ"))


def _logs() -> exp.Table:
    return exp.to_table("logs")


def compile_search(plan: SearchPlan, attrs: AttrColumns | None = None) -> CompiledSearch:
    """The page of hits (stored columns, or the `fields` as written) and the count of all matches."""
    where, fields = rows_where(plan.filter, plan.tenant, plan.start, plan.end, plan.rows, attrs)
    order: list[exp.Ordered] = [_ordered(exp.column(c, quoted=True), d) for c, d in _HIT_ORDER]
    if plan.sort:
        order = []
        for key in plan.sort:
            ref = ast.FieldRef.parse(key.name)
            if ref.core:
                order.append(_ordered(exp.column(ref.name, quoted=True), key.descending))
            else:
                # Numbers sort as numbers; text after them, as text.
                order.append(_ordered(fields.number(ref), key.descending))
                order.append(_ordered(fields.text(ref), key.descending))
        # An eval of a constant sorts nothing (and DuckDB refuses a literal in ORDER BY).
        order = [o for o in order if o.this.find(exp.Column) is not None]
        order.extend(_ordered(exp.column(c, quoted=True), d) for c, d in _HIT_ORDER)
    projection: list[exp.Expr] = [exp.column(c, quoted=True) for c in STORED_COLUMNS]
    projection += [exp.alias_(fields.value(ast.FieldRef(n, False)), n, quoted=True) for n in plan.extracted]
    if plan.fields:
        projection = [exp.alias_(fields.value(ast.FieldRef.parse(name)), name, quoted=True) for name in plan.fields]
    select = (
        exp.select(*projection, copy=False)
        .from_(_logs(), copy=False)
        .where(where.copy(), copy=False)
        .order_by(*order, copy=False)
        .limit(plan.limit, copy=False)
    )
    keys = fetch = None
    tokens = required_tokens(plan.filter)
    if not plan.sort and not tokens:
        # The page's sort keys first, then its columns by key: DuckDB's top-N over a union of partitions holds
        # every projected column of every row it reads, so all columns at once need memory in proportion to the
        # rows that match (out of memory at 10M lines); the keys stay small, and the fetch reads only the page's
        # lines. A filter with words reads only the blocks the token index lets through: one statement is
        # cheaper there (a second pass would scan those blocks again).
        keys = (
            exp.select(*(exp.column(c, quoted=True) for c, _ in _HIT_ORDER), copy=False)
            .from_(_logs(), copy=False)
            .where(where.copy(), copy=False)
            .order_by(*(o.copy() for o in order), copy=False)
            .limit(plan.limit, copy=False)
        )
        fetch = exp.select(*(p.copy() for p in projection), copy=False).from_(_logs(), copy=False)
        fetch = fetch.where(exp.EQ(this=exp.column("tenant", quoted=True), expression=lit(plan.tenant)), copy=False)
        fetch = fetch.order_by(*(o.copy() for o in order), copy=False).limit(plan.limit, copy=False)
    counted = None
    if not plan.sort and tokens and not likely_narrow(plan.filter):
        # A common word's matches spread over most blocks: the page (a top-N holding every column of every match)
        # and the total were two passes over them. One aggregate gives both, its memory bounded by the limit
        # (bench/query.py, a phrase over the last hour: 10M lines 245 → 112–133 ms of CPU; 2M, 84 matches, 45–54 →
        # 36–37 ms). The page comes newest first, as arg_max gives its list.
        page = exp.Struct(
            expressions=[
                exp.PropertyEQ(
                    this=exp.Identifier(this=p.alias_or_name, quoted=True),
                    expression=(p.this if isinstance(p, exp.Alias) else p).copy(),
                )
                for p in projection
            ]
        )
        newest: exp.Expr = exp.maybe_parse("{'ts': ts, 'seq': seq}", dialect="duckdb")
        counted = exp.select(
            exp.alias_(exp.Count(this=exp.Star()), "total"),
            exp.alias_(exp.maybe_parse("count(*) FILTER (WHERE seq IS NULL)", dialect="duckdb"), "unsequenced"),
            exp.alias_(exp.Anonymous(this="arg_max", expressions=[page, newest, exp.Literal.number(plan.limit)]), "pg"),
            copy=False,
        ).from_(_logs(), copy=False)
        counted = counted.where(where.copy(), copy=False)
    count = (
        exp.select(exp.alias_(exp.Count(this=exp.Star()), "total"), copy=False)
        .from_(_logs(), copy=False)
        .where(where, copy=False)
    )
    return CompiledSearch(select, count, tokens, keys, fetch, counted)


def counted_page(row: pa.Table) -> tuple[int, pa.Table | None]:
    """The total and the page (its lines, newest first) from a `counted` statement's one row; no page when nothing
    matched, or when a match has no seq (archive files of the old layout): `(ts, seq)` does not order those."""
    total = int(row.column("total")[0].as_py() or 0)
    if total == 0 or row.column("unsequenced")[0].as_py():
        return total, None
    page = row.column("pg").combine_chunks()
    return total, pa.Table.from_struct_array(page.values)


def page_by_keys(fetch: exp.Select, keys: pa.Table) -> exp.Select:
    """The page's lines by their keys (`seq` is unique within a tenant), in the page's order; `ts` bounds let
    the scan skip every block outside the page's time span."""
    ts = keys.column("ts")
    bounds = exp.Between(
        this=exp.column("ts", quoted=True), low=ts_lit(pc.min(ts).as_py()), high=ts_lit(pc.max(ts).as_py())
    )
    # A few sorted runs of consecutive seqs as an OR of BETWEENs, which DuckDB prunes row groups and vectors by:
    # `seq IN (…)` is tested on every row of the ts span (4 spread-out rows: ~15x slower). Past a few runs the OR
    # costs more than it saves (100 spread-out rows: ~1.6x slower than IN), so IN it is there.
    seqs = sorted(keys.column("seq").to_pylist())
    runs: list[list[int]] = []
    for seq in seqs:
        if runs and seq <= runs[-1][1] + 1:
            runs[-1][1] = max(runs[-1][1], seq)
        else:
            runs.append([seq, seq])
    seq_col = exp.column("seq", quoted=True)
    if len(runs) > _MAX_SEQ_RUNS:
        return fetch.copy().where(bounds, exp.In(this=seq_col, expressions=[exp.Literal.number(v) for v in seqs]))
    ranges = [
        exp.Between(this=seq_col.copy(), low=exp.Literal.number(lo), high=exp.Literal.number(hi)) for lo, hi in runs
    ]
    return fetch.copy().where(bounds, exp.paren(exp.or_(*ranges)), copy=False)


def required_tokens(node: ast.Node) -> tuple[str, ...]:
    """Tokens every line matching `node` has in its message (for index pruning; may be empty).

    A word or phrase term requires its tokens; AND requires what any part requires, OR only what every
    branch requires; NOT, wildcards, regexes and field filters require nothing.
    """
    if isinstance(node, ast.Term):
        return () if node.wildcard else tuple(query_tokens(node.text))
    if isinstance(node, ast.Equals) and may_be_indexed(node.field):
        # An exact id (trace_id:<id>, or a field of store.indexed_fields): its text equals the value, as indexed.
        return (field_key(str(node.field), node.value),)
    if isinstance(node, ast.And):
        out: list[str] = []
        for item in node.items:
            out.extend(t for t in required_tokens(item) if t not in out)
        return tuple(out)
    if isinstance(node, ast.Or):
        sets = [required_tokens(item) for item in node.items]
        return tuple(t for t in sets[0] if all(t in other for other in sets[1:])) if sets else ()
    return ()


def likely_narrow(node: ast.Node) -> bool:
    """Whether the token index probably narrows the read to a few blocks: the filter requires a word with a digit
    (an id, a code, a request or error number: rare) or an indexed field's exact value.

    Only the cost of a term's substring test depends on it (`StoreFields.narrowed`): RE2's literal search costs about
    half of ILIKE over a few rowid ranges and ~20% more over whole row groups (a common word's candidate blocks are
    most of the table). Both answer the same.
    """
    return any("=" in t or any(c.isdigit() for c in t) for t in required_tokens(node))


def _ordered(expr: exp.Expr, descending: bool) -> exp.Ordered:
    return exp.Ordered(this=expr, desc=descending, nulls_first=False)


def _group_value(ref: ast.FieldRef, fields: ValueResolver) -> exp.Expr:
    return fields.column(ref.name) if ref.core else fields.text(ref)


def _agg_expr(agg: Agg, fields: ValueResolver) -> exp.Expr:
    ref = agg.field
    if ref is None:
        return exp.Count(this=exp.Star())
    if agg.func == "count":
        return exp.Count(this=_group_value(ref, fields))
    if agg.func == "count_distinct":
        return exp.Count(this=exp.Distinct(expressions=[_group_value(ref, fields)]))
    if ref.core and ref.name in ast.TIME_CORE and agg.func in ("min", "max"):
        value: exp.Expr = fields.column(ref.name)
    else:
        value = finite(fields.number(ref))  # text "NaN"/"inf" is not a number: left out like other text
    if agg.func in _QUANTILES:
        return func("quantile_cont", value, number_lit(_QUANTILES[agg.func]))
    classes: dict[str, type[exp.Func]] = {"avg": exp.Avg, "sum": exp.Sum, "min": exp.Min, "max": exp.Max}
    return classes[agg.func](this=value)


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


def compile_aggregate(plan: AggregatePlan, attrs: AttrColumns | None = None) -> CompiledTable:
    """The aggregation, then the pipes after it in the order written."""
    where, fields = rows_where(plan.filter, plan.tenant, plan.start, plan.end, plan.rows, attrs)
    select, columns, order, row_limit = _aggregate(plan.aggregation, where, plan.span, fields, bool(plan.rows))
    select, columns = _after(select, columns, order, row_limit, plan.pipes, plan.max_rows)
    return CompiledTable(select, tuple(columns), required_tokens(plan.filter))


def _aggregate(
    agg: Stats | Top | Rare | Timechart,
    where: exp.Expr,
    span: float | None,
    fields: ValueResolver,
    extracted: bool = False,
) -> tuple[exp.Select, list[str], list[exp.Ordered], int | None]:
    """The aggregation's SELECT (no ORDER BY/LIMIT yet), its columns, its order and its row limit."""
    if isinstance(agg, Top | Rare):
        names = [str(ref) for ref in agg.fields]
        values = [_group_value(ref, fields) for ref in agg.fields]
        # Lines missing any of the fields are not counted (as a single field's nulls are not).
        not_null = [exp.Not(this=exp.Is(this=v.copy(), expression=exp.Null())) for v in values]
        count = exp.Count(this=exp.Star())
        total: exp.Expr = exp.Sum(this=count.copy())
        if extracted:
            # Extracted values: the null group is dropped after grouping (QUALIFY, which DuckDB does not push
            # below the GROUP BY as it does a WHERE), so each extraction runs once per line, not twice (~3x).
            total = exp.Filter(
                this=total, expression=exp.Where(this=exp.and_(*(n.copy() for n in not_null), copy=False))
            )
        percent = func(
            "round",
            exp.Div(
                this=exp.Mul(this=number_lit(100.0), expression=count.copy()),
                expression=exp.Window(this=total),
            ),
            exp.Literal.number(2),
        )
        select = exp.select(
            *(exp.alias_(v, n, quoted=True) for v, n in zip(values, names, strict=True)),
            exp.alias_(count, "count"),
            exp.alias_(percent, "percent"),
            copy=False,
        ).from_(_logs(), copy=False)
        groups = [exp.Literal.number(i + 1) for i in range(len(names))]
        if extracted:
            # The group expressions, not their aliases: an alias such as "user" may name a DuckDB keyword.
            select = (
                select.where(where, copy=False)
                .group_by(*groups, copy=False)
                .qualify(exp.and_(*(n.copy() for n in not_null), copy=False), copy=False)
            )
        else:
            select = select.where(exp.and_(where, *not_null, copy=False), copy=False).group_by(*groups, copy=False)
        descending = isinstance(agg, Top)
        order = [_ordered(exp.column("count", quoted=True), descending)]
        order += [_ordered(exp.column(n, quoted=True), False) for n in names]
        return select, [*names, "count", "percent"], order, agg.n
    projection: list[exp.Expr] = []
    columns: list[str] = []
    group: list[exp.Expr] = []
    if isinstance(agg, Timechart):
        if span is None:
            raise QuerySyntaxError("a timechart plan needs its span", agg.column)
        projection.append(exp.alias_(bucket_expr(span), "_time", quoted=True))
        columns.append("_time")
        by: tuple[ast.FieldRef, ...] = (agg.by,) if agg.by else ()
    else:
        by = agg.by
    for ref in by:
        name = str(ref)
        if name in columns:
            raise QuerySyntaxError(f"{name!r} appears twice in by", agg.column, name)
        projection.append(exp.alias_(_group_value(ref, fields), name, quoted=True))
        columns.append(name)
    group = [exp.Literal.number(i + 1) for i in range(len(columns))]
    if isinstance(agg, Timechart):
        assert span is not None
        group[0] = bucket_key(span)
    for a in agg.aggs:
        if a.alias in columns:
            raise QuerySyntaxError(f"{a.alias!r} names both a group and an aggregate; rename it with `as`", agg.column)
        projection.append(exp.alias_(_agg_expr(a, fields), a.alias, quoted=True))
        columns.append(a.alias)
    select = exp.select(*projection, copy=False).from_(_logs(), copy=False).where(where, copy=False)
    if group:
        select = select.group_by(*group, copy=False)
    first_agg = exp.column(agg.aggs[0].alias, quoted=True)
    if isinstance(agg, Timechart):
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
    pipes: tuple[Pipe, ...],
    max_rows: int,
) -> tuple[exp.Select, list[str]]:
    """where / sort / limit / fields over an aggregation's output, in the order written.

    A limit is applied lazily: only a `where` or `sort` after it needs a subquery to keep its meaning.
    """
    projection = list(columns)
    for pipe in pipes:
        if isinstance(pipe, Where):
            cond = _where(pipe.expr, columns, pipe.column)
            if limit is not None:
                select, limit = _finish(select, columns, order, limit), None
            select = _wrap(select, columns).where(cond)
        elif isinstance(pipe, Sort):
            for key in pipe.keys:
                _check_column(key.name, columns, pipe.column)
            if limit is not None:
                select, limit = _finish(select, columns, order, limit), None
            order = [_ordered(exp.column(k.name, quoted=True), k.descending) for k in pipe.keys]
        elif isinstance(pipe, Limit):
            limit = pipe.n if limit is None else min(limit, pipe.n)
        elif isinstance(pipe, Fields):
            for name in pipe.names:
                _check_column(name, projection, pipe.column)
            projection = list(pipe.names)
        else:
            raise QuerySyntaxError("only one of stats, top, rare, timechart per query", pipe.column)
    select = _finish(select, columns, order, max_rows if limit is None else limit)
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


def _where(node: WhereExpr, columns: list[str], column: int) -> exp.Expr:
    if isinstance(node, WhereAnd):
        return exp.and_(*(_where(i, columns, column) for i in node.items))
    if isinstance(node, WhereOr):
        return exp.paren(exp.or_(*(_where(i, columns, column) for i in node.items)))
    if isinstance(node, WhereNot):
        return exp.Not(this=exp.paren(_where(node.item, columns, column)))
    _check_column(node.name, columns, column)
    left: exp.Expr = exp.column(node.name, quoted=True)
    if node.value_is_column:
        assert isinstance(node.value, str)
        _check_column(node.value, columns, column)
        right: exp.Expr = exp.column(node.value, quoted=True)
    elif isinstance(node.value, float):
        # Compared as numbers whatever the column holds: text that is not a number never matches.
        return number_test(node.op, exp.TryCast(this=left, to=exp.DataType.build("DOUBLE")), node.value)
    else:
        left = exp.cast(left, exp.DataType.build("VARCHAR"))
        right = lit(node.value)
    return comparison(node.op, left, right)


def bind_sql(from_sql: str, select: exp.Select) -> str:
    """The statement over a store snapshot: its union as the CTE `logs`, then the planned select."""
    inner = from_sql.removesuffix(" AS logs")
    return f"WITH logs AS {inner} {select.sql(dialect='duckdb')}"


def compile_count(plan: CountPlan, attrs: AttrColumns | None = None) -> CompiledTable:
    """Counts per group (names as given, attrs keys allowed), largest first, with `_total` over all groups."""
    where = base_where(plan.filter, plan.tenant, plan.start, plan.end, attrs)
    by, limit = plan.by, plan.limit
    fields = StoreFields(attr_columns=attrs)
    projection: list[exp.Expr] = [
        exp.alias_(_group_value(ast.FieldRef.parse(name), fields), name, quoted=True) for name in by
    ]
    count = exp.Count(this=exp.Star())
    projection.append(exp.alias_(count, "count", quoted=True))
    # The window total is computed before LIMIT, so it counts groups that are cut off too.
    projection.append(exp.alias_(exp.Window(this=exp.Sum(this=count.copy())), "_total", quoted=True))
    select = exp.select(*projection).from_(_logs()).where(where)
    if by:
        select = select.group_by(*(exp.Literal.number(i + 1) for i in range(len(by))))
    select = select.order_by(_ordered(exp.column("count", quoted=True), True)).limit(limit)
    return CompiledTable(select, (*by, "count"), required_tokens(plan.filter))


def compile_histogram(plan: HistogramPlan, attrs: AttrColumns | None = None) -> CompiledTable:
    """Counts per aligned bucket (and per value of `by`), grouped by the bucket number."""
    where = base_where(plan.filter, plan.tenant, plan.start, plan.end, attrs)
    ref = plan.by
    projection = [exp.alias_(bucket_expr(plan.span), "bucket", quoted=True)]
    if ref is not None:
        value = exp.column(ref.name, quoted=True) if ref.core else StoreFields(attr_columns=attrs).text(ref)
        projection.append(exp.alias_(exp.cast(value, exp.DataType.build("VARCHAR")), "value", quoted=True))
    projection.append(exp.alias_(exp.Count(this=exp.Star()), "count", quoted=True))
    groups: list[exp.Expr] = [
        bucket_key(plan.span),
        *(exp.Literal.number(i + 1) for i in range(1, len(projection) - 1)),
    ]
    select = exp.select(*projection).from_(_logs()).where(where).group_by(*groups)
    columns = ("bucket", "value", "count") if ref is not None else ("bucket", "count")
    return CompiledTable(select, columns, required_tokens(plan.filter))


def compile_fields_sample(plan: FieldsPlan, attrs: AttrColumns | None = None) -> CompiledFields:
    """The newest `sample` matching lines, every stored column: what the field summary reads."""
    where = base_where(plan.filter, plan.tenant, plan.start, plan.end, attrs)
    select = (
        exp.select(*(exp.column(c, quoted=True) for c in STORED_COLUMNS))
        .from_(_logs())
        .where(where.copy())
        .order_by(
            exp.Ordered(this=exp.column("ts", quoted=True), desc=True),
            exp.Ordered(this=exp.column("seq", quoted=True), desc=True, nulls_first=False),
        )
        .limit(plan.sample)
    )
    tokens = required_tokens(plan.filter)
    cutoff = None
    if not tokens:
        # As a search page: the token index already narrows a filter with words to few blocks (one statement).
        cutoff = (
            exp.select(exp.column("ts", quoted=True))
            .from_(_logs())
            .where(where)
            .order_by(exp.Ordered(this=exp.column("ts", quoted=True), desc=True))
            .limit(1)
            .offset(plan.sample - 1)
        )
    return CompiledFields(select, tokens, cutoff)


def query_statements(plan: SearchPlan | AggregatePlan) -> tuple[exp.Select, exp.Select | None]:
    """A query plan's main SELECT and, for a search, its count: what golden files and fuzzers inspect."""
    if isinstance(plan, SearchPlan):
        search = compile_search(plan)
        return search.select, search.count
    return compile_aggregate(plan).select, None
