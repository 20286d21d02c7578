"""How day partitions store `attrs`: the keys of typed columns only there, the rest as a shape (or whole).

A typed attribute column (typed.py) copies one key of `attrs`; keeping the value in the JSON text too cost ~8 B a
line on the peers data. A day table made since keeps, for the typed columns it was made with (its first batch's),
each line's value only in the column: `attrs_shape` holds the line's attrs with the value of each such pair
(`"<key>":<value>`) replaced by the marker `\\x01<key>\\x01` — the keys, their order and the other pairs, a
handful of distinct texts per table (dictionary-compressed). `attrs` is a VIRTUAL generated column that puts the
values back (computed when read, never stored), so every read, filter, the token index, the archive copy and
user SQL see the same text as before, character for character.

Exactness: a value is replaced only where the pair is spelled as the stored value spells it (`"k":` and the
column's text, as a JSON string without escapes for a text column, bare for a number column), so putting it back
is the identity (`shape_sql`); a pair spelled otherwise (`"status":"500"` in a number column, a string with
escapes) stays in the shape as it is. A line whose text holds \\x01 keeps it whole in `attrs_text` (null
otherwise) and no shape.

A generated column cannot be added after a table is made, nor can a column it reads change type. So the columns
are fixed when the table is made: a key that gets a column later stays in the shape (its column a copy, as
before), and a column that must widen to text (typed.prepare_columns) first turns the table back into a plain
`attrs` column (`join`), rebuilt from the parts by `ALTER … USING`: rowids do not move.

Tables made before (a real `attrs` column) stay as they are; `is_split` tells the layouts apart.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol, TypeVar

import duckdb
from sqlglot import exp

from logwarden.store.duckdb.partitions import quote_ident

SHAPE = "attrs_shape"
TEXT = "attrs_text"
PLAIN = '"attrs"'  # the attrs_expr of a table that stores attrs whole


class Shredded(Protocol):
    """A typed column as this module needs it (typed.TypedColumn)."""

    @property
    def key(self) -> str: ...

    @property
    def column(self) -> str: ...

    @property
    def type(self) -> str: ...


def _literal(text: str) -> str:
    return exp.Literal.string(text).sql(dialect="duckdb")


def _marker(col: Shredded) -> str:
    """The marker standing for the column's value: `\\u0001<key>\\u0001` in the JSON text (inside the string's
    quotes for a text column, as a string of its own for a number column), so that the shape is JSON too and a
    key without a column can be read from it (`key_sql`). Never in a stored line's text (`_WHOLE`)."""
    inner = "\\u0001" + col.key + "\\u0001"
    return _literal(inner if col.type == "VARCHAR" else chr(34) + inner + chr(34))


def _text(col: Shredded, value: str) -> str:
    return value if col.type == "VARCHAR" else f"CAST({value} AS VARCHAR)"


def _pair(col: Shredded, value: str | None) -> str:
    """`"<key>":<value>` for the column's value `value` (SQL), spelled as the column's values usually are: a
    JSON string without escapes for a text column, the number's text for a number column ('' for a null value:
    replace() finds no ''); with no value, the pair with the marker in its place."""
    head = chr(34) + col.key + chr(34) + ":"
    if value is None:
        quote = chr(34) if col.type == "VARCHAR" else ""
        return f"{_literal(head + quote)} || {_marker(col)} || {_literal(quote)}"
    if col.type == "VARCHAR":
        return f"coalesce({_literal(head + chr(34))} || {value} || '\"', '')"
    return f"coalesce({_literal(head)} || {_text(col, value)}, '')"


def rebuild_sql(columns: Sequence[Shredded], shape: str) -> str:
    """The attrs text from `shape` and the columns' stored values (a line without a shape is its whole text)."""
    out = shape
    for col in reversed(columns):
        out = f"replace({out}, {_marker(col)}, coalesce({_text(col, quote_ident(col.column))}, ''))"
    return f"CASE WHEN {SHAPE} IS NULL THEN {TEXT} ELSE {out} END"


# A line whose text holds `\u0001` keeps it whole: its markers could not be told from its own text.
_WHOLE = "contains(attrs, '\\u0001')"


def shape_sql(columns: Sequence[Shredded], values: Sequence[str]) -> str:
    """The shape of the insert source's `attrs`: the value of each column's pair replaced by its marker (`values`:
    SQL for each column's value as it is stored), or null for a line that keeps its text whole.

    `rebuild_sql` gives `attrs` back, whatever the values: each pair is made from the stored value, the same at
    insert and at read; neither it nor the text holds `\\u0001` (a value could only decode to text holding it
    from a text holding it), so the markers stand exactly where values were and putting the values back is the
    identity."""
    out = "attrs"
    for col, value in zip(columns, values, strict=True):
        out = f"replace({out}, {_pair(col, value)}, {_pair(col, None)})"
    return f"CASE WHEN NOT {_WHOLE} THEN {out} END"


