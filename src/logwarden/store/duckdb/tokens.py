"""Bloom filters over small blocks of hot-store rows, so a search for a rare word or one trace reads a few
percent of the data.

A full scan of `message` costs ~50 ms per million lines on this machine (decompress + lower + search);
a needle (a request id, a trace id, an error code) is in a handful of lines. The applier therefore
keeps, per day-partition table and per block of `BLOCK_ROWS` rowids (one DuckDB vector; a row group is
60 blocks), a bloom filter of the message's tokens and of the values of the id fields (`INDEXED_FIELDS`
and `store.indexed_fields`, as the keys `<field>=<value>`, which no message token can equal: `=` separates
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

from logwarden.plan.duckdb_filter import attr_path
from logwarden.plan.filter import FieldRef
from logwarden.plan.words import WORD_CLASS, words
from logwarden.store.duckdb import catalog, token_runs
from logwarden.store.duckdb.catalog import ARCHIVE_FILES
from logwarden.store.duckdb.partitions import quote_ident
from logwarden.store.sql_quote import quote_literal

BLOCK_ROWS = 2048  # one DuckDB vector: a needle reads ~0.2% of a row group per hit (bench/query.py)
# A split-block bloom filter (the Parquet layout): each key picks one of SEGMENTS 512-bit segments and sets one
# bit in each of its WORDS 64-bit words, stored segment-major in runs of blocks (token_runs.py), so a lookup reads
# one segment's words per block instead of whole filters.
# Eight bits per key in words of ~45 keys each: ~0.5% false positives per key and block (three bits per key
# in the same space gave ~1.5-3%, and every false positive block costs DuckDB reads).
WORDS = 8
SEGMENT_BITS = 64 * WORDS
# 8 KiB per block (4 bytes per row), for the ~3.5k distinct keys of a block of 2,048 typical lines (bench/query.py:
# ~3.4k words and ~100 trace ids); 64 segments (2 bytes per row) made a trace read 26 rowid ranges for its 4 lines.
SEGMENTS = 128
BLOOM_BITS = SEGMENT_BITS * SEGMENTS
_SEG_MASK = SEGMENTS - 1
# Odd 32-bit multipliers (Parquet's SBBF salts): word k's bit is the top 6 bits of (hash >> 32) * salt mod 2^32.
_SALTS = (0x47B6137B, 0x44974D91, 0x8824AD5B, 0xA2B7289D, 0x705495C7, 0x2DF1424B, 0x9EFC4947, 0x5C6BFB31)
INDEX_PASS_ROWS = 32 * BLOCK_ROWS  # rows an apply's filters are built from at a time (`index_appended`)
# Most rowid ranges one table's filter tests: DuckDB tests an OR of ranges on every row of the blocks it reads, so a
# common word's hundreds of ranges cost more than they save (246 ranges over 10M lines: a phrase's statement 195 →
# 98 ms of CPU as 16). Past it the nearest ranges are joined: a few more rows read, each tested against fewer.
MAX_RANGES = 16

# Id fields whose exact values are indexed besides the message tokens, as the query language names them: core
# columns, or attribute keys (`request_id`; `attrs.<name>` for a key named like a core column). `store.indexed_fields`
# adds to it (`configure`, recorded in FIELDS_TABLE so that the applier, a rebuild and the archive agree).
INDEXED_FIELDS: tuple[str, ...] = ("trace_id",)
# Core columns whose exact values may be indexed: text ids compared as text (not level, normalized; not numbers).
INDEXABLE_CORE = frozenset({"trace_id", "span_id", "log_id", "host", "service", "source", "pattern_id"})
FIELDS_TABLE = "_token_fields"

BLOOM_TABLE = token_runs.RUNS_TABLE
# Where filters of a row per (block, segment) were kept before token_runs.py: dropped at start, the tables rebuilt.
OLD_BLOOM_TABLE = "_token_blooms"
COVERAGE_TABLE = "_token_coverage"
# A fixed string hashed at build time; if DuckDB's hash function ever changes, the stored filters are
# ignored rather than trusted (a mismatch would silently hide rows).
# The layout (block size, filter size) is part of it: filters of an older layout are dropped and rebuilt.
# So is the word rule: filters built when every non-ASCII character was a word character (`alpha—beta` one
# token) would hide `alpha`, so they are ignored and rebuilt.
PROBE = f"logwarden-token-probe/{BLOCK_ROWS}/{SEGMENTS}x{WORDS}/sbbf-runs{token_runs.RUN_BLOCKS}/unicode-words"

DDL = (
    token_runs.DDL,
    f"CREATE TABLE IF NOT EXISTS {COVERAGE_TABLE} "
    "(tbl VARCHAR PRIMARY KEY, lo BIGINT NOT NULL, hi BIGINT NOT NULL, probe UBIGINT NOT NULL)",
    # The id fields a table's filters hold (comma-separated); added after the first release.
    f"ALTER TABLE {COVERAGE_TABLE} ADD COLUMN IF NOT EXISTS fields VARCHAR DEFAULT ''",
    # The indexed fields of this store (comma-separated, one row; none: INDEXED_FIELDS).
    f"CREATE TABLE IF NOT EXISTS {FIELDS_TABLE} (fields VARCHAR NOT NULL)",
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


def _bit(h: int, k: int) -> int:
    """The bit key hash `h` sets in word `k` of its segment (as `_WORD_AGGREGATES` computes it in SQL)."""
    return (((h >> 32) * _SALTS[k]) & 0xFFFFFFFF) >> 26


# (h >> 32) * salt < 2^64: no UBIGINT overflow; the low 32 bits' top 6 bits pick the bit.
_WORD_AGGREGATES = ", ".join(
    f"bit_or(CAST(1 AS UBIGINT) << ((((h >> 32) * CAST({salt} AS UBIGINT)) & 4294967295) >> 26)) AS w{k}"
    for k, salt in enumerate(_SALTS)
)


def segments_sql(fields: Sequence[str], rows: str = "_token_rows") -> str:
    """`SELECT block, seg, w0…w7` of the filters of `rows` (columns block, words = `word_text` of the
    message, and f<i> = the value of the i-th of the id `fields`)."""
    keys = [f"SELECT DISTINCT block, hash(unnest(string_split(words, ' '))) AS h FROM {rows}"]
    keys += [
        f"SELECT DISTINCT block, hash({quote_literal(field + '=')} || f{i}) FROM {rows} WHERE f{i} IS NOT NULL"
        for i, field in enumerate(fields)
    ]
    return f"""
