"""Words and phrases found in a batch's one lowered text buffer (numpy, no regex per line) match exactly the lines
the bounded regex does (`_regex_term_mask`, plan/words.py): whole words only, any ASCII case, at the start or end
of a line or beside punctuation, overlapping occurrences, nulls, sliced arrays, one-byte and empty terms; lines
with non-ASCII text are left to the regex whatever it takes a word to be there."""

from __future__ import annotations

import random

import pyarrow as pa
import pytest

from logwarden.query.filter import _regex_term_mask, _term_mask, compile_filter

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
