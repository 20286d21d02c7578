"""query/byte_text.py: every position of a needle in a string array's bytes, and the row of each position."""

from __future__ import annotations

import random

import numpy as np
import pyarrow as pa
import pytest

from logwarden.query.byte_text import ByteText


def rows_by_search(text: ByteText, positions: np.ndarray) -> np.ndarray:
    """The row of each position by a binary search in the offsets (the last row starting at or before it)."""
    found: np.ndarray = np.searchsorted(text.offsets, positions, side="right") - 1
    return found


@pytest.mark.parametrize("seed", range(6))
def test_the_row_of_every_position(seed: int) -> None:
    # Empty rows (many at one offset), rows of one byte, rows longer than many 64-byte blocks, nulls, a slice.
    rng = random.Random(seed)
    lengths = [rng.choice([0, 0, 1, 2, 7, 40, 63, 64, 65, 200, 1000]) for _ in range(rng.randrange(1, 400))]
    lines = [None if rng.random() < 0.05 else "x" * n for n in lengths]
    array = pa.array(lines, pa.string())
    if seed % 2 and len(array) > 4:
        array = array.slice(2, len(array) - 3)
    text = ByteText(array)
    positions = np.arange(text.size, dtype=np.int64)
    rng.shuffle(positions)
    for part in (positions, positions[: len(positions) // 3], positions[:0]):
        got = text.row_of(part)
        np.testing.assert_array_equal(got, rows_by_search(text, part))
        if len(part):  # each position is inside its row
            assert (text.offsets[got] <= part).all() and (part < text.offsets[got + 1]).all()


def test_starts_and_rows_of_a_needle() -> None:
    lines = ["GET /a status=200", "", "status=", "x" * 130 + "status=5", "POST status=201 status=3"]
    text = ByteText(pa.array(lines, pa.string()))
    starts = np.sort(text.starts(b"status="))
    joined = "".join(lines).encode()
    expected = [i for i in range(len(joined)) if joined.startswith(b"status=", i)]
    assert starts.tolist() == expected
    assert text.row_of(starts).tolist() == [0, 2, 3, 4, 4]
