"""Bloom filters over small blocks of hot-store rows, so a search for a rare word or one trace reads a few
percent of the data.

A full scan of `message` costs ~50 ms per million lines on this machine (decompress + lower + search);
a needle (a request id, a trace id, an error code) is in a handful of lines. The applier therefore
keeps, per day-partition table and per block of `BLOCK_ROWS` rowids (4 DuckDB vectors; a row group is
15 blocks), a bloom filter of the message's tokens and of the values of the id fields in
`INDEXED_FIELDS` (as the keys `<field>=<value>`, which no message token can equal: `=` separates
tokens), written in the same transaction as the rows. A search that requires a token or a field value
asks the filters which blocks may hold it and reads only those rowid ranges: DuckDB skips the other
vectors of a row group as well as whole row groups.

Tokens are runs of word characters — letters, marks and numbers of any script and `_` (plan/words.py) —
lower-cased as the query language lowers messages; everything else separates tokens (`marker=Zq7/x` →
`marker`, `zq7`, `x`; `alpha—beta` → `alpha`, `beta`). Pruning
is exact (no false negatives) for a query that only matches rows in which each of its required tokens
occurs as a whole token: a word or phrase match bounded by non-word characters at its ends
(`bounded_regex`). A plain substring match (`timeout` inside `timeouts`) cannot use the index.

Rows outside a table's covered rowid range `[lo, hi)` (written before the index existed, or while it
was reset) are always read; the covered range only grows by appends to the same table.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

import duckdb
import pyarrow as pa
import pyarrow.compute as pc

from logwarden.model.schema import CORE_COLUMNS
from logwarden.plan.words import WORD_CLASS, words
from logwarden.store.duckdb import catalog
from logwarden.store.duckdb.catalog import ARCHIVE_FILES
from logwarden.store.duckdb.partitions import quote_ident

BLOCK_ROWS = 8192  # 4 DuckDB vectors: a needle reads ~1% of a row group per hit (bench/query.py)
# A split-block bloom filter: each key sets 3 bits in one of SEGMENTS 512-bit segments, stored one row per
# (block, segment) as WORDS 64-bit integers, so a lookup tests one integer column of one segment per block
# (a vectorized integer scan) instead of reading whole filters.
WORDS = 8
SEGMENT_BITS = 64 * WORDS
SEGMENTS = 256  # 16 KiB per block (2 bytes per row): ~2% false positives at 12.5k keys per block
BLOOM_BITS = SEGMENT_BITS * SEGMENTS
_SEG_MASK = SEGMENTS - 1
_BIT_MASK = SEGMENT_BITS - 1
_SHIFTS = (8, 24, 40)  # the segment from the low 8 bits of the 64-bit hash, three bit positions above them
# More candidate ranges than this in one table: read it whole (a long OR of ranges costs more than it saves).
MAX_RANGES = 256

# Id fields whose exact values are indexed besides the message tokens: core columns, or attrs keys.
INDEXED_FIELDS: tuple[str, ...] = ("trace_id",)

BLOOM_TABLE = "_token_blooms"
COVERAGE_TABLE = "_token_coverage"
# A fixed string hashed at build time; if DuckDB's hash function ever changes, the stored filters are
# ignored rather than trusted (a mismatch would silently hide rows).
# The layout (block size, filter size) is part of it: filters of an older layout are dropped and rebuilt.
# So is the word rule: filters built when every non-ASCII character was a word character (`alpha—beta` one
# token) would hide `alpha`, so they are ignored and rebuilt.
PROBE = f"logwarden-token-probe/{BLOCK_ROWS}/{SEGMENTS}x{WORDS}/unicode-words"

DDL = (
    f"CREATE TABLE IF NOT EXISTS {BLOOM_TABLE} (tbl VARCHAR NOT NULL, block BIGINT NOT NULL, "
    "seg USMALLINT NOT NULL, "
    + "".join(f"w{k} UBIGINT NOT NULL, " for k in range(WORDS))
    + "PRIMARY KEY (tbl, block, seg))",
    f"CREATE TABLE IF NOT EXISTS {COVERAGE_TABLE} "
    "(tbl VARCHAR PRIMARY KEY, lo BIGINT NOT NULL, hi BIGINT NOT NULL, probe UBIGINT NOT NULL)",
    # The id fields a table's filters hold (comma-separated); added after the first release.
    f"ALTER TABLE {COVERAGE_TABLE} ADD COLUMN IF NOT EXISTS fields VARCHAR DEFAULT ''",
)

# bytes.translate table for pure-ASCII messages: ASCII word characters stay (letters lower-cased), other ASCII
# bytes become a space (messages with other characters take the Unicode path of `word_text`).
_WORD_ASCII = frozenset(b"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_")
_TRANSLATE = bytes(
    (b | 0x20 if chr(b).isalpha() else b) if b in _WORD_ASCII else (b if b >= 0x80 else 0x20) for b in range(256)
)
# One rule for what a word is, shared with the query language (plan/words.py): pruning never hides a match.
_SEPARATORS = "[^" + WORD_CLASS[1:-1] + "]+"


def _segment_sql(h: str) -> str:
    return f"CAST({h} & {_SEG_MASK} AS USMALLINT)"


def _bit_positions_sql(h: str) -> str:
    return "[" + ", ".join(f"CAST(({h} >> {s}) & {_BIT_MASK} AS INTEGER)" for s in _SHIFTS) + "]"


_WORD_COLUMNS = ", ".join(f"w{k}" for k in range(WORDS))
_WORD_AGGREGATES = ", ".join(
    f"coalesce(bit_or(CAST(1 AS UBIGINT) << (pos & 63)) FILTER (WHERE pos >> 6 = {k}), CAST(0 AS UBIGINT)) AS w{k}"
    for k in range(WORDS)
)


def segments_sql(fields: Sequence[str], rows: str = "_token_rows") -> str:
    """`SELECT block, seg, w0…w7` of the filters of `rows` (columns block, words = `word_text` of the
    message, and f<i> = the value of the i-th of the id `fields`)."""
    keys = [f"SELECT DISTINCT block, hash(unnest(string_split(words, ' '))) AS h FROM {rows}"]
    keys += [
        f"SELECT DISTINCT block, hash({_sql_str(field + '=')} || f{i}) FROM {rows} WHERE f{i} IS NOT NULL"
        for i, field in enumerate(fields)
    ]
    return f"""
