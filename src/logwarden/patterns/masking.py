"""Masking: the variable parts of a message column replaced by typed placeholders, a column at a time.

Each kind is one regex substitution (polars `str.replace_all`) over the whole column, all of them chained in
one select, in a fixed order (emails before paths, UUIDs before hex ids, hex ids before numbers), so no Python
runs per line.
(Substituting only the rows that hold a kind's trigger was measured: no faster overall, so every row is scanned.)
`<uuid>` replaces `123e4567-e89b-12d3-a456-426614174000`; the masked text is what the form cache keys on.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import pyarrow as pa

from logwarden.lazy import lazy_module

if TYPE_CHECKING:
    import polars as pl
else:
    pl = lazy_module("polars")  # imported on first use (logwarden.lazy)


@dataclass(frozen=True, slots=True)
class MaskKind:
    """One kind of variable: its name, the regex, its replacement (`<name>`-like), and a cheap regex every
    match contains (a line without it is left alone: most passes skip most lines)."""

    name: str
    pattern: str
    replacement: str
    trigger: str


# In application order: each pattern sees the text the kinds before it left.
MASK_KINDS: tuple[MaskKind, ...] = (
    MaskKind("quoted", r"(^|[\s=:(\[,])(?:\"[^\"]*\"|'[^']*')", "${1}<str>", "[\"']"),
    MaskKind("email", r"\b[\w.+-]+@[\w-]+(?:\.[\w-]+)+\b", "<email>", "@"),
    MaskKind("url", r"\b[a-zA-Z][a-zA-Z0-9+.-]*://[^\s\"'<>]+", "<url>", "://"),
    MaskKind("uuid", r"\b[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}\b", "<uuid>", "-"),
    MaskKind(
        "ip",
        r"\b(?:\d{1,3}\.){3}\d{1,3}(?::\d{1,5})?\b|\b(?:[0-9a-fA-F]{1,4}:){7}[0-9a-fA-F]{1,4}\b"
        r"|\b(?:[0-9a-fA-F]{1,4}:)+:(?:[0-9a-fA-F]{1,4}(?::[0-9a-fA-F]{1,4})*)?",
        "<ip>",
        r"\d\.\d|:[0-9a-fA-F]*:",
    ),
    MaskKind("timestamp", r"\b\d{4}-\d\d-\d\d[T ]\d\d:\d\d:\d\d(?:[.,]\d+)?(?:Z|[+-]\d\d:?\d\d)?", "<ts>", r"\d-\d"),
    MaskKind("path", r"(^|[\s=:(\[])(?:[A-Za-z]:)?[/\\][\w.@%+~-]+(?:[/\\][\w.@%+~-]*)+", "${1}<path>", r"[/\\]"),
    MaskKind(
        "duration", r"\b\d+(?:\.\d+)?(?:ns|us|µs|ms|s|sec|secs|m|min|mins|h|hr|hrs|d)\b", "<duration>", r"\d[nuµmshd]"
    ),
    # Hex words with a letter and a digit (ids, hashes); all-digit words are numbers, so `blk_-42` and `blk_42`
    # mask alike.
    MaskKind(
        "hex",
        r"\b0[xX][0-9a-fA-F]+\b|\b[0-9a-fA-F]*(?:[a-fA-F][0-9a-fA-F]*[0-9]|[0-9][0-9a-fA-F]*[a-fA-F])[0-9a-fA-F]*\b",
        "<hex>",
        r"[0-9][a-fA-F]|[a-fA-F][0-9]|0[xX]",
    ),
    # A hex value is a value too: `node=3a38` and `node=dcfe` (no digit, not hex) make one form, not two.
    MaskKind("kv", r"\b([A-Za-z_][\w.-]*)=(?:<hex>|[^\s,;&)\]}<][^\s,;&)\]}]*)", "${1}=<v>", "="),
    MaskKind("number", r"[-+]?\d+(?:\.\d+)?", "<num>", r"\d"),
)

KIND_NAMES: tuple[str, ...] = tuple(k.name for k in MASK_KINDS)


class Masker:
    """Masks a string column with the chosen kinds (default all of MASK_KINDS), in MASK_KINDS order.

    Only a message's first line is masked (a stack trace's frames vary in number, its first line names the
    error), cut at `max_chars` so a huge line costs no more than a long one.
    """

    def __init__(self, kinds: Sequence[str] | None = None, max_chars: int = 1000) -> None:
        chosen = set(KIND_NAMES if kinds is None else kinds)
        unknown = chosen - set(KIND_NAMES)
        if unknown:
            raise ValueError(f"unknown mask kinds {sorted(unknown)}; known: {', '.join(KIND_NAMES)}")
        self.kinds = tuple(k for k in MASK_KINDS if k.name in chosen)
        self.max_chars = max_chars
        # Polars' regex engine (Rust `regex`) masks several times faster than RE2 through pyarrow.compute.
        expr = pl.col("m").str.replace(r"[\r\n][\s\S]*", "", n=1).str.slice(0, max_chars)
        for kind in self.kinds:
            expr = expr.str.replace_all(kind.pattern, kind.replacement)
        self._expr = expr.alias("m")

    def mask(self, messages: pa.Array | pa.ChunkedArray | pl.Series) -> pl.Series:
        """The masked text of every message (nulls stay null). Whitespace is left as it is: the clusterer splits
        on any run of it, and two forms that differ only there resolve to the same template."""
        text = pl.Series("m", messages).cast(pl.String)
        # One select of the whole chain: a Series method per pass cost ~35 µs of fixed overhead each, together
        # a fifth of a 1000-line batch's masking.
        return text.to_frame().select(self._expr).to_series()
