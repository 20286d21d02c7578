"""How day partitions store `log_id`: generated ids as two integers, every other id as text.

Ids logwarden generates (model/normalize.py: 16 hex digits per batch, then the row number in 6) took ~6 B a
line as zstd text. A day table made since stores any id spelled like them (`^[0-9a-f]{22}$`, whoever gave it)
as `log_id_batch` UBIGINT (the 16 digits: constant over a batch, RLE) and `log_id_offset` BIGINT (the row
number minus the row's `seq`: seq counts rows densely in arrival order, so this too is constant over a batch),
~0.05 B a line; other ids (client-given ones, `<stream>@<offset>`) stay in `log_id_text` (DuckDB's own choice of
compression: forced zstd would cost 4 B a line of string lengths even on the nulls of generated ids).
`log_id` is a VIRTUAL generated column that spells the id back (computed when read, never stored), so every
read, filter, the token index, the archive copy and user SQL see the same text as before, character for
character: 16 lower-case hex digits parsed and printed `%016x` give the same 16, and a row number below 2**24
printed `%06x` the same 6. `seq` is never updated once stored (compaction and deletes copy it), so the row
number it recovers is the one stored.

Tables made before (a real `log_id` column) stay as they are; `is_split` tells the layouts apart.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

import duckdb

from logwarden.plan.duckdb_filter import lit

TEXT = "log_id_text"
BATCH = "log_id_batch"
OFFSET = "log_id_offset"
_GENERATED_ID = "[0-9a-f]{22}"
_GENERATED = f"'^{_GENERATED_ID}$'"
GENERATED_RE = re.compile(_GENERATED_ID)  # the same, for Python's fullmatch
# The id of a split row, as the generated column computes it.
VALUE_SQL = f"coalesce({TEXT}, printf('%016x%06x', {BATCH}, coalesce(seq, 0) + {OFFSET}))"

# Column definitions of a split table, in place of `log_id VARCHAR NOT NULL`.
COLUMNS_DDL = (
    f"{TEXT} VARCHAR, {BATCH} UBIGINT, {OFFSET} BIGINT, log_id VARCHAR GENERATED ALWAYS AS ({VALUE_SQL}) VIRTUAL"
)


def parts_sql(log_id: str = "log_id", seq: str = "seq") -> str:
    """`text, batch, offset` values for the id `log_id` of a row numbered `seq` (SQL expressions), in the order
    of COLUMNS_DDL."""
    generated = f"regexp_full_match({log_id}, {_GENERATED})"
    return (
        f"CASE WHEN {generated} THEN NULL ELSE {log_id} END, "
        f"CASE WHEN {generated} THEN CAST('0x' || substr({log_id}, 1, 16) AS UBIGINT) END, "
        f"CASE WHEN {generated} THEN CAST('0x' || substr({log_id}, 17, 6) AS BIGINT) - coalesce({seq}, 0) END"
    )


def stored_test(log_id: str, split: bool) -> str:
    """A test of a day table's stored columns that every row whose `log_id` is `log_id` passes (SQL, the value
    inlined): the generated column is computed per row, so `log_id = …` alone reads and spells every row."""
    value = lit(log_id).sql(dialect="duckdb")
    if not split:
        return f"log_id = {value}"
    if GENERATED_RE.fullmatch(log_id):
        return f"{BATCH} = {int(log_id[:16], 16)} AND {TEXT} IS NULL"
    return f"{TEXT} = {value}"


def insert_lists(columns: Sequence[str], split: bool) -> tuple[str, str]:
    """(target columns, SELECT list) that insert rows whose `columns` include a `log_id` value into a table
    of the given layout (the SELECT list reads the source's columns by name)."""
    if not split:
        names = ", ".join(columns)
        return names, names
    targets = [f"{TEXT}, {BATCH}, {OFFSET}" if c == "log_id" else c for c in columns]
    values = [parts_sql() if c == "log_id" else c for c in columns]
    return ", ".join(targets), ", ".join(values)


def is_split(con: duckdb.DuckDBPyConnection, table: str, database: str | None = None) -> bool:
    """Whether day table `table` (of `database`, default the current one) stores log ids split."""
    return bool(stored_columns(con, table, database)[1])


def stored_columns(con: duckdb.DuckDBPyConnection, table: str, database: str | None = None) -> tuple[list[str], bool]:
    """(the columns of `table` an INSERT writes — all but the generated ones, `log_id` and a split table's
    `attrs` (attrs_split.py) —, whether its log ids are split)."""
    rows = con.execute(
        "SELECT column_name, is_generated FROM duckdb_columns() WHERE database_name = coalesce(?, current_database()) "
        "AND schema_name = 'main' AND table_name = ? ORDER BY column_index",
        [database, table],
    ).fetchall()
    names = [str(name) for name, _generated in rows]
    return [str(name) for name, generated in rows if not generated], BATCH in names


def copy_list(con: duckdb.DuckDBPyConnection, table: str, database: str | None = None) -> str:
    """The quoted column list that copies `table`'s stored columns into a table of the same layout."""
    names, _split = stored_columns(con, table, database)
    return ", ".join('"' + n.replace('"', '""') + '"' for n in names)
