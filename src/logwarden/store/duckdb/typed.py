"""Typed attributes ("shredding"): the frequent attribute keys of a day partition, also kept as typed columns.

Attributes live in the JSON text column `attrs`; a filter, stat or top on one parses that text on every row.
The applier therefore gives each day table (and each archive file written from one) a column
`a$<key>` for the keys most of its lines carry: BIGINT when every value is an integer, DOUBLE when every value
is a number, else VARCHAR (dictionary-compressed by DuckDB). `attrs` reads back with every key (display,
`fields`, user SQL and the archive read it unchanged); a table made since keeps the keys of the columns it was
made with only in those columns and gives `attrs` back from them (attrs_split.py).

Invariant, for every row of a table with a column for `key`: the column's text (`CAST(col AS VARCHAR)`) is
exactly `json_extract_string(attrs, '/<key>')` and its number is exactly `TRY_CAST(<that text> AS DOUBLE)` —
what a query reads from the JSON. A value is written to a BIGINT/DOUBLE column only when it spells that number
back character for character (`500`, not `500.0`, `1e3` or ` 5`); when a batch brings one that does not, the
column is widened to VARCHAR first (its text unchanged). A key that appears later gets its column filled for
the rows already there (while the table is small enough), so no row ever lacks its value in the column.

Reads: the query compiler names the attribute values it needs (`AttrRequest`: a key, text or number, a column
name of the `logs` source); each branch of the read's union supplies them from its typed column when the
table or file has one and from `attrs` otherwise (older partitions, files adopted without a record, batches
not yet applied). Hot tables' columns come from the table's own schema; archive files' from `_archive_typed`,
written in the transaction that registers the file.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import duckdb
import pyarrow as pa
from sqlglot import exp

from logwarden.plan.duckdb_filter import AttrRequest, attr_path
from logwarden.store.duckdb import attrs_split
from logwarden.store.duckdb.catalog import ARCHIVE_FILES
from logwarden.store.duckdb.partitions import quote_ident

PREFIX = "a$"
# At most this many typed columns per day table.
MAX_COLUMNS = 16
# A key gets a column once it is in at least this share of the rows sampled from a batch.
MIN_SHARE = 0.05
# Rows of each batch looked at for new keys (the types are checked on every row).
SAMPLE_ROWS = 4096
# Keys whose values average longer than this (bytes of text) stay in attrs only: long text gains nothing.
MAX_MEAN_BYTES = 64
# A key first seen in a table holding more rows than this stays in attrs only (its column would be filled for
# every earlier row inside the apply transaction).
LATE_MAX_ROWS = 1_000_000
# Keys that can name a column: DuckDB identifiers compare case-insensitively, so upper-case letters are escaped.
KEY_RE = re.compile(r"[A-Za-z0-9_.:@/-]{1,64}")
TYPES = ("BIGINT", "DOUBLE", "VARCHAR")

ARCHIVE_TYPED = "_archive_typed"
ARCHIVE_DDL = (
    f"CREATE TABLE IF NOT EXISTS {ARCHIVE_TYPED} (path VARCHAR NOT NULL, col VARCHAR NOT NULL, type VARCHAR NOT NULL)"
)

_ARROW_TYPES = {pa.int64(): "BIGINT", pa.float64(): "DOUBLE", pa.string(): "VARCHAR", pa.large_string(): "VARCHAR"}


@dataclass(frozen=True, slots=True)
class TypedColumn:
    """One typed attribute column: the key, the column name and its DuckDB type."""

    key: str
    column: str
    type: str


def create(con: duckdb.DuckDBPyConnection) -> None:
    """The catalog of archive files' typed columns (hot tables carry theirs in their schema)."""
    con.execute(ARCHIVE_DDL)


def column_name(key: str) -> str:
    """`a$<key>`, upper-case letters written `^` + lower case: distinct even compared case-insensitively."""
    return PREFIX + re.sub(r"[A-Z]", lambda m: "^" + m.group().lower(), key)


