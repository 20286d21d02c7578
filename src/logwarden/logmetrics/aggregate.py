"""One batch of lines into metric points: per definition, a vectorized group-by into 10 s buckets of event time.

The batch is prepared once for every definition (rules/batch.py `BatchCache`): each distinct filter evaluated
once — pyarrow where it can, the rest together with every attribute any definition reads in a single DuckDB
pass (one JSON parse per line). A definition without line pipes then groups its matching lines by tenant,
bucket and labels (and distribution bin) with pyarrow; one with line pipes (`extract`, `json`, `logfmt`,
`eval`, `where`) runs one DuckDB SELECT over its matching lines that extracts and groups. Python sees each
distinct label combination once per batch (the cardinality cap), never a line; the grouped points wait as Arrow
tables (`Pending`) and are merged per series and bucket at commit.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

import numpy as np
import orjson
import pyarrow as pa
import pyarrow.compute as pc
from sqlglot import exp

from logwarden.config.logmetrics import DefinitionError, MetricDefinition
from logwarden.logmetrics.sketch import LOG_GAMMA, MIN_VALUE, ZERO_BIN, bin_sql
from logwarden.model.scratch_db import thread_scratch_connection
from logwarden.plan.duckdb_filter import StoreFields
from logwarden.plan.errors import QuerySyntaxError
from logwarden.plan.filter import FieldRef
from logwarden.plan.rows import row_conditions, row_fields
from logwarden.query import ast
from logwarden.query.filter import RowFilter
from logwarden.query.parser import parse
from logwarden.rules.batch import BatchCache

BUCKET_SECONDS = 10  # the finest tier's width: points are kept per 10 s of event time
OTHER = "other"  # every label's value in the series of lines beyond a metric's cap
BYTES_FIELD = "\x1fbytes"  # the built-in `log_bytes_total`'s value: the message's length in bytes
SEP = "\x1f"
_TABLE = "__lw_metric_batch"
_BUCKET_COLUMN = "__lw_bucket"
_MASK_COLUMN = "__lw_matched"

POINT_SCHEMA = pa.schema(
    [
        ("metric", pa.string()),
        ("tenant", pa.string()),
        ("labels", pa.string()),
        ("ts", pa.int64()),
        ("n", pa.float64()),
        ("total", pa.float64()),
        ("lo", pa.float64()),
        ("hi", pa.float64()),
    ]
)
BIN_SCHEMA = pa.schema(
    [
        ("metric", pa.string()),
        ("tenant", pa.string()),
        ("labels", pa.string()),
        ("ts", pa.int64()),
        ("bin", pa.int16()),
        ("n", pa.int64()),
    ]
)
_POINT_KEYS = ["metric", "tenant", "labels", "ts"]


def builtin_definitions() -> list[MetricDefinition]:
    """The series every tenant has: lines and bytes by service and level."""
    return [
        MetricDefinition(
            name="logs_total",
            labels=["service", "level"],
            max_series=10_000,
            description="Log lines stored, by service and level.",
        ),
        MetricDefinition(
            name="log_bytes_total",
            type="sum",
            field=BYTES_FIELD,
            labels=["service", "level"],
            max_series=10_000,
            description="Bytes of log messages stored (UTF-8), by service and level.",
        ),
    ]


@dataclass
class Pending:
    """Points of the batches handled since the last commit, as grouped tables (`merged` folds them per key)."""

    points: list[pa.Table] = field(default_factory=list)
    bins: list[pa.Table] = field(default_factory=list)
    lines: int = 0

    def __bool__(self) -> bool:
        return bool(self.points)

    def merged(self) -> tuple[pa.Table, pa.Table]:
        """(points, bins), one row per series and bucket (and bin): counts and sums add, min and max combine."""
        points = pa.concat_tables(self.points) if self.points else POINT_SCHEMA.empty_table()
        bins = pa.concat_tables(self.bins) if self.bins else BIN_SCHEMA.empty_table()
        if points.num_rows:
            points = points.group_by(_POINT_KEYS, use_threads=False).aggregate(
                [("n", "sum"), ("total", "sum"), ("lo", "min"), ("hi", "max")]
            )
            points = points.rename_columns([*_POINT_KEYS, "n", "total", "lo", "hi"]).cast(POINT_SCHEMA)
        if bins.num_rows:
            bins = bins.group_by([*_POINT_KEYS, "bin"], use_threads=False).aggregate([("n", "sum")])
            bins = bins.rename_columns([*_POINT_KEYS, "bin", "n"]).cast(BIN_SCHEMA)
        return points, bins


class CompiledMetric:
    """A definition ready for batches: its filter, and for a query with line pipes its grouping SELECT."""

    def __init__(self, definition: MetricDefinition, source: str = "metrics") -> None:
        self.definition = d = definition
        try:
            query = parse(d.query)
        except QuerySyntaxError as exc:
            raise DefinitionError(f"{source}: metric {d.name!r}, field query: {exc}") from None
        if query.time is not None:
            raise DefinitionError(f"{source}: metric {d.name!r}, field query: `_time` has no place in a metric query")
        rows = query.rows
        if len(rows) != len(query.pipes):
            bad = query.pipes[len(rows)]
            raise DefinitionError(
                f"{source}: metric {d.name!r}, field query: only line pipes (extract, json, logfmt, eval, where) may "
                f"follow the filter (column {bad.column})"
            )
        self.filter = RowFilter(d.query, ast.Query(filter=query.filter))
        self.distribution = d.type in ("histogram", "summary")
        self.sql: str | None = None  # set when line pipes need DuckDB
        # `extract` regexes over a batch column, run by pyarrow before the SELECT (see `_with_pipes`).
        self.extractions: list[Extraction] = []
        if rows:
            self.sql = self._pipes_sql(rows, source)
            self.sql, self.extractions = _hoist_regexes(self.sql)
        # The extracted groups whose only other source is a stored attribute (`extract` then the attribute of
        # the same name): when every matching line has them, the attributes are never read — DuckDB gets none.
        self.fallbacks: list[str] = []
        if self.sql is not None and self.extractions:
            found = [m.group(1) for m in _ATTR_FALLBACK.finditer(self.sql)]
            if found and f'"{_ATTRS}"' not in _ATTR_FALLBACK.sub("", self.sql):
                self.fallbacks = found

    def _pipes_sql(self, rows: tuple[ast.RowPipe, ...], source: str) -> str:
        d = self.definition
        base = StoreFields()
        fields = row_fields(base, rows)
        try:
            conditions = [c.sql(dialect="duckdb") for c in row_conditions(base, rows)]
            labels = [
                exp.Coalesce(this=fields.text(FieldRef.parse(name)), expressions=[exp.Literal.string("")]).sql(
                    dialect="duckdb"
                )
                for name in d.labels
            ]
            value = None
            if d.field == BYTES_FIELD:
                value = 'strlen("message")'
            elif d.field is not None:
                value = fields.number(FieldRef.parse(d.field)).sql(dialect="duckdb")
        except QuerySyntaxError as exc:
            raise DefinitionError(f"{source}: metric {d.name!r}, field query: {exc}") from None
        inner = ['"tenant" AS tenant', f"{_BUCKET_COLUMN} AS b"]
        inner += [f"{sql} AS l{i}" for i, sql in enumerate(labels)]
        inner.append(f"CAST({value} AS DOUBLE) AS v" if value is not None else "CAST(1 AS DOUBLE) AS v")
        where = " AND ".join([_MASK_COLUMN, *(f"COALESCE({c}, false)" for c in conditions)])
        group = ["tenant", "b", *(f"l{i}" for i in range(len(labels)))]
        outer = [*group, "count(*) AS n", "sum(v) AS total", "min(v) AS lo", "max(v) AS hi"]
        if self.distribution:
            outer.insert(len(group), f"{bin_sql('v')} AS bin")
            group.append("bin")
        return (
            f"SELECT {', '.join(outer)} FROM (SELECT {', '.join(inner)} FROM {_TABLE} WHERE {where}) "
            f"WHERE v IS NOT NULL AND isfinite(v) GROUP BY {', '.join(group)}"
        )

    @property
    def fields(self) -> list[str]:
        """The stored fields a definition without line pipes reads (for `BatchCache.prepare`)."""
        if self.sql is not None:
            return []
        d = self.definition
        value = [d.field] if d.field is not None and d.field != BYTES_FIELD else []
        return ["tenant", *d.labels, *value]


class BatchAggregator:
    """Definitions applied to batches; `known` holds, per (metric, tenant), the label combinations admitted under
    the cap (restored from the series store at start, so the cap holds across restarts)."""

    def __init__(self, definitions: Sequence[MetricDefinition], known: dict[tuple[str, str], set[str]]) -> None:
        self.metrics = [CompiledMetric(d) for d in definitions]
        self.known = known
        self.over_cap = 0  # label combinations (per batch) counted in the `other` series
        fields: dict[str, None] = {}
        for m in self.metrics:
            fields.update(dict.fromkeys(m.fields))
        self._fields = list(fields)
        self._filters = list({m.filter.text: m.filter for m in self.metrics}.values())

    def observe(self, table: pa.Table, pending: Pending) -> None:
        """Fold one stored batch (core schema, every tenant) into `pending`."""
        if table.num_rows == 0 or not self.metrics:
            return
        if table.num_columns and table.column(0).num_chunks > 1:
            table = table.combine_chunks()
        pending.lines += table.num_rows
        self._extracted: dict[tuple[str, str, str], list[pa.Array]] = {}  # this batch's regex extractions
        cache = BatchCache(table, lean=True)
        cache.prepare(self._filters, self._fields)
        buckets: np.ndarray | None = None
        for metric in self.metrics:
            f = metric.filter
            matched = cache.matched(f.text, lambda t, f=f: f.mask(t))  # type: ignore[misc]
            if matched.num_rows == 0:
                continue
            if buckets is None:
                buckets = _buckets(table.column("ts"))
            if metric.sql is not None:
                grouped = self._with_pipes(metric, cache, matched, buckets)
            else:
                grouped = self._grouped(metric, cache, matched, buckets)
            if grouped.num_rows:
                self._fold(metric, grouped, pending)

    def _grouped(self, metric: CompiledMetric, cache: BatchCache, matched: pa.Table, buckets: np.ndarray) -> pa.Table:
        """Group the matching lines with pyarrow: (tenant, b, l0…, [bin], n, total, lo, hi)."""
        d = metric.definition
        text = metric.filter.text
        values = cache.fields(text, matched, ["tenant", *d.labels])
        rows = cache.rows(matched)
        assert rows is not None, "a lean cache's lines"
        columns: dict[str, pa.Array] = {
            "tenant": values["tenant"],
            "b": pa.array(buckets[rows.to_numpy(zero_copy_only=False)]),
        }
        for i, name in enumerate(d.labels):
            columns[f"l{i}"] = pc.fill_null(values[name], "")
        if d.field is None:
            v = pa.array(np.ones(matched.num_rows))
        elif d.field == BYTES_FIELD:
            message = cache.fields(text, matched, ["message"])["message"]
            v = pc.cast(pc.fill_null(pc.binary_length(message), 0), pa.float64())
        else:
            v = _numbers(cache.fields(text, matched, [d.field])[d.field])
        columns["v"] = v
        grouped = pa.table(columns)
        if d.field is not None and d.field != BYTES_FIELD:
            grouped = grouped.filter(pc.is_finite(grouped.column("v")))
        keys = ["tenant", "b", *(f"l{i}" for i in range(len(d.labels)))]
        if metric.distribution:
            grouped = grouped.append_column("bin", _bins(grouped.column("v").to_numpy(zero_copy_only=False)))
            keys.append("bin")
        out = grouped.group_by(keys, use_threads=False).aggregate(
            [("v", "count"), ("v", "sum"), ("v", "min"), ("v", "max")]
        )
        return out.rename_columns([*keys, "n", "total", "lo", "hi"])

    def _with_pipes(
        self, metric: CompiledMetric, cache: BatchCache, matched: pa.Table, buckets: np.ndarray
    ) -> pa.Table:
        """Run a definition's line pipes and grouping in DuckDB over its matching lines: the batch's columns the
        SELECT reads and a mask, so DuckDB runs the pipes on the matching lines only. Its `extract` regexes run
        first, in pyarrow (RE2 over Arrow strings: several times faster than DuckDB's struct regexp_extract), once
        per distinct regex (and filter, when few lines match) per batch."""
        assert metric.sql is not None
        rows = cache.rows(matched)
        assert rows is not None, "a lean cache's lines"
        index = rows.to_numpy(zero_copy_only=False)
        needed = [c for c in cache.table.column_names if f'"{c}"' in metric.sql]
        # Few matching lines: DuckDB (and the regexes) get just those; many: the whole batch (no copy) and a mask,
        # and each regex runs over the whole column once, shared by every definition that uses it.
        subset = bool(metric.extractions) and 2 * len(index) < cache.table.num_rows
        if subset:
            lines = cache.table.select(needed).take(rows)
            lines = lines.append_column(_BUCKET_COLUMN, pa.array(buckets[index]))
            lines = lines.append_column(_MASK_COLUMN, pa.array(np.ones(len(index), dtype=bool)))
        else:
            mask = np.zeros(cache.table.num_rows, dtype=bool)
            mask[index] = True
            lines = cache.table.select(needed)
            lines = lines.append_column(_BUCKET_COLUMN, pa.array(buckets)).append_column(_MASK_COLUMN, pa.array(mask))
        for extraction in metric.extractions:
            key = (metric.filter.text if subset else "", extraction.column, extraction.pattern)
            found = self._extracted.get(key)
            if found is None:
                text = cache.table.column(extraction.column)
                found = self._extracted[key] = extraction.run(text.take(rows) if subset else text)
            for name, values in zip(extraction.names, found, strict=True):
                lines = lines.append_column(name, values)
        if metric.fallbacks and _ATTRS in needed and _complete(lines, metric.fallbacks):
            # Every matching line has the extracted fields: the attribute fallbacks are dead, skip the JSON.
            lines = lines.set_column(lines.column_names.index(_ATTRS), _ATTRS, pa.nulls(lines.num_rows, pa.string()))
        con = thread_scratch_connection()
        con.register(_TABLE, lines)
        try:
            return con.sql(metric.sql).to_arrow_table()
        finally:
            con.unregister(_TABLE)

    def _fold(self, metric: CompiledMetric, grouped: pa.Table, pending: Pending) -> None:
        """Put each group in its series (the cap decides, per distinct label combination) and keep the points."""
        d = metric.definition
        n_labels = len(d.labels)
        parts = [pc.cast(grouped.column("tenant"), pa.string())]
        parts += [pc.cast(grouped.column(f"l{i}"), pa.string()) for i in range(n_labels)]
        key = parts[0] if n_labels == 0 else pc.binary_join_element_wise(*parts, SEP)
        encoded = pc.dictionary_encode(key)
        if isinstance(encoded, pa.ChunkedArray):
            encoded = encoded.combine_chunks()
        tenants: list[str] = []
        texts: list[str] = []
        for combined in encoded.dictionary.to_pylist():
            tenant, *values = combined.split(SEP) if n_labels else (combined,)
            tenants.append(tenant)
            texts.append(self._admit(d, tenant, values))
        labels = pa.array(texts, pa.string()).take(encoded.indices)
        tenant_column = pa.array(tenants, pa.string()).take(encoded.indices)
        count = grouped.num_rows
        metric_column = pa.repeat(pa.scalar(d.name, pa.string()), count)
        ts = pc.cast(grouped.column("b"), pa.int64())
        n = pc.cast(grouped.column("n"), pa.float64())
        rows = pa.table(
            [
                metric_column,
                tenant_column,
                labels,
                ts,
                n,
                grouped.column("total"),
                grouped.column("lo"),
                grouped.column("hi"),
            ],
            schema=POINT_SCHEMA,
        )
        pending.points.append(rows)
        if metric.distribution:
            pending.bins.append(
                pa.table(
                    [
                        metric_column,
                        tenant_column,
                        labels,
                        ts,
                        pc.cast(grouped.column("bin"), pa.int16()),
                        pc.cast(grouped.column("n"), pa.int64()),
                    ],
                    schema=BIN_SCHEMA,
                )
            )

    def _admit(self, d: MetricDefinition, tenant: str, values: Sequence[str]) -> str:
        """The series (labels as JSON) a label combination counts in: itself while the cap allows, else `other`."""
        text = labels_json(d.labels, values)
        known = self.known.setdefault((d.name, tenant), set())
        if text in known:
            return text
        if len(known) < d.max_series:
            known.add(text)
            return text
        self.over_cap += 1
        return labels_json(d.labels, [OTHER] * len(values))


# What plan/rows.py writes for an `extract` stage over a column: regexp_extract(column, pattern, ['g1', …]).
_REGEX_CALL = re.compile(
    r"""REGEXP_EXTRACT\("([A-Za-z_][A-Za-z0-9_]*)", '((?:[^']|'')*)', \[('g\d+'(?:, 'g\d+')*)\]\)"""
)