SELECT block, {_segment_sql("h")} AS seg, {_WORD_AGGREGATES}
FROM ({" UNION ALL ".join(keys)})
GROUP BY ALL
"""


def store_segments(con: duckdb.DuckDBPyConnection, table: str, segments: pa.Table) -> None:
    """Add filters (block, seg, w0…w7 rows of `segments_sql`) to `table`'s, OR-ed with those it has for the same
    blocks (token_runs.py)."""
    token_runs.merge(con, table, segments, SEGMENTS, WORDS)


def _build(con: duckdb.DuckDBPyConnection, table: str, fields: Sequence[str]) -> None:
    """The filters of the rows registered as `_token_rows`, added to `table`'s."""
    store_segments(con, table, con.sql(segments_sql(fields)).to_arrow_table())


def field_sql(field: str) -> str:
    """The SQL value of an indexed field: its core column, or the attribute's text as a query reads it
    (`json_extract_string(attrs, '/<key>')`, which a typed attribute column equals)."""
    ref = FieldRef.parse(field)
    if ref.core:
        return quote_ident(ref.name)
    return f"json_extract_string(attrs, {quote_literal(attr_path(ref.name))})"


def field_key(field: str, value: str) -> str:
    """The index key for an exact field value (what a `<field> = <value>` test requires)."""
    return f"{field}={value}"


def indexable(field: str) -> str:
    """The name under which `field` (as written in config or a query) is indexed; ValueError if it cannot be."""
    ref = FieldRef.parse(field.strip())
    if not ref.name or "," in ref.name or "=" in ref.name:
        raise ValueError(f"{field!r}: a field name without ',' or '='")
    if ref.core and ref.name not in INDEXABLE_CORE:
        raise ValueError(f"{field!r}: core field not indexable (use one of {', '.join(sorted(INDEXABLE_CORE))})")
    return str(ref)


# Every field some store of this process indexes: the query compiler asks only for keys of these (a key no table
# holds costs a lookup for nothing). A hint, never trusted: each table's filters say which fields they hold.
_KNOWN_FIELDS: set[str] = set(INDEXED_FIELDS)


def may_be_indexed(ref: FieldRef) -> bool:
    """Whether an exact test of `ref` may be narrowed by the index (some store here indexes that field)."""
    return str(ref) in _KNOWN_FIELDS or str(ref) in INDEXED_FIELDS