def key_of(column: str) -> str | None:
    """The key a typed column holds, or None for a column that is not one."""
    if not column.startswith(PREFIX):
        return None
    key = re.sub(r"\^([a-z])", lambda m: m.group(1).upper(), column[len(PREFIX) :])
    return key if KEY_RE.fullmatch(key) and column_name(key) == column else None


def _columns_of(pairs: Iterable[tuple[str, str]]) -> dict[str, TypedColumn]:
    out: dict[str, TypedColumn] = {}
    for column, sql_type in pairs:
        key = key_of(column)
        if key is not None and sql_type in TYPES:
            out[key] = TypedColumn(key, column, sql_type)
    return out


@dataclass(frozen=True, slots=True)
class TableLayout:
    """A hot table's typed columns (key → column) and the SQL over its stored columns that gives its `attrs`
    (attrs_split.attrs_expr: `"attrs"` unless the table stores attrs split)."""

    columns: dict[str, TypedColumn]
    attrs: str = attrs_split.PLAIN

    @property
    def split(self) -> bool:
        return self.attrs != attrs_split.PLAIN


def table_layouts(con: duckdb.DuckDBPyConnection, tables: Sequence[str]) -> dict[str, TableLayout]:
    """Typed columns and attrs layout of hot `tables` (those with either), as this transaction sees their schemas:
    one catalog read for both (it costs about a millisecond, for every read and every batch applied)."""
    if not tables:
        return {}
    rows = con.execute(
        "SELECT table_name, column_name, data_type, generation_expression FROM duckdb_columns() "
        "WHERE database_name = current_database() AND schema_name = 'main' "
        "AND (starts_with(column_name, 'a$') OR (column_name = 'attrs' AND is_generated)) "
        "AND list_contains(?, table_name)",
        [list(tables)],
    ).fetchall()
    grouped: dict[str, list[tuple[str, str]]] = {}
    exprs: dict[str, str] = {}
    for table, column, sql_type, expr in rows:
        if column == "attrs":
            exprs[table] = f"({expr})"
        else:
            grouped.setdefault(table, []).append((column, sql_type))
    return {
        t: TableLayout(_columns_of(grouped.get(t, ())), exprs.get(t, attrs_split.PLAIN)) for t in {*grouped, *exprs}
    }


def table_columns(con: duckdb.DuckDBPyConnection, tables: Sequence[str]) -> dict[str, dict[str, TypedColumn]]:
    """Typed columns of hot `tables` (key → column), as this transaction sees their schemas."""
    return {t: layout.columns for t, layout in table_layouts(con, tables).items() if layout.columns}


def file_columns(con: duckdb.DuckDBPyConnection, paths: Sequence[str]) -> dict[str, dict[str, TypedColumn]]:
    """Typed columns of archive files, as recorded when each was written (none for other files)."""
    if not paths:
        return {}
    rows = con.execute(f"SELECT path, col, type FROM {ARCHIVE_TYPED} WHERE list_contains(?, path)", [list(paths)])
    grouped: dict[str, list[tuple[str, str]]] = {}
    for path, column, sql_type in rows.fetchall():
        grouped.setdefault(path, []).append((column, sql_type))
    return {path: _columns_of(pairs) for path, pairs in grouped.items()}


def schema_columns(schema: pa.Schema) -> list[TypedColumn]:
    """Typed columns of an Arrow schema (what an archive file written with it holds)."""
    return list(_columns_of((f.name, _ARROW_TYPES.get(f.type, "")) for f in schema).values())


def record_file(con: duckdb.DuckDBPyConnection, path: str, columns: Sequence[TypedColumn]) -> None:
    """Record an archive file's typed columns (in the transaction that registers it); forgets files gone."""
    con.execute(f"DELETE FROM {ARCHIVE_TYPED} WHERE path = ? OR path NOT IN (SELECT path FROM {ARCHIVE_FILES})", [path])
    if columns:
        con.executemany(f"INSERT INTO {ARCHIVE_TYPED} VALUES (?, ?, ?)", [[path, c.column, c.type] for c in columns])