@dataclass(frozen=True, slots=True)
class Extraction:
    """One `extract` regex over a batch column, computed with pyarrow into plain string columns `<alias>_g1…gN`
    (what DuckDB's struct regexp_extract would give per group; a line that does not match is null, which the
    SELECT's NULLIF treats as DuckDB's '')."""

    column: str
    pattern: str
    groups: int
    alias: str

    @property
    def names(self) -> list[str]:
        """The columns it adds, one per group."""
        return [f"{self.alias}_g{i}" for i in range(1, self.groups + 1)]

    def run(self, text: pa.Array | pa.ChunkedArray) -> list[pa.Array]:
        """Each group's text per line."""
        if isinstance(text, pa.ChunkedArray):
            text = text.combine_chunks()
        if pa.types.is_dictionary(text.type):
            text = text.dictionary_decode()
        found = pc.extract_regex(text, self.pattern)
        return [pc.struct_field(found, [i]) for i in range(self.groups)]  # null where the line did not match


_ATTRS = "attrs"
# What plan/rows.py writes for a field an `extract` gives, else the stored attribute: NULLIF(group, ''), attr.
_ATTR_FALLBACK = re.compile(r"""NULLIF\("(__lw_re\d+_g\d+)", ''\), "attrs" ->> '(?:[^']|'')*'""")
_GROUP_OF = re.compile(r"""STRUCT_EXTRACT\("(__lw_re\d+)", '(g\d+)'\)""")


