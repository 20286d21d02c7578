"""Token bloom filters over blocks of hot-store rows, so a search for a rare word reads a few row groups.

A full scan of `message` costs ~50 ms per million lines on this machine (decompress + lower + search);
a needle (a request id, a trace id, an error code) is in a handful of lines. The applier therefore
keeps, per day-partition table and per block of `BLOCK_ROWS` rowids (one DuckDB row group), a bloom
filter of the message's tokens, written in the same transaction as the rows. A search that requires
a token asks the filters which blocks may hold it and reads only those rowid ranges.

Tokens are runs of word characters — ASCII letters, digits, `_` and every non-ASCII byte — with ASCII
letters lower-cased; everything else separates tokens (`marker=Zq7/x` → `marker`, `zq7`, `x`). Pruning
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

from logwarden.plan.words import WORD_RE
from logwarden.store.duckdb.partitions import quote_ident

BLOCK_ROWS = 122_880  # DuckDB's row group size: a candidate block costs one row group read
BLOOM_BITS = 1 << 20  # 128 KiB per block: ~3% false positives at 110k distinct tokens per block
_BIT_MASK = BLOOM_BITS - 1
_SHIFTS = (0, 21, 42)  # three bit positions from one 64-bit hash

BLOOM_TABLE = "_token_blooms"
COVERAGE_TABLE = "_token_coverage"
# A fixed string hashed at build time; if DuckDB's hash function ever changes, the stored filters are
# ignored rather than trusted (a mismatch would silently hide rows).
_PROBE = "logwarden-token-probe"

DDL = (
    f"CREATE TABLE IF NOT EXISTS {BLOOM_TABLE} "
    "(tbl VARCHAR NOT NULL, block BIGINT NOT NULL, bloom BIT NOT NULL, PRIMARY KEY (tbl, block))",
    f"CREATE TABLE IF NOT EXISTS {COVERAGE_TABLE} "
    "(tbl VARCHAR PRIMARY KEY, lo BIGINT NOT NULL, hi BIGINT NOT NULL, probe UBIGINT NOT NULL)",
)

# bytes.translate table: ASCII word characters stay (letters lower-cased), other ASCII bytes become a
# space, non-ASCII bytes stay, so UTF-8 sequences survive intact and count as word characters.
_WORD_ASCII = frozenset(b"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_")
_TRANSLATE = bytes(
    (b | 0x20 if chr(b).isalpha() else b) if b in _WORD_ASCII else (b if b >= 0x80 else 0x20) for b in range(256)
)
# One rule for what a word is, shared with the query language (plan/words.py): pruning never hides a match.
_WORD_RE = WORD_RE


def _bit_positions_sql(h: str) -> str:
    return "[" + ", ".join(f"CAST(({h} >> {s}) & {_BIT_MASK} AS INTEGER)" for s in _SHIFTS) + "]"


_BUILD_SQL = f"""
INSERT INTO {BLOOM_TABLE}
SELECT $tbl, block, bitstring_agg(pos, 0, {BLOOM_BITS - 1})
FROM (
  SELECT block, unnest({_bit_positions_sql("h")}) AS pos
  FROM (SELECT DISTINCT block, hash(unnest(string_split(words, ' '))) AS h FROM _token_rows)
)
GROUP BY block
ON CONFLICT (tbl, block) DO UPDATE SET bloom = bloom | excluded.bloom
"""


def create(con: duckdb.DuckDBPyConnection) -> None:
    for statement in DDL:
        con.execute(statement)


def word_text(messages: pa.Array | pa.ChunkedArray) -> pa.Array:
    """The messages with every separator byte turned into a space and ASCII lower-cased (one pass over
    the values buffer; offsets and nulls are reused, so this costs about one memcpy)."""
    arr = messages.combine_chunks() if isinstance(messages, pa.ChunkedArray) else messages
    if arr.type != pa.string():
        arr = arr.cast(pa.string())
    validity, offsets, data = arr.buffers()
    if data is None or len(arr) == 0:
        return arr
    translated = pa.py_buffer(data.to_pybytes().translate(_TRANSLATE))
    return pa.StringArray.from_buffers(len(arr), offsets, translated, validity, arr.null_count, arr.offset)


def table_rows(con: duckdb.DuckDBPyConnection, table: str) -> int:
    """Rows in `table` as this transaction sees them: the rowid the next appended row gets."""
    return int(con.execute(f"SELECT count(*) FROM {quote_ident(table)}").fetchall()[0][0])


def index_appended(con: duckdb.DuckDBPyConnection, table: str, base: int) -> None:
    """Add the rows of `table` from rowid `base` on (appended in this transaction) to its filters.

    Reads the rows back rather than taking the Arrow batch: without preserve_insertion_order, DuckDB
    may store a batch's rows in another order, and only the table knows where each row went. Expects
    one INSERT into `table` per transaction since `base` was read (the applier makes exactly one).
    """
    name = quote_ident(table)
    probe = _probe(con)
    cov = con.execute(f"SELECT lo, hi, probe FROM {COVERAGE_TABLE} WHERE tbl = ?", [table]).fetchall()
    if not cov or int(cov[0][1]) != base or int(cov[0][2]) != probe:
        # New table, or rows arrived unindexed since (the table was recreated, an older version wrote it):
        # start covering here; everything before `base` is read in full by searches.
        con.execute(f"DELETE FROM {BLOOM_TABLE} WHERE tbl = ?", [table])
        con.execute(f"INSERT OR REPLACE INTO {COVERAGE_TABLE} VALUES (?, ?, ?, ?)", [table, base, base, probe])
        _forget_dropped(con)
    # Inside the transaction the new rows carry provisional rowids (a large offset, in storage order);
    # the commit appends them in that order from `base`, which is how their final rowids follow.
    first, count = con.execute(f"SELECT min(rowid), count(*) FROM {name} WHERE rowid >= ?", [base]).fetchall()[0]
    if not count:
        return
    rows = con.sql(
        f"SELECT ($base + rowid - $first) // {BLOCK_ROWS} AS block, message FROM {name} WHERE rowid >= $first",
        params={"base": base, "first": first},
    ).to_arrow_table()
    words = pa.table({"block": rows.column("block"), "words": word_text(rows.column("message"))})
    con.register("_token_rows", words)
    try:
        con.execute(_BUILD_SQL, {"tbl": table})
    finally:
        con.unregister("_token_rows")
    con.execute(f"UPDATE {COVERAGE_TABLE} SET hi = ? WHERE tbl = ?", [base + int(count), table])


def _forget_dropped(con: duckdb.DuckDBPyConnection) -> None:
    """Drop the filters of tables archived or dropped by retention (runs when a table starts being indexed,
    about once per tenant-day, so the store's drop paths need not know about the index)."""
    gone = "tbl NOT IN (SELECT table_name FROM duckdb_tables() WHERE schema_name = 'main')"
    con.execute(f"DELETE FROM {BLOOM_TABLE} WHERE {gone}")
    con.execute(f"DELETE FROM {COVERAGE_TABLE} WHERE {gone}")


def forget(con: duckdb.DuckDBPyConnection, table: str) -> None:
    """Drop a table's filters (call in the transaction that drops the table)."""
    con.execute(f"DELETE FROM {BLOOM_TABLE} WHERE tbl = ?", [table])
    con.execute(f"DELETE FROM {COVERAGE_TABLE} WHERE tbl = ?", [table])


# --- query side ------------------------------------------------------------------------------


def query_tokens(text: str) -> list[str]:
    """The tokens every bounded match of `text` (see `bounded_regex`) contains whole, lower-cased.

    Only pure-ASCII tokens: the index lower-cases ASCII letters only, so a token with other letters
    could be stored in another case than the query's.
    """
    out: list[str] = []
    for token in _WORD_RE.findall(text):
        if token.isascii():
            low = token.lower()
            if low not in out:
                out.append(low)
    return out


def candidate_ranges(cur: duckdb.DuckDBPyConnection, table: str, tokens: Sequence[str]) -> list[tuple[int, int]] | None:
    """Inclusive rowid ranges of `table` that may hold a row containing every one of `tokens`.

    None when the index cannot narrow the search (no tokens, no filters for the table, or filters built
    by another hash function): read the whole table. Call inside the reading transaction.
    """
    if not tokens:
        return None
    cov = cur.execute(f"SELECT lo, hi, probe FROM {COVERAGE_TABLE} WHERE tbl = ?", [table]).fetchall()
    if not cov or int(cov[0][2]) != _probe(cur):
        return None
    lo, hi = int(cov[0][0]), int(cov[0][1])
    params: dict[str, Any] = {"tbl": table}
    conditions = []
    for i, token in enumerate(tokens):
        params[f"t{i}"] = token
        conditions += [f"get_bit(bloom, CAST((hash($t{i}) >> {s}) & {_BIT_MASK} AS INTEGER)) = 1" for s in _SHIFTS]
    blocks = cur.sql(
        f"SELECT block FROM {BLOOM_TABLE} WHERE tbl = $tbl AND {' AND '.join(conditions)} ORDER BY block",
        params=params,
    ).fetchall()
    ranges: list[tuple[int, int]] = []
    if lo > 0:
        ranges.append((0, lo - 1))
    for (block,) in blocks:
        first = max(int(block) * BLOCK_ROWS, lo)
        last = min((int(block) + 1) * BLOCK_ROWS, hi) - 1
        if first <= last:
            ranges.append((first, last))
    ranges.append((hi, 1 << 62))  # rows appended after the snapshot's filters: none, or unindexed ones
    return _merge(ranges)


def rowid_filter_sql(ranges: Iterable[tuple[int, int]], params: dict[str, Any], prefix: str) -> str:
    """`(rowid BETWEEN $<prefix>0 AND $<prefix>1 OR …)` binding the ranges into `params`."""
    clauses = []
    for i, (first, last) in enumerate(ranges):
        params[f"{prefix}{2 * i}"] = first
        params[f"{prefix}{2 * i + 1}"] = last
        clauses.append(f"rowid BETWEEN ${prefix}{2 * i} AND ${prefix}{2 * i + 1}")
    return "(" + " OR ".join(clauses) + ")" if clauses else "FALSE"


def table_filters(
    cur: duckdb.DuckDBPyConnection, tables: Iterable[str], tokens: Sequence[str], params: dict[str, Any]
) -> dict[str, str]:
    """A rowid predicate for each of `tables` the index can narrow for rows holding every one of `tokens`;
    tables left out must be read whole. Binds the ranges into `params` (names `_tok<i>_<j>`)."""
    filters: dict[str, str] = {}
    for i, table in enumerate(tables):
        ranges = candidate_ranges(cur, table, tokens)
        if ranges is not None:
            filters[table] = rowid_filter_sql(ranges, params, f"_tok{i}_")
    return filters


def _merge(ranges: list[tuple[int, int]]) -> list[tuple[int, int]]:
    merged: list[tuple[int, int]] = []
    for first, last in sorted(ranges):
        if merged and first <= merged[-1][1] + 1:
            merged[-1] = (merged[-1][0], max(merged[-1][1], last))
        else:
            merged.append((first, last))
    return merged


def _probe(con: duckdb.DuckDBPyConnection) -> int:
    return int(con.execute("SELECT hash(?)", [_PROBE]).fetchall()[0][0])
