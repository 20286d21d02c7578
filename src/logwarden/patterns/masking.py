"""Masking: the variable parts of a message column replaced by typed placeholders, a column at a time.

Each kind is one regex substitution (polars `str.replace_all`) over the whole column, all of them chained in
one select, in a fixed order (emails before paths, UUIDs before hex ids, hex ids before numbers), so no Python
runs per line.
(Substituting only the rows that hold a kind's trigger was measured: no faster overall, so every row is scanned.)
`<uuid>` replaces `123e4567-e89b-12d3-a456-426614174000`; the masked text is what the form cache keys on.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

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
FIRST_LINE = r"[\r\n][\s\S]*"  # what follows a message's first line


def ascii_only(pattern: str) -> str:
    r"""`pattern` with its Unicode classes made ASCII (`\b`, `\d`, `\w`, `\s`; nested in a class too): the same
    matches on ASCII text, and Rust's regex builds a much smaller automaton for it (see `Masker.mask`)."""
    return (
        pattern.replace(r"\b", r"(?-u:\b)")
        .replace(r"\d", "[0-9]")
        .replace(r"\w", "[0-9A-Za-z_]")
        .replace(r"\s", r"[\t\n\v\f\r ]")
    )


def digits_alike(text: pa.Array | pa.ChunkedArray) -> pa.Array:
    """`text` (as large_string) with every ASCII digit but 0 made "1", by vectorized byte arithmetic over the
    data buffer (no regex, no per-line work; lengths and offsets unchanged, and UTF-8 stays valid: those bytes
    never occur inside a multi-byte character). 0 stays itself: `0x` opens a hex number, `1x` does not. Every
    kind's regex treats 1-9 alike and `number` masks every digit left, so two messages alike here mask alike
    when `number` is on: the miner's key for skipping masking (patterns/miner.py)."""
    if isinstance(text, pa.ChunkedArray):
        text = text.combine_chunks() if text.num_chunks != 1 else text.chunk(0)
    if not pa.types.is_large_string(text.type):
        text = text.cast(pa.large_string())
    validity, offsets, data = text.buffers()
    if data is None or data.size == 0:  # all null, or all empty
        return text
    raw = np.frombuffer(data, dtype=np.uint8)
    # 2-9 are 50-57: `raw - 50 < 8` in uint8 (wrapping) picks them; they become 49 ("1"). Arithmetic, not a
    # table lookup: numpy's gather costs five times as much a byte.
    picked = ((raw - np.uint8(50)) < 8).view(np.uint8)
    mapped = raw - picked * (raw - np.uint8(49))
    return pa.Array.from_buffers(text.type, len(text), [validity, offsets, pa.py_buffer(mapped)], offset=text.offset)


# What a digit run's neighbour tells (`digit_runs_alike`): 0 nothing, 1 `-` (dates, UUID groups: only runs
# longer than any counted group are alike), 2 a byte next to which a kind counts the run's digits: `:` (ports,
# times, IPv6 groups), `+` and `,` (offsets, fractions), `x`/`X` (`0x`), hex letters (UUID and IPv6 groups), and
# every non-ASCII byte (Unicode digits extend `\d` runs in the Unicode chain).
_NEIGHBOUR = np.zeros(256, dtype=np.uint8)
_NEIGHBOUR[ord("-")] = 1
_NEIGHBOUR[[ord(c) for c in ":+,xXabcdefABCDEF"]] = 2
_NEIGHBOUR[0x80:] = 2
_LONGEST_GROUP = 12  # the longest counted digit group any kind matches next to `-` (a UUID's last group)


