"""Named-group extraction over a text column, with the faster of two regex engines for big patterns.

Arrow's `extract_regex` (RE2) is quick for small patterns, but for large ones (a grok pattern such as
COMBINEDAPACHELOG expands to ~1800 characters) RE2 falls back to its slowest submatch engine: ~15 µs
a line. polars' `extract_groups` (Rust's regex crate, same leftmost-first semantics and syntax for
what grok uses) takes ~4 µs. Shorthand classes are rewritten to their ASCII meaning (RE2's), so both
engines agree; a pattern the Rust engine cannot compile runs on Arrow.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import pyarrow as pa
import pyarrow.compute as pc

from logwarden.lazy import lazy_module
from logwarden.pipeline.parsers.common import struct_fields

if TYPE_CHECKING:
    import polars as pl
else:
    pl = lazy_module("polars")  # imported on first use (logwarden.lazy)

_MATCHED = "__matched"
_NULL_TEXT = pa.scalar(None, pa.string())
# RE2's ASCII meaning of shorthand classes, outside and inside a character class; `\b` in Rust is
# Unicode-aware by default, which also keeps its fast DFA off non-ASCII text.
_OUTSIDE = {
    "d": "[0-9]",
    "D": "[^0-9]",
    "w": "[0-9A-Za-z_]",
    "W": "[^0-9A-Za-z_]",
    "s": "[\\t\\n\\f\\r ]",
    "S": "[^\\t\\n\\f\\r ]",
    "b": "(?-u:\\b)",
    "B": "(?-u:\\B)",
}
_INSIDE = {"d": "0-9", "w": "0-9A-Za-z_", "s": "\\t\\n\\f\\r "}


def ascii_classes(regex: str) -> str:
    """`regex` with `\\d \\w \\s \\b` (and negations) spelled out as ASCII, as RE2 reads them."""
    out: list[str] = []
    i, n = 0, len(regex)
    in_class = False
    while i < n:
        c = regex[i]
        if c == "\\" and i + 1 < n:
            escape = regex[i + 1]
            table = _INSIDE if in_class else _OUTSIDE
            out.append(table.get(escape, regex[i : i + 2]))
            i += 2
            continue
        if c == "[" and not in_class:
            in_class = True
            out.append(c)
            # `]` first in a class (after an optional `^`) is a literal.
            if regex[i + 1 : i + 2] == "^":
                out.append("^")
                i += 1
            if regex[i + 1 : i + 2] == "]":
                out.append("]")
                i += 1
        elif c == "]" and in_class:
            in_class = False
            out.append(c)
        else:
            out.append(c)
        i += 1
    return "".join(out)


@dataclass(frozen=True, slots=True)
class Extractor:
    """A compiled named-group pattern: `extract(text)` → (matched mask, group → values, empty → null)."""

    regex: str
    rust: str | None

    def extract(self, text: pa.Array) -> tuple[pa.Array, dict[str, pa.Array]]:
        if self.rust is None:
            return struct_fields(pc.extract_regex(text, self.regex))
        result = pl.Series(text).str.extract_groups(self.rust).struct.unnest().to_arrow()
        matched = pc.is_valid(result.column(_MATCHED).combine_chunks())
        groups = {}
        for name in result.column_names[1:]:
            values = pc.cast(result.column(name).combine_chunks(), pa.string())
            groups[name] = pc.if_else(pc.equal(values, ""), _NULL_TEXT, values)
        return matched, groups


def compile_extractor(regex: str) -> Extractor:
    """An Extractor for an RE2 pattern (already checked) with named groups."""
    rust = f"(?P<{_MATCHED}>){ascii_classes(regex)}"
    try:
        pl.Series([""], dtype=pl.String).str.extract_groups(rust)
    except pl.exceptions.PolarsError:
        return Extractor(regex, None)
    return Extractor(regex, rust)


def extract_first(text: pa.Array, extractors: list[Extractor]) -> tuple[pa.Array, list[dict[str, pa.Array]]]:
    """Try each extractor on the rows no earlier one matched: (any matched, groups per extractor, null
    where that extractor did not match the row)."""
    n = len(text)
    matched_any = pa.repeat(pa.scalar(False), n)
    results: list[dict[str, pa.Array]] = []
    remaining = text
    for extractor in extractors:
        if remaining.null_count == n:
            results.append({})
            continue
        matched, groups = extractor.extract(remaining)
        matched = pc.fill_null(matched, False)
        results.append({name: pc.if_else(matched, values, _NULL_TEXT) for name, values in groups.items()})
        matched_any = pc.or_(matched_any, matched)
        remaining = pc.if_else(matched, _NULL_TEXT, remaining)
    return matched_any, results