# --- writing ---------------------------------------------------------------------------------


def _literal(text: str) -> str:
    return exp.Literal.string(text).sql(dialect="duckdb")


def _extract(key: str, attrs: str = '"attrs"') -> str:
    """The text of `key` in the attrs JSON, exactly as the query compiler reads it (`->>` with a pointer)."""
    return f"({attrs} ->> {_literal(attr_path(key))})"


def _fits(value: str, sql_type: str) -> str:
    """True when the text `value` is null or spells a `sql_type` number back exactly."""
    if sql_type == "VARCHAR":
        return "true"
    return f"coalesce(CAST(TRY_CAST({value} AS {sql_type}) AS VARCHAR) = {value}, {value} IS NULL)"


def _typed_value(value: str, sql_type: str) -> str:
    return value if sql_type == "VARCHAR" else f"TRY_CAST({value} AS {sql_type})"


def _frequent_keys(con: duckdb.DuckDBPyConnection, view: str, skip: Iterable[str], room: int) -> list[str]:
    """Keys in at least MIN_SHARE of a sample of `view`'s rows that can name a column, most frequent first."""
    sample = f"(SELECT attrs FROM {view} LIMIT {SAMPLE_ROWS})"
    rows = con.execute(
        f"SELECT k, count(*) AS n, (SELECT count(*) FROM {sample}) AS total "
        f"FROM (SELECT unnest(try(json_keys(attrs))) AS k FROM {sample} WHERE attrs IS NOT NULL) "
        "GROUP BY k ORDER BY n DESC, k"
    ).fetchall()
    skipped = set(skip)
    keys = [k for k, n, total in rows if n >= MIN_SHARE * total and k not in skipped and KEY_RE.fullmatch(k)]
    # One column per case-insensitive name (DuckDB's rule), the most frequent spelling.
    seen: set[str] = {column_name(k) for k in skipped}
    out: list[str] = []
    for key in keys:
        if column_name(key) not in seen and len(out) < room:
            seen.add(column_name(key))
            out.append(key)
    return out


@dataclass(slots=True)
class _Profile:
    """What one batch holds for a key: values present, whether all fit BIGINT / DOUBLE, mean text length."""

    present: int
    bigint: bool
    double: bool
    mean_bytes: float


def _profile(
    con: duckdb.DuckDBPyConnection, source: str, keys: Sequence[str], current: dict[str, TypedColumn] | None = None
) -> dict[str, _Profile]:
    """One pass over `source` (one JSON parse per row) profiling the values of `keys`.

    A key that already has a column (`current`) is only checked against its own type (the others read as
    true): the spell-back casts are most of the pass's cost, and the caller looks at nothing else for it.
    """
    current = current or {}
    paths = "[" + ", ".join(_literal(attr_path(k)) for k in keys) + "]"
    aggs = []
    for i, key in enumerate(keys):
        v = f"_v[{i + 1}]"
        known = current.get(key)
        checks = [
            f"coalesce(bool_and({_fits(v, t)}), true)" if known is None or known.type == t else "true"
            for t in ("BIGINT", "DOUBLE")
        ]
        aggs += [f"count({v})", *checks, f"coalesce(avg(strlen({v})), 0)" if known is None else "0"]
    row = con.execute(
        f"SELECT {', '.join(aggs)} FROM (SELECT try(json_extract_string(attrs, {paths})) AS _v FROM {source})"
    ).fetchall()[0]
    return {
        key: _Profile(int(row[4 * i]), bool(row[4 * i + 1]), bool(row[4 * i + 2]), float(row[4 * i + 3]))
        for i, key in enumerate(keys)
    }


def _choose_type(profile: _Profile) -> str | None:
    if profile.present == 0:
        return None
    if profile.bigint:
        return "BIGINT"
    if profile.double:
        return "DOUBLE"
    return "VARCHAR" if profile.mean_bytes <= MAX_MEAN_BYTES else None