def _complete(lines: pa.Table, columns: list[str]) -> bool:
    """Whether every line the mask selects has each extracted column, non-empty."""
    mask = lines.column(_MASK_COLUMN)
    for name in columns:
        values = lines.column(name).filter(mask)
        if values.null_count or pc.any(pc.equal(values, "")).as_py():
            return False
    return True


def _hoist_regexes(sql: str) -> tuple[str, list[Extraction]]:
    """`sql` with each regexp_extract over a column that pyarrow can run (every group named, as many as DuckDB's
    call reads) replaced by the columns of its groups, computed before; the others stay in DuckDB."""
    found: dict[tuple[str, str], Extraction] = {}

    def hoist(m: re.Match[str]) -> str:
        column, pattern, labels = m.group(1), m.group(2).replace("''", "'"), m.group(3)
        groups = labels.count("'g")
        try:
            compiled = re.compile(pattern)
        except re.error:
            return m.group(0)
        if compiled.groups != groups or len(compiled.groupindex) != groups:
            return m.group(0)  # unnamed groups: pyarrow's extract_regex refuses them
        try:
            pc.extract_regex(pa.array([""]), pattern)
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
            return m.group(0)
        key = (column, pattern)
        if key not in found:
            found[key] = Extraction(column, pattern, groups, f"__lw_re{len(found)}")
        return f'"{found[key].alias}"'

    out = _GROUP_OF.sub(lambda m: f'"{m.group(1)}_{m.group(2)}"', _REGEX_CALL.sub(hoist, sql))
    if any(f'"{e.alias}"' in out for e in found.values()):
        return sql, []  # a use of the whole struct this rewrite does not know: DuckDB runs the regexes
    return out, list(found.values())