def key_sql(path: str) -> str:
    """The text of the key at JSON pointer `path` (an SQL literal) of a split table's line whose key has no
    column: read from the shape (JSON too, no rebuild). A marker stands only where a pair stood in the JSON's
    structure (a pair cannot match inside a string: its quotes are escaped there), so a key's value can hold one
    only when it is an array or an object: a line with `[` or a `{` past the first character reads the whole
    `attrs` instead."""
    text = f"coalesce({TEXT}, {SHAPE})"
    return (
        f"CASE WHEN contains({text}, '[') OR contains(substr({text}, 2), '{{') "
        f"THEN attrs ->> {path} ELSE {text} ->> {path} END"
    )


def generated_ddl(columns: Sequence[Shredded]) -> str:
    """Column definitions of a split table, in place of `attrs VARCHAR`."""
    return f"{SHAPE} VARCHAR, {TEXT} VARCHAR, attrs VARCHAR GENERATED ALWAYS AS ({rebuild_sql(columns, SHAPE)}) VIRTUAL"


def insert_values(shape: str) -> str:
    """The values of the shape and whole-text columns, from the insert source's `attrs` and its shape `shape`."""
    return f"{shape}, CASE WHEN {_WHOLE} THEN attrs END"


def is_split(con: duckdb.DuckDBPyConnection, table: str) -> bool:
    """Whether day table `table` stores attrs split (has the shape column)."""
    return bool(
        con.execute(
            "SELECT count(*) FROM duckdb_columns() WHERE database_name = current_database() "
            "AND schema_name = 'main' AND table_name = ? AND column_name = ?",
            [table, SHAPE],
        ).fetchall()[0][0]
    )


def attrs_expr(con: duckdb.DuckDBPyConnection, table: str) -> str:
    """SQL over `table`'s stored columns that gives its attrs (`ALTER … USING` cannot read a generated column)."""
    rows = con.execute(
        "SELECT generation_expression FROM duckdb_columns() WHERE database_name = current_database() "
        "AND schema_name = 'main' AND table_name = ? AND column_name = 'attrs' AND is_generated",
        [table],
    ).fetchall()
    return f"({rows[0][0]})" if rows else PLAIN


_S = TypeVar("_S", bound=Shredded)


def shredded_columns(expr: str, typed: Sequence[_S]) -> list[_S]:
    """The typed columns whose pairs a table's attrs shape holds (those its generated attrs reads), from the table's
    `attrs_expr`."""
    if expr == PLAIN:
        return []
    return [c for c in typed if quote_ident(c.column) in expr]


def ensure_current(con: duckdb.DuckDBPyConnection, table: str, typed: Sequence[Shredded], expr: str) -> str:
    """Join `table` (inside the caller's transaction) when its generated attrs (`expr`, its `attrs_expr`) reads a
    column through a marker other than this module's: rows appended now must be shaped as the table's own
    expression reads them. Returns the table's `attrs_expr` after."""
    if expr != PLAIN and any(quote_ident(c.column) in expr and _marker(c) not in expr for c in typed):
        join(con, table)
        return PLAIN
    return expr


def join(con: duckdb.DuckDBPyConnection, table: str) -> None:
    """Turn split `table` back into one stored `attrs` column (inside the caller's transaction), so that its
    typed columns can change type. Rowids stay."""
    name = quote_ident(table)
    expr = attrs_expr(con, table)
    con.execute(f"ALTER TABLE {name} ADD COLUMN _attrs_joined VARCHAR")
    con.execute(f"ALTER TABLE {name} ALTER _attrs_joined TYPE VARCHAR USING {expr}")
    con.execute(f"ALTER TABLE {name} DROP COLUMN attrs")
    con.execute(f"ALTER TABLE {name} DROP COLUMN {SHAPE}")
    con.execute(f"ALTER TABLE {name} DROP COLUMN {TEXT}")
    con.execute(f"ALTER TABLE {name} RENAME _attrs_joined TO attrs")


def make(con: duckdb.DuckDBPyConnection, table: str, columns: Sequence[Shredded]) -> bool:
    """Make empty day table `table` split over its typed `columns` (inside the caller's transaction): made again
    with the same columns, `attrs` replaced by the shape, the whole text and the generated column. Whether it
    did."""
    if not columns or is_split(con, table):
        return False
    name = quote_ident(table)
    if con.execute(f"SELECT count(*) FROM {name}").fetchall()[0][0]:
        return False
    (sql,) = con.execute(
        "SELECT sql FROM duckdb_tables() WHERE database_name = current_database() AND schema_name = 'main' "
        "AND table_name = ?",
        [table],
    ).fetchall()[0]
    plain = ", attrs VARCHAR, "
    if str(sql).count(plain) != 1:
        return False
    con.execute(f"DROP TABLE {name}")
    con.execute(str(sql).replace(plain, f", {generated_ddl(columns)}, "))
    return True