def prepare_columns(
    con: duckdb.DuckDBPyConnection, table: str, view: str, rows: int, int_keys: frozenset[str] = frozenset()
) -> tuple[list[TypedColumn], str]:
    """Make `table`'s typed columns ready for the rows of `view` (inside the caller's transaction, before the
    insert): widen a column a value does not fit, add columns for frequent new keys (filled for the `rows`
    rows already in the table). Returns the columns the insert fills and the table's attrs_expr after.

    `int_keys`: keys whose every value in `view` is known to be an integer literal (the packer saw integer
    columns: model.normalize.int_attr_keys); their BIGINT columns are not checked row by row.
    """
    layout = table_layouts(con, [table]).get(table, TableLayout({}))
    current, attrs = layout.columns, layout.attrs
    new_keys: list[str] = []
    if len(current) < MAX_COLUMNS and rows <= LATE_MAX_ROWS:
        new_keys = _frequent_keys(con, view, current, MAX_COLUMNS - len(current))
    checked = [
        k for k, c in current.items() if c.type == "DOUBLE" or (c.type == "BIGINT" and k not in int_keys)
    ] + new_keys
    profiles = _profile(con, view, checked, current) if checked else {}
    name = quote_ident(table)
    columns = dict(current)
    for key, col in current.items():
        p = profiles.get(key)
        if p is not None and not (p.bigint if col.type == "BIGINT" else p.double):
            if attrs_split.shredded_columns(attrs, [col]):
                # The generated attrs reads this column: the table keeps attrs whole from now on.
                attrs_split.join(con, table)
                attrs = attrs_split.PLAIN
            # A value this type cannot spell back: the column becomes text (every earlier value's text unchanged).
            con.execute(f"ALTER TABLE {name} ALTER {quote_ident(col.column)} TYPE VARCHAR")
            columns[key] = TypedColumn(key, col.column, "VARCHAR")
    for key in new_keys:
        sql_type = _choose_type(profiles[key])
        if sql_type is None:
            continue
        col = TypedColumn(key, column_name(key), sql_type)
        if rows:
            sql_type = _add_late(con, name, col, profiles[key], attrs)
            col = TypedColumn(key, col.column, sql_type)
        else:
            con.execute(f"ALTER TABLE {name} ADD COLUMN {quote_ident(col.column)} {sql_type}")
        columns[key] = col
    return list(columns.values()), attrs


def _add_late(con: duckdb.DuckDBPyConnection, name: str, col: TypedColumn, batch: _Profile, attrs: str) -> str:
    """Add a column for a key the table already has rows of: filled from their attrs (`attrs`: SQL over the
    stored columns), typed to fit them all."""
    ident = quote_ident(col.column)
    con.execute(f"ALTER TABLE {name} ADD COLUMN {ident} VARCHAR")
    con.execute(f"ALTER TABLE {name} ALTER {ident} TYPE VARCHAR USING try({_extract(col.key, attrs)})")
    if col.type == "VARCHAR":
        return "VARCHAR"
    row = con.execute(
        f"SELECT coalesce(bool_and({_fits(ident, 'BIGINT')}), true), "
        f"coalesce(bool_and({_fits(ident, 'DOUBLE')}), true) FROM {name}"
    ).fetchall()[0]
    sql_type = "BIGINT" if row[0] and batch.bigint else "DOUBLE" if row[1] and batch.double else "VARCHAR"
    if sql_type != "VARCHAR":
        con.execute(f"ALTER TABLE {name} ALTER {ident} TYPE {sql_type}")
    return sql_type


