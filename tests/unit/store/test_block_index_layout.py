"""The block filters' layout: a full block (~1.5 distinct keys per row) gives few false candidates, and the SQL that
builds the filters sets exactly the bits the lookup tests."""

from __future__ import annotations

import duckdb
import pyarrow as pa

from logwarden.store.duckdb import tokens


def build_block(con: duckdb.DuckDBPyConnection, keys: list[str]) -> dict[int, tuple[int, ...]]:
    rows = pa.table({"block": [0] * len(keys), "words": keys})
    con.register("_token_rows", rows)
    try:
        segments = con.sql(tokens.segments_sql(())).fetchall()
    finally:
        con.unregister("_token_rows")
    return {int(seg): tuple(int(w) for w in words) for _, seg, *words in segments}


def may_hold(filters: dict[int, tuple[int, ...]], h: int) -> bool:
    words = filters.get(h & (tokens.SEGMENTS - 1))
    return words is not None and all(words[k] >> tokens._bit(h, k) & 1 for k in range(tokens.WORDS))


def test_a_full_block_has_under_one_percent_false_positives() -> None:
    con = duckdb.connect()
    try:
        # The distinct words of a block of typical lines: ~12k in 8,192 lines (bench/peers.py data).
        present = [f"word{i}" for i in range(tokens.BLOCK_ROWS * 12_000 // 8_192)]
        filters = build_block(con, present)
        assert all(may_hold(filters, h) for h in tokens._hashes(con, present))  # never a false negative
        absent = tokens._hashes(con, [f"absent{i}" for i in range(20_000)])
        rate = sum(may_hold(filters, h) for h in absent) / len(absent)
        assert rate < 0.01, rate  # three bits per key in the same space gave ~1.5%
    finally:
        con.close()


def test_lookup_sql_tests_the_bits_the_build_sets() -> None:
    con = duckdb.connect()
    try:
        tokens.create(con)
        filters = build_block(con, ["alpha", "beta"])
        con.execute(f"INSERT INTO {tokens.COVERAGE_TABLE} VALUES ('t', 0, 10, hash(?), '')", [tokens.PROBE])
        segments = pa.table(
            {
                "block": pa.array([0] * len(filters), pa.int64()),
                "seg": pa.array(list(filters), pa.uint16()),
                **{f"w{k}": pa.array([w[k] for w in filters.values()], pa.uint64()) for k in range(tokens.WORDS)},
            }
        )
        tokens.store_segments(con, "t", segments)
        # The block (rows 0-9) and the rows past the covered range (none yet), merged into one range.
        assert tokens.candidate_ranges(con, "t", ["alpha"]) == [(0, 1 << 62)]
        assert tokens.candidate_ranges(con, "t", ["alpha", "beta"]) == [(0, 1 << 62)]
        assert tokens.candidate_ranges(con, "t", ["gamma"]) == [(10, 1 << 62)]  # the block is skipped
    finally:
        con.close()