def _buckets(ts: pa.ChunkedArray | pa.Array) -> np.ndarray:
    """Each line's 10 s bucket start (epoch seconds), floored."""
    micros = pc.cast(ts, pa.int64()).to_numpy()
    found: np.ndarray = np.floor_divide(micros, BUCKET_SECONDS * 1_000_000) * BUCKET_SECONDS
    return found


def _numbers(text: pa.Array) -> pa.Array:
    """Field text as doubles (what is no number: null), like the search language's TRY_CAST."""
    try:
        return pc.cast(text, pa.float64())
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        con = thread_scratch_connection()
        con.register("__lw_metric_values", pa.table({"t": text}))
        try:
            return con.sql("SELECT TRY_CAST(t AS DOUBLE) AS v FROM __lw_metric_values").to_arrow_table()["v"]
        finally:
            con.unregister("__lw_metric_values")


def _bins(values: np.ndarray) -> pa.Array:
    """Each value's sketch bin (logmetrics/sketch.py)."""
    out = np.full(len(values), ZERO_BIN, dtype=np.int16)
    positive = values > MIN_VALUE
    out[positive] = np.ceil(np.log(values[positive]) / LOG_GAMMA).astype(np.int16)
    return pa.array(out)


def labels_json(names: Iterable[str], values: Iterable[str]) -> str:
    """A series' labels as stored: a JSON object in the definition's label order."""
    return orjson.dumps(dict(zip(names, values, strict=True))).decode()