def insert_sql(
    table: str,
    columns: str,
    view: str,
    typed: Sequence[TypedColumn],
    values: str | None = None,
    shredded: Sequence[TypedColumn] = (),
) -> str:
    """INSERT of `view`'s rows into `table` (`columns` = the stored columns; `values` = what fills them, read
    from `view`, by default the same names), typed columns computed alongside (one JSON parse per row for all).

    `shredded`: the typed columns a split table (attrs_split.py) keeps only there; `columns` then leaves out
    `attrs`, and its shape and whole-text columns are filled from it."""
    values = values or columns
    if not typed:
        return f"INSERT INTO {quote_ident(table)} ({columns}) SELECT {values} FROM {view}"
    names = ", ".join(quote_ident(c.column) for c in typed)
    paths = "[" + ", ".join(_literal(attr_path(c.key)) for c in typed) + "]"
    typed_values = [_typed_value(f"_v[{i + 1}]", c.type) for i, c in enumerate(typed)]
    source = f"(SELECT *, try(json_extract_string(attrs, {paths})) AS _v FROM {view})"
    if not shredded:
        into = f"INSERT INTO {quote_ident(table)} ({columns}, {names})"
        return f"{into} SELECT {values}, {', '.join(typed_values)} FROM {source}"
    at = {c.key: i for i, c in enumerate(typed)}
    shape = attrs_split.shape_sql(shredded, [typed_values[at[c.key]] for c in shredded])
    return (
        f"INSERT INTO {quote_ident(table)} ({columns}, {attrs_split.SHAPE}, {attrs_split.TEXT}, {names}) "
        f"SELECT {values}, {attrs_split.insert_values(shape)}, {', '.join(typed_values)} FROM {source}"
    )


def select_list(columns: Iterable[TypedColumn]) -> str:
    """`, "a$k1", "a$k2"` for a SELECT of the stored columns (empty for none)."""
    return "".join(", " + quote_ident(c.column) for c in columns)


# --- reading ---------------------------------------------------------------------------------


def _branch_expr(request: AttrRequest, col: TypedColumn | None, split: bool = False) -> str:
    """The requested value in one branch: from the typed column when there is one, else from attrs (of a split
    table: from its shape, attrs_split.key_sql)."""
    if col is None:
        text = attrs_split.key_sql(_literal(attr_path(request.key))) if split else _extract(request.key)
        return text if request.kind == "text" else f"TRY_CAST({text} AS DOUBLE)"
    ident = quote_ident(col.column)
    if request.kind == "text":
        return ident if col.type == "VARCHAR" else f"CAST({ident} AS VARCHAR)"
    if col.type == "VARCHAR":
        return f"TRY_CAST({ident} AS DOUBLE)"
    return ident if col.type == "DOUBLE" else f"CAST({ident} AS DOUBLE)"


class SourceColumns:
    """For each branch of a read's union, the SQL that adds the requested attribute columns (`, … AS "…"`)."""

    def __init__(
        self,
        requests: Sequence[AttrRequest],
        tables: dict[str, dict[str, TypedColumn]],
        files: dict[str, dict[str, TypedColumn]],
        split: frozenset[str] = frozenset(),
    ) -> None:
        self._requests = tuple(requests)
        self._tables = tables
        self._files = files
        self._split = split

    def _sql(self, typed: dict[str, TypedColumn], split: bool = False) -> str:
        return "".join(
            f", {_branch_expr(r, typed.get(r.key), split)} AS {quote_ident(r.column)}" for r in self._requests
        )

    def hot(self, table: str) -> str:
        return self._sql(self._tables.get(table, {}), table in self._split)

    def archive(self, path: str) -> str:
        return self._sql(self._files.get(path, {}))

    def memory(self) -> str:
        """Batches not yet applied: from attrs."""
        return self._sql({})


def source_columns(
    con: duckdb.DuckDBPyConnection, requests: Sequence[AttrRequest], tables: Sequence[str], files: Sequence[str]
) -> SourceColumns:
    """The requested attribute columns for a read of these hot tables and archive files (in its transaction)."""
    layouts = table_layouts(con, tables)
    return SourceColumns(
        requests,
        {t: layout.columns for t, layout in layouts.items()},
        file_columns(con, files),
        frozenset(t for t, layout in layouts.items() if layout.split),
    )
