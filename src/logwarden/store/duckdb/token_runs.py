"""How the token index's block filters are stored: one row per table, segment and run of consecutive blocks.

A block's filter is `segments` segments of `words` 64-bit words (tokens.py), and a lookup tests one segment per key
in every block. So the filters are stored segment-major: a row per (table, segment, run of up to RUN_BLOCKS
consecutive blocks) whose `words` BLOB holds that segment's words for each block of the run in order (little-endian
uint64; zeros for a block without keys in the segment). A lookup reads ~1/RUN_BLOCKS of the rows a row per block
and segment took. DuckDB's scan costs by the row: a trace id's lookup over 2M lines went from 3.1 to 1.2 ms.
The bits are then tested in numpy.

Runs are aligned: `first_block` is a multiple of RUN_BLOCKS, and the BLOB ends at the run's last block that has
rows. An apply that adds blocks to a run rewrites the run's rows with the old words OR-ed in (a delete and an
insert: there is no index to maintain).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

import duckdb
import numpy as np
import pyarrow as pa

RUNS_TABLE = "_token_runs"
RUN_BLOCKS = 32  # 2 KiB of words per run and segment; an apply pass (tokens.INDEX_PASS_ROWS) is 32 blocks
DDL = (
    f"CREATE TABLE IF NOT EXISTS {RUNS_TABLE} (tbl VARCHAR NOT NULL, seg USMALLINT NOT NULL, "
    "first_block BIGINT NOT NULL, words BLOB NOT NULL)"
)


def _dense(segments: pa.Table, n_segments: int, n_words: int) -> dict[int, np.ndarray]:
    """The (block, seg, w0…) rows of `segments` as one array per run: first block -> [segment, block, word]."""
    if segments.num_rows == 0:
        return {}
    blocks = segments.column("block").to_numpy().astype(np.int64)
    segs = segments.column("seg").to_numpy().astype(np.int64)
    words = np.column_stack([segments.column(f"w{k}").to_numpy().astype(np.uint64) for k in range(n_words)])
    runs = blocks // RUN_BLOCKS
    out: dict[int, np.ndarray] = {}
    for run in np.unique(runs).tolist():
        mask = runs == run
        offsets = blocks[mask] - run * RUN_BLOCKS
        dense = np.zeros((n_segments, int(offsets.max()) + 1, n_words), dtype=np.uint64)
        np.bitwise_or.at(dense, (segs[mask], offsets), words[mask])
        out[run * RUN_BLOCKS] = dense
    return out


def merge(con: duckdb.DuckDBPyConnection, table: str, segments: pa.Table, n_segments: int, n_words: int) -> None:
    """Add the filters `segments` (columns block, seg, w0…: `tokens.segments_sql`) to `table`'s runs, OR-ing in
    the words its runs already hold for the same blocks (call in the transaction that indexes the rows)."""
    dense = _dense(segments, n_segments, n_words)
    if not dense:
        return
    firsts = sorted(dense)
    listed = ", ".join("?" for _ in firsts)
    old = con.execute(
        f"SELECT seg, first_block, words FROM {RUNS_TABLE} WHERE tbl = ? AND first_block IN ({listed})",
        [table, *firsts],
    ).fetchall()
    if old:
        for seg, first, blob in old:
            held = np.frombuffer(blob, dtype="<u8").reshape(-1, n_words)
            run = dense[int(first)]
            if len(held) > run.shape[1]:
                run = np.concatenate([run, np.zeros((n_segments, len(held) - run.shape[1], n_words), np.uint64)], 1)
                dense[int(first)] = run
            run[int(seg), : len(held)] |= held
        con.execute(f"DELETE FROM {RUNS_TABLE} WHERE tbl = ? AND first_block IN ({listed})", [table, *firsts])
    rows: dict[str, list[Any]] = {"seg": [], "first_block": [], "words": []}
    for first in firsts:
        run = dense[first]
        for seg in np.flatnonzero(run.any(axis=(1, 2))).tolist():  # a segment no key of the run hashed to: no row
            rows["seg"].append(seg)
            rows["first_block"].append(first)
            rows["words"].append(run[seg].astype("<u8", copy=False).tobytes())
    new = pa.table(
        {
            "seg": pa.array(rows["seg"], pa.uint16()),
            "first_block": pa.array(rows["first_block"], pa.int64()),
            "words": pa.array(rows["words"], pa.binary()),
        }
    )
    con.register("_token_new_runs", new)
    try:
        con.execute(
            f"INSERT INTO {RUNS_TABLE} SELECT $tbl, seg, first_block, words FROM _token_new_runs", {"tbl": table}
        )
    finally:
        con.unregister("_token_new_runs")


def masks(hashes: Sequence[int], bit: Any, n_words: int) -> list[np.ndarray]:
    """Per key hash, the words a block's segment must hold all of: one bit per word (`bit(h, k)`)."""
    return [np.array([1 << bit(h, k) for k in range(n_words)], dtype=np.uint64) for h in hashes]


def blocks_holding(first_block: int, blob: bytes, mask: np.ndarray) -> Iterable[int]:
    """The blocks of a run (`first_block`, its segment's `blob`) whose filter may hold the key of `mask`."""
    words = np.frombuffer(blob, dtype="<u8").reshape(-1, len(mask))
    hits = np.flatnonzero(((words & mask) == mask).all(axis=1))
    return (hits + first_block).tolist()


def stored_bytes(con: duckdb.DuckDBPyConnection) -> int:
    """The filters' payload in bytes."""
    return int(con.execute(f"SELECT coalesce(sum(octet_length(words)), 0) FROM {RUNS_TABLE}").fetchall()[0][0])


def filters(con: duckdb.DuckDBPyConnection, table: str, n_words: int) -> dict[tuple[int, int], tuple[int, ...]]:
    """`table`'s stored filters as (block, segment) -> words, leaving out all-zero segments (for tests and checks)."""
    out: dict[tuple[int, int], tuple[int, ...]] = {}
    rows = con.execute(f"SELECT seg, first_block, words FROM {RUNS_TABLE} WHERE tbl = ?", [table]).fetchall()
    for seg, first, blob in rows:
        for offset, words in enumerate(np.frombuffer(blob, dtype="<u8").reshape(-1, n_words).tolist()):
            if any(words):
                key = (int(first) + offset, int(seg))
                held = out.get(key, (0,) * n_words)
                out[key] = tuple(a | b for a, b in zip(held, words, strict=True))
    return out
