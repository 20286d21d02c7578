"""The token index and the query language agree on what a word is.

`plan/words.py` (the regexes a term matches with) and `store/duckdb/tokens.py` (the index built from
messages) must split text the same way, or pruning by the index could hide a match.
"""

from __future__ import annotations

import duckdb
import pyarrow as pa
import pytest

from logwarden.plan import words
from logwarden.store.duckdb import tokens

TEXTS = [
    "timeout",
    "connection refused",
    "marker=Zq7/x",
    "conn*",
    "*conn*",
    "a?c",
    "Kelvin \u212a",
    "héllo wörld",
    "_id",
    "x.y-z",
    "",
]


def test_the_index_splits_words_by_the_query_languages_rule() -> None:
    for text in [*TEXTS, "alpha—beta", "price 5€", "İstanbul ΣΟΦΊΑ", "a·b°c✓d…e"]:
        stored = tokens.word_text(pa.array([text])).to_pylist()[0]
        assert [w for w in stored.split(" ") if w] == words.words(text), text


@pytest.mark.parametrize("text", TEXTS)
def test_every_indexed_word_is_found_by_its_term_regex(text: str) -> None:
    for token in tokens.query_tokens(text):
        pattern = words.bounded_regex(token)
        got = duckdb.sql("SELECT regexp_matches(lower($t), $p)", params={"t": text, "p": pattern}).fetchall()[0][0]
        assert got, (token, pattern)
