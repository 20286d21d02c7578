"""Token and id filters of archived Parquet files: the hot store's index (tokens.py), carried to the archive.

When a day partition is archived, its file is read back once and filters are built per block of
`tokens.BLOCK_ROWS` rows of the file (by `file_row_number`, the rows' position in the file), stored in
the same tables as the hot store's under the file's catalog path and committed in the transaction that
registers the file. A search then reads only those row ranges of the file (DuckDB skips the other row
groups and pages). Trace ids are also written as Parquet bloom filters (archive.py), which other
engines reading the archive use too. Files adopted from the archive root without filters are read whole;
files whose filters are of an older layout or other indexed fields are read whole until `reindex` builds
them again (`stale_files` lists them).
"""

from __future__ import annotations

import logging
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import TYPE_CHECKING

import duckdb
import pyarrow as pa

from logwarden.store.duckdb import tokens
from logwarden.store.duckdb.catalog import ARCHIVE_FILES

if TYPE_CHECKING:
    from logwarden.store.archive import ParquetArchive

log = logging.getLogger(__name__)

ROW_COLUMN = "file_row_number"


def build(
    cur: duckdb.DuckDBPyConnection,
    location: str,
    fields: Sequence[str] | None = None,
    archive: ParquetArchive | None = None,
) -> pa.Table:
    """The filters (block, seg, w0…w7) of the archive file at `location` (reads the file once; through `archive`,
    which decrypts it when it is encrypted)."""
    fields = tokens.configured_fields(cur) if fields is None else fields
    values = "".join(f", {tokens.field_sql(field)} AS f{i}" for i, field in enumerate(fields))
    with _relation(cur, location, archive) as rel:
        rows = cur.sql(
            f"SELECT {ROW_COLUMN} // {tokens.BLOCK_ROWS} AS block, message{values} FROM {rel}"
        ).to_arrow_table()
    words = rows.set_column(1, "words", tokens.word_text(rows.column("message")))
    cur.register("_archive_token_rows", words)
    try:
        return cur.sql(tokens.segments_sql(fields, "_archive_token_rows")).to_arrow_table()
    finally:
        cur.unregister("_archive_token_rows")


def store(
    con: duckdb.DuckDBPyConnection,
    location: str,
    rows: int,
    segments: pa.Table,
    fields: Sequence[str] | None = None,
) -> None:
    """Record the filters of a file holding `rows` rows (call in the transaction that registers it)."""
    fields = tokens.configured_fields(con) if fields is None else fields
    forget(con, location)
    tokens.store_segments(con, location, segments)
    con.execute(
        f"INSERT INTO {tokens.COVERAGE_TABLE} (tbl, lo, hi, probe, fields) VALUES (?, 0, ?, hash(?), ?)",
        [location, rows, tokens.PROBE, ",".join(fields)],
    )


def forget(con: duckdb.DuckDBPyConnection, location: str) -> None:
    """Drop a file's filters."""
    tokens.forget(con, location)


def forget_partition(con: duckdb.DuckDBPyConnection, where: str, params: list[object]) -> None:
    """Drop the filters of the archive files `WHERE <where>` selects in the catalog (before it forgets them)."""
    for table in (tokens.BLOOM_TABLE, tokens.COVERAGE_TABLE):
        con.execute(f"DELETE FROM {table} WHERE tbl IN (SELECT path FROM {ARCHIVE_FILES} WHERE {where})", params)


def stale_files(con: duckdb.DuckDBPyConnection) -> list[str]:
    """Archive files whose filters were built in another layout or with other indexed fields (read whole until
    `reindex` builds them again); files that never had filters (adopted from the root) are not listed."""
    rows = con.execute(
        f"SELECT c.tbl FROM {tokens.COVERAGE_TABLE} c JOIN {ARCHIVE_FILES} a ON a.path = c.tbl "
        "WHERE c.probe <> hash(?) OR c.fields <> ? ORDER BY c.tbl",
        [tokens.PROBE, ",".join(tokens.configured_fields(con))],
    ).fetchall()
    return [str(path) for (path,) in rows]


@contextmanager
def _relation(cur: duckdb.DuckDBPyConnection, location: str, archive: ParquetArchive | None) -> Iterator[str]:
    if archive is not None:
        with archive.relation(cur, location, row_numbers=True) as rel:
            yield rel
        return
    yield f"read_parquet('{location.replace(chr(39), chr(39) * 2)}', {ROW_COLUMN} = true, hive_partitioning = false)"


def reindex(con: duckdb.DuckDBPyConnection, location: str, archive: ParquetArchive | None = None) -> bool:
    """Build the filters of one archive file again (reads it once; call with no transaction open). False when
    the file is gone from the catalog or cannot be read: it stays read whole, which is always correct."""
    cur = con.cursor()
    try:
        with _relation(cur, location, archive) as rel:
            rows = int(cur.sql(f"SELECT count(*) FROM {rel}").fetchall()[0][0])
        segments = build(cur, location, archive=archive)
    except (duckdb.IOException, duckdb.HTTPException) as exc:
        log.warning("cannot index archive file %s again (read whole meanwhile): %s", location, exc)
        return False
    finally:
        cur.close()
    con.execute("BEGIN TRANSACTION")
    try:
        listed = con.execute(f"SELECT count(*) FROM {ARCHIVE_FILES} WHERE path = ?", [location]).fetchall()[0][0]
        if listed:  # retention may have dropped it meanwhile: then its filters are not wanted
            store(con, location, rows, segments)
        con.execute("COMMIT")
    except BaseException:
        con.execute("ROLLBACK")
        raise
    return bool(listed)