def configure(con: duckdb.DuckDBPyConnection, extra: Sequence[str]) -> tuple[str, ...]:
    """Record the indexed fields: INDEXED_FIELDS and the `extra` ones (`store.indexed_fields`). Tables indexed
    with other fields are rebuilt by `migrate.index_partitions` (their old filters are never trusted for a
    field they lack). Returns the fields."""
    try:
        fields = tuple(dict.fromkeys([*INDEXED_FIELDS, *(indexable(f) for f in extra)]))
    except ValueError as exc:
        raise ValueError(f"store.indexed_fields: {exc}") from None
    for statement in DDL:
        con.execute(statement)
    listed = ",".join(fields)
    if con.execute(f"SELECT fields FROM {FIELDS_TABLE}").fetchall() != [(listed,)]:
        con.execute(f"DELETE FROM {FIELDS_TABLE}")
        con.execute(f"INSERT INTO {FIELDS_TABLE} VALUES (?)", [listed])
    _KNOWN_FIELDS.update(fields)
    return fields


def configured_fields(con: duckdb.DuckDBPyConnection) -> tuple[str, ...]:
    """The indexed fields recorded by `configure` (INDEXED_FIELDS when none were)."""
    rows = con.execute(f"SELECT fields FROM {FIELDS_TABLE}").fetchall()
    return tuple(filter(None, str(rows[0][0]).split(","))) if rows else INDEXED_FIELDS


def create(con: duckdb.DuckDBPyConnection) -> None:
    """Create the index tables (dropping the filters of an older layout: their coverage rows name another PROBE, so
    the tables are rebuilt at start and archive files by `reindex`, read whole until then)."""
    con.execute(f"DROP TABLE IF EXISTS {OLD_BLOOM_TABLE}")
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
    fields = configured_fields(con) if fields is None else fields
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
    # In passes of INDEX_PASS_ROWS: the words of a whole transaction and their DISTINCT were the applier's highest
    # memory (py-spy at each new high of RSS). A block cut by a pass boundary is OR-ed together by `merge`.
    for start in range(int(first), int(first) + int(count), INDEX_PASS_ROWS):
        rows = con.sql(
            f"SELECT ($base + rowid - $first) // {BLOCK_ROWS} AS block, message{values} FROM {name} "
            "WHERE rowid >= $start AND rowid < $stop",
            params={"base": base, "first": first, "start": start, "stop": start + INDEX_PASS_ROWS},
        ).to_arrow_table()
        words = rows.set_column(1, "words", word_text(rows.column("message")))
        del rows
        con.register("_token_rows", words)
        try:
            _build(con, table, fields)
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
    """`candidate_ranges` of each of `tables` the index can narrow, in one statement whatever their number.

    The statement returns each table's coverage row and the runs of the keys' segments (token_runs.py); the blocks
    whose filter may hold every key a table's filters can answer are found and intersected here, in numpy.
    """
    if not tokens or not tables:
        return {}
    keys = list(dict.fromkeys(tokens))
    hashed = _hashes(cur, [PROBE, *keys])
    probe, hashes = hashed[0], hashed[1:]
    by_segment: dict[int, list[int]] = {}
    for i, h in enumerate(hashes):
        by_segment.setdefault(h & _SEG_MASK, []).append(i)
    masks = token_runs.masks(hashes, _bit, WORDS)
    listed = ", ".join("?" for _ in tables)
    # Plain IN lists of bound values: DuckDB pushes them into the scan (a subquery would be a join).
    sql = (
        f"SELECT tbl, lo, hi, fields, NULL::USMALLINT AS seg, NULL::BIGINT AS first_block, NULL::BLOB AS words "
        f"FROM {COVERAGE_TABLE} WHERE tbl IN ({listed}) AND probe = ? UNION ALL "
        f"SELECT tbl, NULL, NULL, NULL, seg, first_block, words FROM {BLOOM_TABLE} "
        f"WHERE tbl IN ({listed}) AND seg IN ({', '.join(str(seg) for seg in by_segment)})"
    )
    # execute + fetchall: a relation (`cur.sql`) would bind the statement twice.
    rows = cur.execute(sql, [*tables, probe, *tables]).fetchall()
    covered = {str(r[0]): (int(r[1]), int(r[2]), str(r[3] or "")) for r in rows if r[6] is None}
    found: dict[tuple[str, int], set[int]] = {}
    for table, _lo, _hi, _fields, seg, first, blob in rows:
        if blob is None:
            continue
        for i in by_segment[int(seg)]:
            found.setdefault((str(table), i), set()).update(token_runs.blocks_holding(int(first), blob, masks[i]))
    out: dict[str, list[tuple[int, int]]] = {}
    for table, (lo, hi, fields) in covered.items():
        held = set(filter(None, fields.split(",")))
        # Keys of fields the table's filters were built without say nothing about it.
        usable = [i for i, key in enumerate(keys) if "=" not in key or key.split("=", 1)[0] in held]
        if not usable:
            continue
        blocks = set.intersection(*(found.get((table, i), set()) for i in usable))
        out[table] = _ranges(sorted(blocks), lo, hi)
    return out


