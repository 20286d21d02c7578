"""The write side of the token index: the filters the build SQL makes are exactly the OR of each key's bits
(repeated keys included), and filters appended batch by batch equal those a rebuild from the committed rows
makes, so every row's keys are in its own block's filter."""

from __future__ import annotations

import random
from collections.abc import Iterator

import duckdb
import pyarrow as pa
import pytest

from logwarden.store.duckdb import token_runs, tokens
from logwarden.store.duckdb.applier import apply_batches, read_applied_seq
from tests.unit.store.test_tokens import TABLE, WORDS, batch

Filters = dict[tuple[int, int], tuple[int, ...]]


@pytest.fixture
def con() -> Iterator[duckdb.DuckDBPyConnection]:
    c = duckdb.connect(config={"preserve_insertion_order": False})
    c.execute("SET TimeZone = 'UTC'")
    read_applied_seq(c)
    yield c
    c.close()


def reference(con: duckdb.DuckDBPyConnection, keys: list[tuple[int, str]]) -> Filters:
    """The filters of (block, key) pairs computed here, one key at a time, with the lookup's bit rule."""
    hashes = dict(zip([k for _, k in keys], tokens._hashes(con, [k for _, k in keys]), strict=True))
    out: dict[tuple[int, int], list[int]] = {}
    for block, key in keys:
        h = hashes[key]
        words = out.setdefault((block, h & (tokens.SEGMENTS - 1)), [0] * tokens.WORDS)
        for k in range(tokens.WORDS):
            words[k] |= 1 << tokens._bit(h, k)
    return {key: tuple(words) for key, words in out.items()}


def built(con: duckdb.DuckDBPyConnection, rows: pa.Table, fields: tuple[str, ...]) -> Filters:
    con.register("_token_rows", rows)
    try:
        segments = con.execute(tokens.segments_sql(fields)).fetchall()
    finally:
        con.unregister("_token_rows")
    return {(int(block), int(seg)): tuple(int(w) for w in words) for block, seg, *words in segments}


def test_build_sets_exactly_the_bits_of_every_key_repeats_included(con: duckdb.DuckDBPyConnection) -> None:
    rng = random.Random(13)
    n = 600
    words = [
        " ".join(rng.choice(["alpha", "beta", "gamma", "x1", "err"]) for _ in range(rng.randint(1, 6)))
        for _ in range(n)
    ]
    blocks = [i // 50 for i in range(n)]
    trace = [None if rng.random() < 0.3 else f"t{rng.randint(0, 40)}" for _ in range(n)]
    rows = pa.table({"block": pa.array(blocks, pa.int64()), "words": words, "f0": trace})
    keys = [(b, w) for b, text in zip(blocks, words, strict=True) for w in text.split(" ")]
    keys += [(b, f"trace_id={t}") for b, t in zip(blocks, trace, strict=True) if t is not None]
    assert built(con, rows, ("trace_id",)) == reference(con, keys)


def stored_filters(con: duckdb.DuckDBPyConnection) -> Filters:
    return token_runs.filters(con, TABLE, tokens.WORDS)


@pytest.mark.parametrize(
    ("block_rows", "pass_rows"),
    [(50, 1 << 20), (2048, 1 << 20), (50, 37)],  # passes of 37 rows cut blocks: `merge` ORs their halves
)
def test_appended_filters_equal_a_rebuild_from_the_committed_rows(
    con: duckdb.DuckDBPyConnection, monkeypatch: pytest.MonkeyPatch, block_rows: int, pass_rows: int
) -> None:
    monkeypatch.setattr(tokens, "BLOCK_ROWS", block_rows)
    monkeypatch.setattr(tokens, "INDEX_PASS_ROWS", pass_rows)
    rng = random.Random(block_rows + pass_rows)
    done = 0
    for size in [1, 7, 130, 2047, 2049, 5000, 3, 4096]:  # blocks filled across transactions, batches over vectors
        messages: list[str | None] = [
            None if rng.random() < 0.05 else " ".join(rng.choice(WORDS) + str(rng.randint(0, 9)) for _ in range(3))
            for _ in range(size)
        ]
        part = batch(messages, done)
        traces = pa.array([f"tr{done + i}" if i % 3 else None for i in range(size)], pa.string())
        apply_batches(con, [(1, part.set_column(part.schema.get_field_index("trace_id"), "trace_id", traces))], set())
        done += size
    appended = stored_filters(con)
    assert len({block for block, _ in appended}) == -(-done // block_rows)
    con.execute("BEGIN TRANSACTION")
    tokens.rebuild(con, TABLE)
    con.execute("COMMIT")
    assert stored_filters(con) == appended
