"""What a word is in the query language: the regexes a term matches with, for every DuckDB evaluator.

Word characters are letters, combining marks and numbers of any script (Unicode categories L*, M*, N*) and
`_`; everything else (spaces, punctuation, symbols such as `—` `€` `…` `·` `°` `✓`) separates words. A term
matches where it is not glued to more word characters. Case is ignored by lower-casing both the message and
the term one character at a time with Unicode's simple lowercase mapping (DuckDB's and Arrow's `lower`:
`İ` → `i`, Kelvin sign → `k`; `ß` stays `ß`): the regexes here run on the lowered message. The store's token
index (store/duckdb/tokens.py) splits and lowers messages by the same rule, so pruning by it never hides a
match.
"""

from __future__ import annotations

import re
import unicodedata

WORD_CLASS = r"[\pL\pM\pN_]"  # one word character (RE2, as DuckDB and Arrow run it)
NON_WORD = r"[^\pL\pM\pN_]"  # one character that is not part of a word (RE2)
# The same classes for a lowered pure-ASCII message: RE2 compiles them ~10x faster than the Unicode ones.
ASCII_WORD_CLASS = "[a-z0-9_]"
ASCII_NON_WORD = "[^a-z0-9_]"


def is_word_char(c: str) -> bool:
    """Whether the character is part of a word: a letter, mark or number of any script, or `_`."""
    return c == "_" or unicodedata.category(c)[0] in "LMN"


def fold(text: str) -> str:
    """Lower-case `text` as the evaluators lower a message: each character by its simple lowercase mapping
    (Python's `str.lower` differs only for `İ`, which it turns into two characters, and for a final sigma)."""
    return "".join("i" if c == "\u0130" else c.lower() for c in text)


def words(text: str) -> list[str]:
    """The words of `text` as the index stores them: lowered (`fold`), split at non-word characters."""
    out: list[str] = []
    current: list[str] = []
    for c in fold(text):
        if is_word_char(c):
            current.append(c)
        elif current:
            out.append("".join(current))
            current = []
    if current:
        out.append("".join(current))
    return out


def bounded_regex(text: str, *, ascii_only: bool = False) -> str:
    """An RE2 pattern matching `text` in a lowered message (`lower(message)`) where it is not glued to more
    word characters.

    `timeout` matches `read timeout: 5s` but not `timeouts`; `"connection refused"` matches the phrase.
    Use it (alone or after a cheaper case-insensitive substring test) as the row predicate of a term
    whose rows are pruned with `query_tokens`. `ascii_only`: the same test for messages that are pure ASCII only
    (cheap to compile: DuckDB compiles a constant pattern once per table scanned).
    """
    low = fold(text)
    non_word = ASCII_NON_WORD if ascii_only else NON_WORD
    body = "".join(_char_pattern(c) for c in low)
    left = f"(?:^|{non_word})" if low[:1] and is_word_char(low[0]) else ""
    right = f"(?:{non_word}|$)" if low[-1:] and is_word_char(low[-1]) else ""
    return f"{left}{body}{right}"


def contains_regex(text: str) -> str:
    """An RE2 pattern matching, in the message as stored (not lowered), wherever `text` occurs when both are
    lowered (`fold`): a cheap exact-or-wider test to run before `bounded_regex`.

    RE2's `(?i)` matches every character whose simple lowercase mapping is the pattern's character, except `İ`
    (U+0130, lowered to `i` but outside `i`'s case-folding orbit), which the pattern names beside each `i`. It may
    match a little more (`ſ` for `s`, whose lowercase is itself): the bounded test that follows decides. Over a few
    rowid ranges DuckDB runs it in about half the time of `ILIKE '%x%'` (over whole row groups ~20% slower); it
    compiles in well under a millisecond.
    """
    body = "".join("[i\u0130]" if c == "i" else _char_pattern(c) for c in fold(text))
    return f"(?i){body}"


def wildcard_regex(text: str, *, ascii_only: bool = False) -> str:
    """An RE2 pattern for a word pattern, on a lowered message, where `*` is any run of word characters and
    `?` one of them.

    `conn*` matches words starting with `conn` (`connection`, not `disconnect`); `*conn*` any word
    containing it. Like `bounded_regex`, a word-character end must not be glued to more of them (`ascii_only`
    likewise).
    """
    low = fold(text)
    word, non_word = (ASCII_WORD_CLASS, ASCII_NON_WORD) if ascii_only else (WORD_CLASS, NON_WORD)
    body = "".join(f"{word}*" if c == "*" else word if c == "?" else _char_pattern(c) for c in low)
    left = f"(?:^|{non_word})" if low[:1] not in ("*", "?", "") and is_word_char(low[0]) else ""
    right = f"(?:{non_word}|$)" if low[-1:] not in ("*", "?", "") and is_word_char(low[-1]) else ""
    return f"{left}{body}{right}"


def _char_pattern(c: str) -> str:
    return re.escape(c)