def _ranges(blocks: list[int], lo: int, hi: int) -> list[tuple[int, int]]:
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
    return _coarsen(merged, MAX_RANGES) if len(merged) > MAX_RANGES else merged


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


def _coarsen(ranges: list[tuple[int, int]], most: int) -> list[tuple[int, int]]:
    """Sorted, disjoint `ranges` joined across their smallest gaps until `most` remain (covering every row they did)."""
    gaps = sorted(range(len(ranges) - 1), key=lambda i: (ranges[i + 1][0] - ranges[i][1], i))
    cut = sorted(gaps[len(ranges) - most :])  # the largest gaps stay as the boundaries between ranges
    out: list[tuple[int, int]] = []
    first = ranges[0][0]
    for i in cut:
        out.append((first, ranges[i][1]))
        first = ranges[i + 1][0]
    out.append((first, ranges[-1][1]))
    return out


def _merge(ranges: list[tuple[int, int]]) -> list[tuple[int, int]]:
    merged: list[tuple[int, int]] = []
    for first, last in sorted(ranges):
        if merged and first <= merged[-1][1] + 1:
            merged[-1] = (merged[-1][0], max(merged[-1][1], last))
        else:
            merged.append((first, last))
    return merged


# DuckDB's hash of recent keys: a query's lookup then needs no round trip to hash its words (the hash
# function is fixed for the process; PROBE guards the stored filters across versions). Bounded: cleared when full.
_HASH_CACHE: dict[str, int] = {}
_HASH_CACHE_SIZE = 4096


def _hashes(cur: duckdb.DuckDBPyConnection, keys: Sequence[str]) -> list[int]:
    """DuckDB's hash of each key, the one the filters were built with (integers in the SQL constant-fold)."""
    out: dict[str, int] = {}
    for key in keys:
        cached = _HASH_CACHE.get(key)  # get, not `in` then []: another reader may clear the cache meanwhile
        if cached is not None:
            out[key] = cached
    missing = [k for k in dict.fromkeys(keys) if k not in out]
    if missing:
        found = {
            str(k): int(h) for k, h in cur.execute("SELECT k, hash(k) FROM unnest(?) AS t(k)", [missing]).fetchall()
        }
        if len(_HASH_CACHE) + len(found) > _HASH_CACHE_SIZE:
            _HASH_CACHE.clear()
        _HASH_CACHE.update(found)
        out.update(found)
    return [out[k] for k in keys]


def _probe(con: duckdb.DuckDBPyConnection) -> int:
    return _hashes(con, [PROBE])[0]


def index_bytes(con: duckdb.DuckDBPyConnection) -> int:
    """The filters' payload in bytes (WORDS 64-bit words per block and segment), for reports and benchmarks."""
    return token_runs.stored_bytes(con)


REBUILD_BLOCKS = 256  # blocks per pass of `rebuild`: bounds its memory to ~500k messages at a time


def needs_rebuild(con: duckdb.DuckDBPyConnection, table: str, fields: Sequence[str] | None = None) -> bool:
    """Whether `table` has rows its filters do not cover (an older layout or version, other indexed fields)."""
    fields = configured_fields(con) if fields is None else fields
    rows = table_rows(con, table)
    cov = con.execute(f"SELECT lo, hi, probe, fields FROM {COVERAGE_TABLE} WHERE tbl = ?", [table]).fetchall()
    if not cov:
        return rows > 0
    lo, hi, probe, held = cov[0]
    return bool(rows) and (int(lo) != 0 or int(hi) != rows or int(probe) != _probe(con) or held != ",".join(fields))


def rebuild(con: duckdb.DuckDBPyConnection, table: str, fields: Sequence[str] | None = None) -> None:
    """Build the filters of every row of `table` afresh, in passes of REBUILD_BLOCKS blocks (call inside the
    caller's transaction, with no other writer of the table: rowids are the committed ones)."""
    fields = configured_fields(con) if fields is None else fields
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
            _build(con, table, fields)
        finally:
            con.unregister("_token_rows")
    con.execute(
        f"INSERT OR REPLACE INTO {COVERAGE_TABLE} (tbl, lo, hi, probe, fields) VALUES (?, 0, ?, ?, ?)",
        [table, rows, _probe(con), ",".join(fields)],
    )
