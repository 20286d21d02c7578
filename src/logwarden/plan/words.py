"""What a word is in the query language: the regexes a term matches with, for every DuckDB evaluator.

Words are runs of ASCII letters, digits, `_` and any non-ASCII character; a term matches where it is
not glued to more word characters. The store's token index (store/duckdb/tokens.py) splits messages by
the same rule, so pruning by it never hides a match.
"""

from __future__ import annotations

import re

WORD_RE = re.compile(r"[A-Za-z0-9_\u0080-\U0010ffff]+")  # a word (Python regex); the index splits by it
NON_WORD = r"[^A-Za-z0-9_\x{80}-\x{10ffff}]"  # one character that is not part of a word (RE2)
_WORD_RE = WORD_RE
_NON_WORD = NON_WORD


def bounded_regex(text: str) -> str:
    """An RE2 pattern matching `text`, ignoring case, where it is not glued to more word characters.

    `timeout` matches `read timeout: 5s` but not `timeouts`; `"connection refused"` matches the phrase.
    Use it (alone or after a cheaper `contains(lower(message), ...)`) as the row predicate of a term
    whose rows are pruned with `query_tokens`.
    """
    body = "".join(_char_pattern(c) for c in text)
    left = f"(?:^|{_NON_WORD})" if text[:1] and _WORD_RE.match(text[:1]) else ""
    right = f"(?:{_NON_WORD}|$)" if text[-1:] and _WORD_RE.match(text[-1:]) else ""
    return f"{left}{body}{right}"


_WORD_CLASS = r"[A-Za-z0-9_\x{80}-\x{10ffff}]"


def wildcard_regex(text: str) -> str:
    """An RE2 pattern for a word pattern where `*` is any run of word characters and `?` one of them.

    `conn*` matches words starting with `conn` (`connection`, not `disconnect`); `*conn*` any word
    containing it. Like `bounded_regex`, a word-character end must not be glued to more of them.
    """
    body = "".join(f"{_WORD_CLASS}*" if c == "*" else _WORD_CLASS if c == "?" else _char_pattern(c) for c in text)
    left = f"(?:^|{_NON_WORD})" if text[:1] not in ("*", "?") and _WORD_RE.match(text[:1]) else ""
    right = f"(?:{_NON_WORD}|$)" if text[-1:] not in ("*", "?") and _WORD_RE.match(text[-1:]) else ""
    return f"{left}{body}{right}"


def _char_pattern(c: str) -> str:
    # ASCII letters fold to ASCII only, as in the index: a global (?i) would let `k` match the Kelvin sign.
    if c.isascii():
        return f"[{c.lower()}{c.upper()}]" if c.isalpha() else re.escape(c)
    return f"(?i:{re.escape(c)})"