SELECT block, seg, {_WORD_AGGREGATES}
FROM (
  SELECT block, {_segment_sql("h")} AS seg, unnest({_bit_positions_sql("h")}) AS pos
  FROM ({" UNION ALL ".join(keys)})
)
GROUP BY block, seg
"""


def _build_sql(fields: Sequence[str]) -> str:
    return (
        f"INSERT INTO {BLOOM_TABLE} SELECT $tbl, * FROM ({segments_sql(fields)}) "
        "ON CONFLICT (tbl, block, seg) DO UPDATE SET " + ", ".join(f"w{k} = w{k} | excluded.w{k}" for k in range(WORDS))
    )


def _sql_str(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def field_sql(field: str) -> str:
    """The SQL value of an indexed field: its core column, or the attrs key as text."""
    if field in CORE_COLUMNS:
        return quote_ident(field)
    return f"json_extract_string(attrs, {_sql_str('$.' + chr(34) + field + chr(34))})"


def field_key(field: str, value: str) -> str:
    """The index key for an exact field value (what a `<field> = <value>` test requires)."""
    return f"{field}={value}"


def create(con: duckdb.DuckDBPyConnection) -> None:
    """Create the index tables (replacing the filters of an older layout, which are rebuilt on append)."""
    old = con.execute(
        "SELECT count(*) FROM duckdb_columns() WHERE schema_name = 'main' AND table_name = ? AND column_name = 'bloom'",
        [BLOOM_TABLE],
    ).fetchall()[0][0]
    layout_changed = con.execute(
        "SELECT count(*) FROM duckdb_columns() WHERE schema_name = 'main' AND table_name = ? AND column_name = 'bits'",
        [BLOOM_TABLE],
    ).fetchall()[0][0]
    if old or layout_changed:
        con.execute(f"DROP TABLE {BLOOM_TABLE}")
    for statement in DDL:
        con.execute(statement)
    catalog.create(con)  # forgetting filters of dropped archive files reads the archive catalog


def word_text(messages: pa.Array | pa.ChunkedArray) -> pa.Array:
    """The messages lowered with every run of separators turned into a space. Pure-ASCII messages take one
    bytes.translate pass over the values buffer (about one memcpy); the others are lowered with Arrow's
    Unicode `utf8_lower` (the simple mapping DuckDB's `lower` uses) and split with an RE2 class."""
    arr = messages.combine_chunks() if isinstance(messages, pa.ChunkedArray) else messages
    if arr.type != pa.string():
        arr = arr.cast(pa.string())
    validity, offsets, data = arr.buffers()
    if data is None or len(arr) == 0:
        return arr
    translated = pa.py_buffer(data.to_pybytes().translate(_TRANSLATE))
    out = pa.StringArray.from_buffers(len(arr), offsets, translated, validity, arr.null_count, arr.offset)
    unicode_rows = pc.invert(pc.fill_null(pc.string_is_ascii(arr), True))
    if not pc.any(unicode_rows).as_py():
        return out
    fixed = pc.replace_substring_regex(pc.utf8_lower(arr.filter(unicode_rows)), _SEPARATORS, " ")
    replaced = pc.replace_with_mask(out, unicode_rows, fixed)
    assert isinstance(replaced, pa.StringArray)
    return replaced


def table_rows(con: duckdb.DuckDBPyConnection, table: str) -> int:
    """Rows in `table` as this transaction sees them: the rowid the next appended row gets."""
    return int(con.execute(f"SELECT count(*) FROM {quote_ident(table)}").fetchall()[0][0])


def index_appended(con: duckdb.DuckDBPyConnection, table: str, base: int, fields: Sequence[str] | None = None) -> None:
    """Add the rows of `table` from rowid `base` on (appended in this transaction) to its filters, with
    the values of the id `fields`.

    Reads the rows back rather than taking the Arrow batch: without preserve_insertion_order, DuckDB
    may store a batch's rows in another order, and only the table knows where each row went. Expects
    one INSERT into `table` per transaction since `base` was read (the applier makes exactly one).
    """
    fields = INDEXED_FIELDS if fields is None else fields
    name = quote_ident(table)
    probe = _probe(con)
    listed = ",".join(fields)
    cov = con.execute(f"SELECT lo, hi, probe, fields FROM {COVERAGE_TABLE} WHERE tbl = ?", [table]).fetchall()
    if not cov or int(cov[0][1]) != base or int(cov[0][2]) != probe or cov[0][3] != listed:
        # New table, or rows arrived unindexed since (the table was recreated, an older version wrote it,
        # the indexed fields changed): start covering here; everything before `base` is read in full.
        con.execute(f"DELETE FROM {BLOOM_TABLE} WHERE tbl = ?", [table])
        con.execute(
            f"INSERT OR REPLACE INTO {COVERAGE_TABLE} (tbl, lo, hi, probe, fields) VALUES (?, ?, ?, ?, ?)",
            [table, base, base, probe, listed],
        )
        _forget_dropped(con)
    # Inside the transaction the new rows carry provisional rowids (a large offset, in storage order);
    # the commit appends them in that order from `base`, which is how their final rowids follow.
    first, count = con.execute(f"SELECT min(rowid), count(*) FROM {name} WHERE rowid >= ?", [base]).fetchall()[0]
    if not count:
        return
    values = "".join(f", {field_sql(field)} AS f{i}" for i, field in enumerate(fields))
    rows = con.sql(
        f"SELECT ($base + rowid - $first) // {BLOCK_ROWS} AS block, message{values} FROM {name} WHERE rowid >= $first",
        params={"base": base, "first": first},
    ).to_arrow_table()
    words = rows.set_column(1, "words", word_text(rows.column("message")))
    con.register("_token_rows", words)
    try:
        con.execute(_build_sql(fields), {"tbl": table})
    finally:
        con.unregister("_token_rows")
    con.execute(f"UPDATE {COVERAGE_TABLE} SET hi = ? WHERE tbl = ?", [base + int(count), table])


def _forget_dropped(con: duckdb.DuckDBPyConnection) -> None:
    """Drop the filters of tables archived or dropped by retention and of archive files gone (runs when a
    table starts being indexed, about once per tenant-day, so the store's drop paths need not know about
    the index)."""
    gone = (
        "tbl NOT IN (SELECT table_name FROM duckdb_tables() WHERE schema_name = 'main') "
        f"AND tbl NOT IN (SELECT path FROM {ARCHIVE_FILES})"
    )
    con.execute(f"DELETE FROM {BLOOM_TABLE} WHERE {gone}")
    con.execute(f"DELETE FROM {COVERAGE_TABLE} WHERE {gone}")


def forget(con: duckdb.DuckDBPyConnection, table: str) -> None:
    """Drop a table's filters (call in the transaction that drops the table)."""
    con.execute(f"DELETE FROM {BLOOM_TABLE} WHERE tbl = ?", [table])
    con.execute(f"DELETE FROM {COVERAGE_TABLE} WHERE tbl = ?", [table])


# --- query side ------------------------------------------------------------------------------


def query_tokens(text: str) -> list[str]:
    """The tokens every bounded match of `text` (see `bounded_regex`) contains whole, lower-cased.

    Only pure-ASCII tokens: messages are lowered by Arrow and DuckDB, the query by Python, which agree on
    every character that lowers to ASCII (`İ`, the Kelvin sign) but need not on others of later Unicode
    versions.
    """
    out: list[str] = []
    for token in words(text):
        if token.isascii() and token not in out:
            out.append(token)
    return out


def candidate_ranges(cur: duckdb.DuckDBPyConnection, table: str, tokens: Sequence[str]) -> list[tuple[int, int]] | None:
    """Inclusive rowid ranges of `table` that may hold a row containing every one of `tokens` (message
    tokens, or `field_key`s of indexed fields).

    None when the index cannot narrow the search (no tokens, no filters for the table, filters built
    by another hash function or layout, too many ranges): read the whole table. Call inside the reading
    transaction. Keys of fields the table's filters do not hold are ignored.
    """
    return candidate_ranges_of(cur, [table], tokens).get(table)


def candidate_ranges_of(
    cur: duckdb.DuckDBPyConnection, tables: Sequence[str], tokens: Sequence[str]
) -> dict[str, list[tuple[int, int]]]:
    """`candidate_ranges` of each of `tables` the index can narrow, in three queries whatever their number."""
    if not tokens or not tables:
        return {}
    keys = list(dict.fromkeys(tokens))
    hashed = _hashes(cur, [PROBE, *keys])
    probe, hashes = hashed[0], dict(zip(keys, hashed[1:], strict=True))
    names = {f"n{i}": table for i, table in enumerate(tables)}
    covered = cur.sql(
        f"SELECT tbl, lo, hi, fields FROM {COVERAGE_TABLE} WHERE tbl IN ({_params(names)}) AND probe = $probe",
        params={**names, "probe": probe},
    ).fetchall()
    # Tables grouped by the keys their filters can answer (fields indexed when they were built).
    groups: dict[tuple[str, ...], list[tuple[str, int, int]]] = {}
    for table, lo, hi, fields in covered:
        held = set(filter(None, str(fields or "").split(",")))
        usable = tuple(k for k in keys if "=" not in k or k.split("=", 1)[0] in held)
        if usable:
            groups.setdefault(usable, []).append((table, int(lo), int(hi)))
    out: dict[str, list[tuple[int, int]]] = {}
    for usable, members in groups.items():
        # A plain IN list of bound names: DuckDB pushes it into the scan (a subquery would be a join).
        group = {f"n{i}": m[0] for i, m in enumerate(members)}
        listed = _params(group)
        selects = []
        for key in usable:
            h = hashes[key]
            tests = [f"seg = {h & _SEG_MASK}"]
            for s in _SHIFTS:
                pos = (h >> s) & _BIT_MASK
                tests.append(f"w{pos >> 6} & CAST({1 << (pos & 63)} AS UBIGINT) <> 0")
            selects.append(f"SELECT tbl, block FROM {BLOOM_TABLE} WHERE tbl IN ({listed}) AND {' AND '.join(tests)}")
        sql = f"SELECT tbl, block FROM ({' INTERSECT '.join(selects)}) ORDER BY tbl, block"
        found: dict[str, list[int]] = {}
        for table, block in cur.sql(sql, params=group).fetchall():
            found.setdefault(table, []).append(int(block))
        for table, lo, hi in members:
            ranges = _ranges(found.get(table, []), lo, hi)
            if ranges is not None:
                out[table] = ranges
    return out


def _params(names: dict[str, str]) -> str:
    return ", ".join(f"${name}" for name in names)


def _ranges(blocks: list[int], lo: int, hi: int) -> list[tuple[int, int]] | None:
    ranges: list[tuple[int, int]] = []
    if lo > 0:
        ranges.append((0, lo - 1))
    for block in blocks:
        first = max(block * BLOCK_ROWS, lo)
        last = min((block + 1) * BLOCK_ROWS, hi) - 1
        if first <= last:
            ranges.append((first, last))
    ranges.append((hi, 1 << 62))  # rows appended after the snapshot's filters: none, or unindexed ones
    merged = _merge(ranges)
    return merged if len(merged) <= MAX_RANGES else None


def rowid_filter_sql(
    ranges: Iterable[tuple[int, int]], params: dict[str, Any], prefix: str, column: str = "rowid"
) -> str:
    """`(rowid BETWEEN $<prefix>0 AND $<prefix>1 OR …)` binding the ranges into `params`."""
    clauses = []
    for i, (first, last) in enumerate(ranges):
        params[f"{prefix}{2 * i}"] = first
        params[f"{prefix}{2 * i + 1}"] = last
        clauses.append(f"{column} BETWEEN ${prefix}{2 * i} AND ${prefix}{2 * i + 1}")
    return "(" + " OR ".join(clauses) + ")" if clauses else "FALSE"


def table_filters(
    cur: duckdb.DuckDBPyConnection,
    tables: Iterable[str],
    tokens: Sequence[str],
    params: dict[str, Any],
    *,
    column: str = "rowid",
    prefix: str = "_tok",
) -> dict[str, str]:
    """A rowid predicate for each of `tables` the index can narrow for rows holding every one of `tokens`;
    tables left out must be read whole. Binds the ranges into `params` (names `<prefix><i>_<j>`).
    Archive files are indexed by path, their rows by `file_row_number` (the `column` to test)."""
    filters: dict[str, str] = {}
    names = list(tables)
    found = candidate_ranges_of(cur, names, tokens)
    for i, table in enumerate(names):
        if table in found:
            filters[table] = rowid_filter_sql(found[table], params, f"{prefix}{i}_", column)
    return filters


def _merge(ranges: list[tuple[int, int]]) -> list[tuple[int, int]]:
    merged: list[tuple[int, int]] = []
    for first, last in sorted(ranges):
        if merged and first <= merged[-1][1] + 1:
            merged[-1] = (merged[-1][0], max(merged[-1][1], last))
        else:
            merged.append((first, last))
    return merged


def _hashes(cur: duckdb.DuckDBPyConnection, keys: Sequence[str]) -> list[int]:
    """DuckDB's hash of each key, the one the filters were built with (integers in the SQL constant-fold)."""
    rows = cur.execute("SELECT hash(k) FROM unnest(?) AS t(k)", [list(keys)]).fetchall()
    return [int(h) for (h,) in rows]


def _probe(con: duckdb.DuckDBPyConnection) -> int:
    return int(con.execute("SELECT hash(?)", [PROBE]).fetchall()[0][0])


def index_bytes(con: duckdb.DuckDBPyConnection) -> int:
    """The filters' payload in bytes (WORDS 64-bit words per stored segment), for reports and benchmarks."""
    return int(con.execute(f"SELECT count(*) FROM {BLOOM_TABLE}").fetchall()[0][0]) * WORDS * 8


REBUILD_BLOCKS = 64  # blocks per pass of `rebuild`: bounds its memory to ~500k messages at a time


def needs_rebuild(con: duckdb.DuckDBPyConnection, table: str, fields: Sequence[str] | None = None) -> bool:
    """Whether `table` has rows its filters do not cover (an older layout or version, other indexed fields)."""
    fields = INDEXED_FIELDS if fields is None else fields
    rows = table_rows(con, table)
    cov = con.execute(f"SELECT lo, hi, probe, fields FROM {COVERAGE_TABLE} WHERE tbl = ?", [table]).fetchall()
    if not cov:
        return rows > 0
    lo, hi, probe, held = cov[0]
    return bool(rows) and (int(lo) != 0 or int(hi) != rows or int(probe) != _probe(con) or held != ",".join(fields))


def rebuild(con: duckdb.DuckDBPyConnection, table: str, fields: Sequence[str] | None = None) -> None:
    """Build the filters of every row of `table` afresh, in passes of REBUILD_BLOCKS blocks (call inside the
    caller's transaction, with no other writer of the table: rowids are the committed ones)."""
    fields = INDEXED_FIELDS if fields is None else fields
    forget(con, table)
    rows = table_rows(con, table)
    values = "".join(f", {field_sql(field)} AS f{i}" for i, field in enumerate(fields))
    step = REBUILD_BLOCKS * BLOCK_ROWS
    for first in range(0, rows, step):
        part = con.sql(
            f"SELECT rowid // {BLOCK_ROWS} AS block, message{values} FROM {quote_ident(table)} "
            "WHERE rowid BETWEEN $first AND $last",
            params={"first": first, "last": first + step - 1},
        ).to_arrow_table()
        con.register("_token_rows", part.set_column(1, "words", word_text(part.column("message"))))
        try:
            con.execute(_build_sql(fields), {"tbl": table})
        finally:
            con.unregister("_token_rows")
    con.execute(
        f"INSERT OR REPLACE INTO {COVERAGE_TABLE} (tbl, lo, hi, probe, fields) VALUES (?, 0, ?, ?, ?)",
        [table, rows, _probe(con), ",".join(fields)],
    )