def digit_runs_alike(text: pa.Array | pa.ChunkedArray, max_bytes: int) -> pa.Array:
    r"""`digits_alike(text)` with, further, the length of a digit run made alike where no kind counts it: two
    messages alike here mask alike (with the `number` kind on), so more lines share the miner's key.

    Only the kinds that count digits (`ip`'s `\d{1,3}` and `\d{1,5}`, `timestamp`'s `\d{4}` and `\d\d`,
    `uuid`'s and IPv6's hex groups) care about a run's length, and every run they count touches `:`, `-`, `+`,
    a hex letter or `x` — except an IPv4 octet, which touches only `.` (or a word's edge) and is told apart by
    1-3 digits or more. So a run with neither neighbour in that set becomes `1` (1-3 digits) or `1111` (4 or
    more), and a run next to `-` (but nothing else of the set) with more digits than any counted group becomes
    13 of them (`blk_-6558516915417036530`). A message longer than `max_bytes` keeps its lengths (masking cuts
    it at `max_chars` characters). Numpy over the data buffer, per byte and per run: no regex, no per-line
    Python."""
    alike = digits_alike(text)
    validity, offsets_buf, data = alike.buffers()
    if data is None or data.size == 0:
        return alike
    offsets = np.frombuffer(offsets_buf, dtype=np.int64)[alike.offset : alike.offset + len(alike) + 1]
    base = int(offsets[0])
    raw = np.frombuffer(data, dtype=np.uint8)[base : int(offsets[-1])]
    bounds = offsets - base  # line i is raw[bounds[i]:bounds[i + 1]]
    size = len(raw)
    if size == 0:
        return alike
    digit = (raw - np.uint8(48)) < 10
    change = np.empty(size + 1, dtype=np.bool_)  # a run starts or ends at each True (bool: the cheapest nonzero)
    change[0], change[size] = digit[0], digit[-1]
    np.not_equal(digit[1:], digit[:-1], out=change[1:size])
    edges = np.flatnonzero(change)
    starts, ends = edges[0::2], edges[1::2]  # ends: one past each run (runs alternate with the rest)
    if len(starts) == 0:
        return alike
    inner = bounds[1:-1]
    inner = inner[(inner > 0) & (inner < size)]
    crossing = inner[digit[inner] & digit[inner - 1]]
    if len(crossing):  # one run over two lines (one ends with a digit, the next starts with one): split it
        at = np.searchsorted(starts, crossing, side="right")
        starts, ends = np.insert(starts, at, crossing), np.insert(ends, at - 1, crossing)
    lengths = ends - starts
    # What the neighbours tell; a line's edge tells nothing.
    edge = np.zeros(size + 1, dtype=np.bool_)
    edge[bounds] = True  # where lines start, and one past where they end
    told = _NEIGHBOUR[raw[starts - 1]] * ~edge[starts] | _NEIGHBOUR[np.take(raw, ends, mode="wrap")] * ~edge[ends]
    widths = np.diff(bounds)
    if (widths > max_bytes).any():  # masking cuts such a line: its runs keep their lengths
        told[(widths > max_bytes)[np.searchsorted(bounds, starts, side="right") - 1]] = 2
    kept = np.where(told == 0, np.where(lengths <= 3, 1, 4), lengths)
    long_dashed = (told == 1) & (lengths > _LONGEST_GROUP)
    kept[long_dashed] = _LONGEST_GROUP + 1
    changed = np.flatnonzero(kept < lengths)
    plain = told == 0
    mapped = raw.copy()
    # The kept digits of a collapsed run are all "1" (0 is told apart only before `x`, which such runs never are).
    mapped[starts[plain]] = 49
    four = starts[plain & (lengths >= 4)]
    mapped[four + 1], mapped[four + 2], mapped[four + 3] = 49, 49, 49
    mapped[(starts[long_dashed][:, None] + np.arange(_LONGEST_GROUP + 1)).ravel()] = 49
    if len(changed) == 0:  # no length changed: the offsets stand (they count from the data buffer's start)
        out = np.concatenate((np.zeros(base, np.uint8), mapped)) if base else mapped
        new_offsets = offsets_buf
    else:
        first = starts[changed]
        dropped = lengths[changed] - kept[changed]
        # The buffer as spans kept, dropped, kept, ..., kept: a byte mask in one `repeat`.
        spans = np.empty(2 * len(changed) + 2, dtype=np.int64)
        spans[0], spans[-1] = 0, size
        spans[1:-1:2] = first + kept[changed]
        spans[2:-1:2] = first + lengths[changed]
        kept_span = np.zeros(2 * len(changed) + 1, dtype=np.bool_)
        kept_span[0::2] = True
        out = mapped[np.repeat(kept_span, np.diff(spans))]
        # A line's new start: its old one less the bytes dropped before it (changed runs never span two lines).
        before = np.concatenate(([0], np.cumsum(dropped)))[np.searchsorted(first, bounds, side="left")]
        # (the slots before a sliced array's offset are never read: zeros)
        new_offsets = pa.py_buffer(np.concatenate((np.zeros(alike.offset, np.int64), bounds - before)))
    return pa.Array.from_buffers(
        pa.large_string(), len(alike), [validity, new_offsets, pa.py_buffer(out)], offset=alike.offset
    )


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
        self._expr = self._chain(lambda pattern: pattern)
        self._ascii_expr = self._chain(ascii_only)

    def _chain(self, spell: Callable[[str], str]) -> pl.Expr:
        expr = pl.col("m").str.replace(spell(FIRST_LINE), "", n=1).str.slice(0, self.max_chars)
        for kind in self.kinds:
            expr = expr.str.replace_all(spell(kind.pattern), kind.replacement)
        return expr.alias("m")

    def mask(self, messages: pa.Array | pa.ChunkedArray | pl.Series) -> pl.Series:
        """The masked text of every message (nulls stay null). Whitespace is left as it is: the clusterer splits
        on any run of it, and two forms that differ only there resolve to the same template."""
        text = pl.Series("m", messages).cast(pl.String)
        # ASCII text (most logs) gets the chain spelled with ASCII classes: the same output (Unicode `\w`, `\d`,
        # `\s` and `\b` mean the ASCII ones there), about 15 % less CPU a line and a third less a call (Rust's
        # regex warms up a smaller automaton each call). A batch with any other character gets the Unicode chain.
        # (large_string: Arrow's kernel has none for string_view, which a newer default might give)
        ascii = pc.all(pc.string_is_ascii(text.to_arrow(compat_level=pl.CompatLevel.oldest()))).as_py() is not False
        # One select of the whole chain: a Series method per pass cost ~35 µs of fixed overhead each, together
        # a fifth of a 1000-line batch's masking.
        return text.to_frame().select(self._ascii_expr if ascii else self._expr).to_series()
