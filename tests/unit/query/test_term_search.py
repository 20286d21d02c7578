"""Words and phrases found in a batch's one lowered text buffer (numpy, no regex per line) match exactly the lines
the bounded regex does (`_regex_term_mask`, plan/words.py): whole words only, any ASCII case, at the start or end
of a line or beside punctuation, overlapping occurrences, nulls, sliced arrays, one-byte and empty terms; lines
with non-ASCII text are left to the regex whatever it takes a word to be there."""

from __future__ import annotations

import random

import numpy as np
import pyarrow as pa
import pytest

from logwarden.query.byte_text import ByteText, true_positions
from logwarden.query.filter import _database, _regex_term_mask, _term_mask, compile_filter

PIECES = [
    "a",
    "A",
    "b",
    "B",
    " ",
    "_",
    "-",
    "é",
    "—",
    "1",
    ".",
    "\n",
    "ab",
    "ba",
    "a a",
    "Ok",
    "oK",
    "tIMe",
    "out",
    "K",
]
TERMS = ["", "a", "ab", "ba", "a a", "aa", "b-a", "ok", "a_b", "1", "-", " a", "a ", "aba", "abab", "timeout"]


def regex_mask(values: pa.Array, term: str) -> list[bool]:
    """The regex path on every line."""
    return _regex_term_mask(values, term).to_pylist()  # type: ignore[no-any-return]


@pytest.mark.parametrize("seed", range(4))
def test_the_buffer_search_matches_exactly_what_the_bounded_regex_matches(seed: int) -> None:
    rng = random.Random(seed)
    for _ in range(300):
        n = rng.randint(0, 12)
        values = [
            None if rng.random() < 0.1 else "".join(rng.choice(PIECES) for _ in range(rng.randint(0, 8)))
            for _ in range(n)
        ]
        array = pa.array(values, pa.string())
        if n > 2 and rng.random() < 0.3:
            array = array.slice(1, n - 2)  # a slice: its buffer holds bytes of rows outside it
        shared: dict[str, object] = {}
        for term in TERMS:
            got = _term_mask(pa.chunked_array([array], pa.string()), term, shared).to_pylist()
            assert got == regex_mask(array, term), (term, array.to_pylist())


def test_a_word_glued_to_the_next_line_is_not_found_across_the_row_boundary() -> None:
    # In the buffer the rows are back to back: "time" + "out" must not read as "timeout".
    table = pa.table({"message": ["read time", "out: 5s", "timeouts", "TIMEOUT!", "x-timeout"]})
    assert compile_filter("timeout").mask(table).to_pylist() == [False, False, False, True, True]
    assert compile_filter('"time out"').mask(table).to_pylist() == [False] * 5


@pytest.mark.parametrize("density", [0.0, 0.002, 0.02, 0.1, 0.5, 1.0])
def test_true_positions_are_the_flatnonzero_positions(density: float) -> None:
    rng = np.random.default_rng(7)
    for size in (0, 8, 64, 4096):
        mask = rng.random(size) < density
        mask[: size // 16] = density > 0.3  # blocks of several True next to each other
        assert np.array_equal(np.sort(true_positions(mask)), np.flatnonzero(mask)), (density, size)


def test_byte_text_finds_every_occurrence_of_a_needle() -> None:
    # Needles of 1 to 20 bytes (checked 8 at a time past the first two), overlapping, at the buffer's very end
    # (the loads read the zero padding there), in a slice of a larger array.
    rng = random.Random(5)
    for _ in range(200):
        rows = ["".join(rng.choice("ab a\u00e9") for _ in range(rng.randrange(12))) for _ in range(rng.randrange(1, 9))]
        array = pa.array(["zzab", *rows, "abzz"], pa.string()).slice(1, len(rows))
        data = "".join(rows).encode()
        text = ByteText(array)
        for needle in [b"a", b"ab", b"aba", b"abab", b"a" * 9, b"ab" * 5, (b"a " * 10)[:19], b"\xc3\xa9a", b"x"]:
            expected = [i for i in range(len(data) - len(needle) + 1) if data.startswith(needle, i)]
            assert sorted(text.starts(needle).tolist()) == expected, (needle, rows)


def test_a_large_batch_matches_the_regex_for_sparse_and_dense_terms() -> None:
    # Thousands of lines (rare and common terms, many occurrences per line), terms at both edges of lines, glued
    # to the lines before and after, next to punctuation, non-ASCII text and nulls, phrases longer than 8 bytes.
    rng = random.Random(11)
    words = ["get", "GET", "took", "tooks", "cache", "miss", "db", "query", "x", "é", "_", "-", " ", "/", ":", "1"]
    values = [
        None if rng.random() < 0.02 else "".join(rng.choice(words) for _ in range(rng.randrange(0, 12)))
        for _ in range(3000)
    ]
    array = pa.array(values, pa.string())
    terms = ["get", "took", "cache miss", "db", "query", "x", "get took", "_", "-", "miss db query get took x"]
    for part in (array, array.slice(7, 2500)):
        shared: dict[str, object] = {}
        for term in terms:
            got = _term_mask(pa.chunked_array([part], pa.string()), term, shared).to_pylist()
            assert got == regex_mask(part, term), term


def test_filters_sharing_a_table_share_a_term_and_match_the_store() -> None:
    table = pa.table({"message": ["GET /a took 5ms", "post x", "took", None, "get-took", "GETS", "é get"]})
    shared: dict[str, object] = {}
    for text in ["get OR post", "get AND took", "NOT get", "took OR (get AND NOT post)", "get"]:
        f = compile_filter(text)
        fast = f.arrow_mask(table, shared)
        assert fast is not None
        store = _database().cursor()
        store.register("__lw_batch", table)
        assert fast.to_pylist() == store.sql(f.sql_for(table.schema)).to_arrow_table().column(0).to_pylist(), text
