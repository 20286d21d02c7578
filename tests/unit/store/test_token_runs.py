"""The token filters' storage (token_runs.py): runs of blocks per segment, merged on append, read back exactly."""

from __future__ import annotations

import random
from collections.abc import Iterator

import duckdb
import pyarrow as pa
import pytest

from logwarden.store.duckdb import token_runs, tokens

Filters = dict[tuple[int, int], tuple[int, ...]]


@pytest.fixture
def con() -> Iterator[duckdb.DuckDBPyConnection]:
    c = duckdb.connect()
    tokens.create(c)
    yield c
    c.close()


def segments(filters: Filters) -> pa.Table:
    """`filters` as the rows `tokens.segments_sql` makes (block, seg, w0…)."""
    keys = sorted(filters)
    return pa.table(
        {
            "block": pa.array([b for b, _ in keys], pa.int64()),
            "seg": pa.array([s for _, s in keys], pa.uint16()),
            **{f"w{k}": pa.array([filters[key][k] for key in keys], pa.uint64()) for k in range(tokens.WORDS)},
        }
    )


def random_filters(rng: random.Random, blocks: range, per_block: int) -> Filters:
    out: Filters = {}
    for block in blocks:
        for seg in rng.sample(range(tokens.SEGMENTS), per_block):
            out[(block, seg)] = tuple(rng.getrandbits(64) for _ in range(tokens.WORDS))
    return out


def or_all(*parts: Filters) -> Filters:
    out: dict[tuple[int, int], tuple[int, ...]] = {}
    for part in parts:
        for key, words in part.items():
            held = out.get(key, (0,) * tokens.WORDS)
            out[key] = tuple(a | b for a, b in zip(held, words, strict=True))
    return out


def test_appends_are_ored_into_the_runs_they_share(con: duckdb.DuckDBPyConnection) -> None:
    rng = random.Random(7)
    # Blocks 0-40 then 40-80 (block 40 in both, as an apply boundary inside a block leaves it), runs 0, 32 and 64.
    first = random_filters(rng, range(0, 41), 20)
    second = random_filters(rng, range(40, 81), 20)
    tokens.store_segments(con, "t", segments(first))
    tokens.store_segments(con, "t", segments(second))
    tokens.store_segments(con, "other", segments(random_filters(rng, range(0, 5), 3)))
    assert token_runs.filters(con, "t", tokens.WORDS) == or_all(first, second)
    # One row per run and segment that has words: the rewrite of a shared run left no older copy behind.
    rows = con.execute(
        f"SELECT first_block, count(*), count(DISTINCT seg), max(octet_length(words)) FROM {tokens.BLOOM_TABLE} "
        "WHERE tbl = 't' GROUP BY first_block ORDER BY first_block"
    ).fetchall()
    width = tokens.WORDS * 8
    # Each run's BLOB ends at its last block: blocks 64-80 are 17 blocks.
    assert [(f, n == d, size) for f, n, d, size in rows] == [
        (0, True, 32 * width),
        (32, True, 32 * width),
        (64, True, 17 * width),
    ]


def test_a_lookup_finds_exactly_the_blocks_whose_segment_holds_every_bit(con: duckdb.DuckDBPyConnection) -> None:
    keys = ["alpha", "beta", "trace_id=t1"]
    hashes = dict(zip(keys, tokens._hashes(con, keys), strict=True))

    def filter_of(*held: str) -> Filters:
        out: dict[tuple[int, int], list[int]] = {}
        for key in held:
            h = hashes[key]
            words = out.setdefault((0, h & (tokens.SEGMENTS - 1)), [0] * tokens.WORDS)
            for k in range(tokens.WORDS):
                words[k] |= 1 << tokens._bit(h, k)
        return {key: tuple(words) for key, words in out.items()}

    placed = {3: ("alpha",), 33: ("alpha", "beta"), 70: ("trace_id=t1", "beta")}
    for block, held in placed.items():
        tokens.store_segments(con, "t", segments({(block, seg): w for (_, seg), w in filter_of(*held).items()}))
    rows = 72 * tokens.BLOCK_ROWS  # block 71 holds none of the keys: the tail range stays apart
    con.execute(f"INSERT INTO {tokens.COVERAGE_TABLE} VALUES ('t', 0, ?, hash(?), 'trace_id')", [rows, tokens.PROBE])

    def blocks(*wanted: str) -> list[int]:
        ranges = tokens.candidate_ranges(con, "t", list(wanted))
        assert ranges is not None and ranges[-1] == (rows, 1 << 62)  # rows past the covered range: always read
        return [first // tokens.BLOCK_ROWS for first, _ in ranges[:-1]]

    assert blocks("alpha") == [3, 33]
    assert blocks("beta") == [33, 70]
    assert blocks("alpha", "beta") == [33]
    assert blocks("trace_id=t1") == [70]
    assert blocks("gamma") == []
