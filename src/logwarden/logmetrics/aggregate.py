"""One batch of lines into metric points: per definition, a vectorized group-by into 10 s buckets of event time.

The batch is prepared once for every definition (logmetrics/batch.py `MetricBatch`): each distinct filter
evaluated once — pyarrow where it can, the rest together with every attribute any definition reads in a single
DuckDB pass (one JSON parse per line) — and each label field encoded once as integers. A definition without line
pipes then groups its matching lines by tenant, labels and bucket (and distribution bin) as integer keys with
numpy; one with line pipes (`extract`, `json`, `logfmt`, `eval`, `where`) runs one DuckDB SELECT over its
matching lines that extracts and groups. Python sees each distinct series once per definition and batch (the
cardinality cap), never a line; the points wait in `Pending` (logmetrics/pending.py) until the commit.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np
import orjson
import pyarrow as pa
import pyarrow.compute as pc
from sqlglot import exp

from logwarden.config.logmetrics import DefinitionError, MetricDefinition
from logwarden.logmetrics.batch import BUCKET_SECONDS, BYTES_FIELD, Groups, MetricBatch, plain_text, sketch_bins
from logwarden.logmetrics.digits import digits_between, digits_literals
from logwarden.logmetrics.pending import Pending
from logwarden.logmetrics.sketch import bin_sql
from logwarden.model.schema import CORE_COLUMNS
from logwarden.model.scratch_db import thread_scratch_connection
from logwarden.plan.duckdb_filter import StoreFields
from logwarden.plan.errors import QuerySyntaxError
from logwarden.plan.filter import FieldRef
from logwarden.plan.rows import row_conditions, row_fields
from logwarden.plan.table import Extract
from logwarden.query import ast
from logwarden.query.batch_attrs import ATTR_COLUMNS, reads_attributes
from logwarden.query.filter import RowFilter
from logwarden.query.parser import parse

__all__ = ["BUCKET_SECONDS", "BYTES_FIELD", "OTHER", "BatchAggregator", "CompiledMetric", "builtin_definitions"]

OTHER = "other"  # every label's value in the series of lines beyond a metric's cap
SEP = "\x1f"
_TABLE = "__lw_metric_batch"
_BUCKET_COLUMN = "__lw_bucket"
_MASK_COLUMN = "__lw_matched"


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
        # Only `extract` pipes, each run by pyarrow: the fields are read without DuckDB (see `_native`).
        self.native: dict[str, list[tuple[Extraction, int]]] | None = None
        if rows and self.extractions:
            self.native = _native_fields(rows, self.extractions, [*d.labels, *([d.field] if d.field else [])])

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
        """The stored fields a definition without line pipes reads as text (for `MetricBatch.prepare`)."""
        if self.sql is not None:
            return []
        return ["tenant", *self.definition.labels]

    @property
    def values(self) -> list[str]:
        """The stored field a definition without line pipes reads as numbers (for `MetricBatch.prepare`)."""
        d = self.definition
        if self.sql is not None or d.field is None or d.field == BYTES_FIELD:
            return []
        return [d.field]


class BatchAggregator:
    """Definitions applied to batches; `known` holds, per (metric, tenant), the label combinations admitted under
    the cap (restored from the series store at start, so the cap holds across restarts)."""

    def __init__(self, definitions: Sequence[MetricDefinition], known: dict[tuple[str, str], set[str]]) -> None:
        self.metrics = [CompiledMetric(d) for d in definitions]
        self._known = known
        # Per metric, the label values (tenant first) of each series admitted under the cap, and its labels as
        # stored: a series seen before costs one lookup per batch (cleared with `known`).
        self._admitted: dict[str, dict[tuple[str, ...], str]] = {}
        self.over_cap = 0  # label combinations (per batch) counted in the `other` series
        fields: dict[str, None] = {}
        values: dict[str, None] = {}
        for m in self.metrics:
            fields.update(dict.fromkeys(m.fields))
            values.update(dict.fromkeys(m.values))
        self._fields = list(fields)
        self._values = [v for v in values if v not in fields]  # a label's text is read anyway
        self._filters = list({m.filter.text: m.filter for m in self.metrics}.values())
        self._extracted: dict[tuple[str, str, str], list[pa.Array]] = {}
        # Ingest keeps its decoded attribute columns only while someone reads attributes (query/batch_attrs.py):
        # labels, values and filters; an `extract`-only definition's field falls back to the attribute of its
        # name. Definitions with other line pipes read `attrs` in their own SELECT and gain nothing from them.
        read = [*self._fields, *self._values]
        read += [n for m in self.metrics if m.native is not None for n, sources in m.native.items() if sources]
        self.reads_attributes = reads_attributes(self._filters, [n for n in read if n != BYTES_FIELD])
        ATTR_COLUMNS.want(self, self.reads_attributes)

    def close(self) -> None:
        """No longer read batches: ingest stops keeping decoded attribute columns for this aggregator."""
        ATTR_COLUMNS.want(self, False)

    @property
    def known(self) -> dict[tuple[str, str], set[str]]:
        """Per (metric, tenant), the label combinations admitted under the cap."""
        return self._known

    @known.setter
    def known(self, known: dict[tuple[str, str], set[str]]) -> None:
        self._known = known
        self._admitted = {}

    def observe(self, table: pa.Table, pending: Pending) -> None:
        """Fold one stored batch (core schema, every tenant) into `pending`."""
        if table.num_rows == 0 or not self.metrics:
            return
        pending.lines += table.num_rows
        self._extracted = {}  # this batch's regex extractions
        batch = MetricBatch(table)
        batch.prepare(self._filters, self._fields, self._values)
        for metric in self.metrics:
            mask = batch.mask(metric.filter)
            if mask is not None and not mask.any():
                continue
            d = metric.definition
            if metric.native is not None:
                names = self._native(metric, batch, mask)
                value = names[d.field] if d.field is not None else None
                groups = batch.groups(
                    mask,
                    [names[x] for x in d.labels],
                    value,
                    distribution=metric.distribution,
                    selection=metric.filter.text,
                )
            elif metric.sql is not None:
                groups = self._with_pipes(metric, batch, mask)
            else:
                groups = batch.groups(
                    mask, d.labels, d.field, distribution=metric.distribution, selection=metric.filter.text
                )
            if len(groups.n):
                self._fold(metric, groups, pending)

    def _native(self, metric: CompiledMetric, batch: MetricBatch, mask: np.ndarray | None) -> dict[str, str]:
        """The fields of a definition whose pipes are all `extract` (`CompiledMetric.native`), put in `batch` as
        fields of their own: a field is the group of the last `extract` that names it where that is not empty,
        else the stored field of that name (as plan/rows.py compiles it). Returns each field's name in `batch`.
        Each regex runs once per batch (over the matching lines when they are few), shared by every definition
        with the same filter."""
        assert metric.native is not None
        subset = mask is not None and 2 * int(np.count_nonzero(mask)) < batch.num_rows
        out: dict[str, str] = {}
        for name, sources in metric.native.items():
            if not sources:  # a core column: never shadowed
                out[name] = name
                continue
            regexes = "|".join(f"{e.column}\x1e{e.pattern}\x1e{g}" for e, g in sources)
            key = SEP.join(("", metric.filter.text, regexes, name))
            if not batch.has(key):
                parts = []
                for extraction, group in sources:
                    values = self._extract(extraction, metric.filter.text if subset else "", batch, mask)[group - 1]
                    parts.append(pc.if_else(pc.equal(values, ""), pa.scalar(None, pa.string()), values))
                text = parts[0] if len(parts) == 1 else pc.coalesce(*parts)
                missing = pc.is_null(text)
                if mask is not None:
                    missing = pc.and_(missing, pa.array(mask))
                if pc.any(missing).as_py():  # a matching line lacks every group: the stored field shows through
                    text = pc.coalesce(text, batch.text(name))
                batch.put(key, text)
            out[name] = key
        return out

    def _extract(
        self, extraction: Extraction, scope: str, batch: MetricBatch, mask: np.ndarray | None
    ) -> list[pa.Array]:
        """`extraction`'s groups on every line of the batch; `scope` (a filter's text): run on the lines `mask`
        selects only, the others null."""
        found = self._extracted.get((scope, extraction.column, extraction.pattern))
        if found is None:
            text = batch.table.column(extraction.column)
            if not scope:
                found = extraction.run(text, batch)
            else:
                assert mask is not None
                rows = np.flatnonzero(mask)
                where = np.full(batch.num_rows, -1, dtype=np.int64)
                where[rows] = np.arange(len(rows))
                spread = pa.array(where, mask=where < 0)
                found = [values.take(spread) for values in extraction.run(text.take(pa.array(rows)))]
            self._extracted[(scope, extraction.column, extraction.pattern)] = found
        return found

    def _with_pipes(self, metric: CompiledMetric, batch: MetricBatch, mask: np.ndarray | None) -> Groups:
        """Run a definition's line pipes and grouping in DuckDB over its matching lines: the batch's columns the
        SELECT reads and a mask, so DuckDB runs the pipes on the matching lines only. Its `extract` regexes run
        first, in pyarrow (RE2 over Arrow strings: several times faster than DuckDB's struct regexp_extract), once
        per distinct regex (and filter, when few lines match) per batch."""
        assert metric.sql is not None
        table = batch.table
        buckets = batch.buckets[0][batch.buckets[1]]
        needed = [c for c in table.column_names if f'"{c}"' in metric.sql]
        rows = None if mask is None else np.flatnonzero(mask)
        # Few matching lines: DuckDB (and the regexes) get just those; many: the whole batch (no copy) and a mask,
        # and each regex runs over the whole column once, shared by every definition that uses it.
        subset = rows is not None and bool(metric.extractions) and 2 * len(rows) < table.num_rows
        if subset:
            assert rows is not None
            taken = pa.array(rows)
            lines = table.select(needed).take(taken)
            lines = lines.append_column(_BUCKET_COLUMN, pa.array(buckets[rows]))
            lines = lines.append_column(_MASK_COLUMN, pa.array(np.ones(len(rows), dtype=bool)))
        else:
            every = np.ones(table.num_rows, dtype=bool) if mask is None else mask
            lines = table.select(needed)
            lines = lines.append_column(_BUCKET_COLUMN, pa.array(buckets)).append_column(_MASK_COLUMN, pa.array(every))
        for extraction in metric.extractions:
            key = (metric.filter.text if subset else "", extraction.column, extraction.pattern)
            found = self._extracted.get(key)
            if found is None:
                text = table.column(extraction.column)
                found = self._extracted[key] = (
                    extraction.run(text.take(taken), None) if subset else extraction.run(text, batch)
                )
            for name, values in zip(extraction.names, found, strict=True):
                lines = lines.append_column(name, values)
        if metric.fallbacks and _ATTRS in needed and _complete(lines, metric.fallbacks):
            # Every matching line has the extracted fields: the attribute fallbacks are dead, skip the JSON.
            lines = lines.set_column(lines.column_names.index(_ATTRS), _ATTRS, pa.nulls(lines.num_rows, pa.string()))
        con = thread_scratch_connection()
        con.register(_TABLE, lines)
        try:
            grouped = con.sql(metric.sql).to_arrow_table()
        finally:
            con.unregister(_TABLE)
        return _groups_of(grouped, len(metric.definition.labels), metric.distribution)

    def _fold(self, metric: CompiledMetric, groups: Groups, pending: Pending) -> None:
        """Put each group in its series (the cap decides, per distinct label combination) and keep the points."""
        d = metric.definition
        admitted = self._admitted.setdefault(d.name, {})
        series: list[tuple[str, str]] = [("", "")] * len(groups.series)
        new: list[int] = []
        for i, values in enumerate(groups.series):
            text = admitted.get(values)
            if text is None:
                new.append(i)
            else:
                series[i] = (values[0], text)
        if new:
            if groups.first is not None and self._may_reach_cap(d, [groups.series[i][0] for i in new]):
                # The cap admits series first come, first served: in the order of their first line.
                first = groups.first()
                new.sort(key=lambda i: int(first[i]))
            for i in new:
                values = groups.series[i]
                text = self._admit(d, values[0], values[1:])
                if text in self._known[(d.name, values[0])]:  # not `other`: that one is counted each time
                    admitted[values] = text
                series[i] = (values[0], text)
        sids = pending.series_ids(d.name, series)[groups.point_series]
        bins = (groups.bin_point, groups.bin, groups.bin_n) if metric.distribution else None
        pending.add(sids, groups.ts, groups.n, groups.total, groups.lo, groups.hi, bins)

    def _may_reach_cap(self, d: MetricDefinition, tenants: list[str]) -> bool:
        """Whether admitting series of these tenants (one each, not admitted before) could reach `d`'s cap (when it
        cannot, the order they are admitted in changes nothing)."""
        per_tenant: dict[str, int] = {}
        for tenant in tenants:
            per_tenant[tenant] = per_tenant.get(tenant, 0) + 1
        return any(len(self._known.get((d.name, t), ())) + k > d.max_series for t, k in per_tenant.items())

    def _admit(self, d: MetricDefinition, tenant: str, values: Sequence[str]) -> str:
        """The series (labels as JSON) a label combination counts in: itself while the cap allows, else `other`."""
        text = labels_json(d.labels, values)
        known = self._known.setdefault((d.name, tenant), set())
        if text in known:
            return text
        if len(known) < d.max_series:
            known.add(text)
            return text
        self.over_cap += 1
        return labels_json(d.labels, [OTHER] * len(values))


def _native_fields(
    rows: tuple[ast.RowPipe, ...], extractions: list[Extraction], names: list[str]
) -> dict[str, list[tuple[Extraction, int]]] | None:
    """Per field a definition reads, the (extraction, group) pairs that give it, last pipe first (none: a core
    column); None unless every pipe is an `extract` over a core column that pyarrow runs."""
    by_regex = {(e.column, e.pattern): e for e in extractions}
    stages: list[tuple[Extract, Extraction]] = []
    for pipe in rows:
        if not isinstance(pipe, Extract) or not pipe.source.core or pipe.source.name not in CORE_COLUMNS:
            return None
        found = by_regex.get((pipe.source.name, pipe.regex))
        if found is None:
            return None
        stages.append((pipe, found))
    out: dict[str, list[tuple[Extraction, int]]] = {}
    for name in names:
        ref = FieldRef.parse(name)
        if ref.core:
            if name not in CORE_COLUMNS:
                return None
            out[name] = []
            continue
        sources = [
            (e, dict(zip(p.names, p.groups, strict=True))[ref.name]) for p, e in reversed(stages) if ref.name in p.names
        ]
        out[name] = sources
    return out


def _groups_of(grouped: pa.Table, n_labels: int, distribution: bool) -> Groups:
    """DuckDB's grouped rows (tenant, b, l0…, [bin], n, total, lo, hi) as `Groups`."""
    parts = [pc.cast(grouped.column("tenant"), pa.string())]
    parts += [pc.fill_null(pc.cast(grouped.column(f"l{i}"), pa.string()), "") for i in range(n_labels)]
    key = parts[0] if n_labels == 0 else pc.binary_join_element_wise(*parts, SEP)
    encoded = pc.dictionary_encode(key)
    if isinstance(encoded, pa.ChunkedArray):
        encoded = encoded.combine_chunks()
    series = [tuple(k.split(SEP)) if n_labels else (k,) for k in encoded.dictionary.to_pylist()]
    row_series = encoded.indices.to_numpy().astype(np.int64)
    ts = pc.cast(grouped.column("b"), pa.int64()).to_numpy()
    n = pc.cast(grouped.column("n"), pa.float64()).to_numpy()
    total, lo, hi = (pc.cast(grouped.column(c), pa.float64()).to_numpy() for c in ("total", "lo", "hi"))
    empty = np.zeros(0, dtype=np.int64)
    if not distribution:
        return Groups(series, row_series, ts, n, total, lo, hi, empty, np.zeros(0, dtype=np.int16), empty)
    # One row per bin: the points are their sums per series and bucket.
    table = pa.table({"s": row_series, "ts": ts, "n": n, "total": total, "lo": lo, "hi": hi})
    points = table.group_by(["s", "ts"], use_threads=False).aggregate(
        [("n", "sum"), ("total", "sum"), ("lo", "min"), ("hi", "max")]
    )
    index = {(s, t): i for i, (s, t) in enumerate(zip(points["s"].to_pylist(), points["ts"].to_pylist(), strict=True))}
    bin_point = np.array([index[(s, t)] for s, t in zip(row_series.tolist(), ts.tolist(), strict=True)], np.int64)
    return Groups(
        series,
        points["s"].to_numpy(),
        points["ts"].to_numpy(),
        points["n_sum"].to_numpy(),
        points["total_sum"].to_numpy(),
        points["lo_min"].to_numpy(),
        points["hi_max"].to_numpy(),
        bin_point,
        pc.cast(grouped.column("bin"), pa.int16()).to_numpy(),
        n.astype(np.int64),
    )


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
    # `literal(?P<name>\d+)literal` (the commonest extraction: `status=(?P<s>\d+)`, `took (?P<ms>\d+)ms`): the two
    # literals, found without a regex engine (logmetrics/digits.py).
    digits: tuple[bytes, bytes] | None = None

    @property
    def names(self) -> list[str]:
        """The columns it adds, one per group."""
        return [f"{self.alias}_g{i}" for i in range(1, self.groups + 1)]

    def run(self, text: pa.Array | pa.ChunkedArray, batch: MetricBatch | None = None) -> list[pa.Array]:
        """Each group's text per line; `batch`: `text` is that batch's column `self.column` (whose bytes the
        batch's extractions then search once)."""
        if batch is not None and self.digits is not None:
            found = batch.byte_text(self.column)
            if found is not None:
                return [digits_between(batch.plain_text(self.column), *self.digits, self.pattern, found)]
        text = batch.plain_text(self.column) if batch is not None else plain_text(text)
        if self.digits is not None and pa.types.is_string(text.type):
            return [digits_between(text, *self.digits, self.pattern)]
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
            digits = digits_literals(pattern) if groups == 1 else None
            found[key] = Extraction(column, pattern, groups, f"__lw_re{len(found)}", digits)
        return f'"{found[key].alias}"'

    out = _GROUP_OF.sub(lambda m: f'"{m.group(1)}_{m.group(2)}"', _REGEX_CALL.sub(hoist, sql))
    if any(f'"{e.alias}"' in out for e in found.values()):
        return sql, []  # a use of the whole struct this rewrite does not know: DuckDB runs the regexes
    return out, list(found.values())


def _bins(values: np.ndarray) -> pa.Array:
    """Each value's sketch bin (logmetrics/sketch.py), as Arrow."""
    return pa.array(sketch_bins(values))


def labels_json(names: Iterable[str], values: Iterable[str]) -> str:
    """A series' labels as stored: a JSON object in the definition's label order."""
    return orjson.dumps(dict(zip(names, values, strict=True))).decode()
