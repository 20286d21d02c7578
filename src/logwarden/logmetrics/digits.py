"""`extract` regexes of digits between two literals — `status=(?P<status>\\d+)`, `took (?P<ms>\\d+)ms`, the
commonest kind in metric definitions — run as a byte search over the Arrow text instead of a regex engine: the
literals found with numpy (two bytes at a time, then byte by byte), the digits after them read in a few vector
steps. About twice as fast as RE2's `extract_regex`, with the same result line by line (the lines where only RE2
can decide go through it)."""

from __future__ import annotations

import re

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from logwarden.query.byte_text import ByteText

# A regex of one named group of digits between two literals (ASCII, no metacharacters; the first not empty).
_LITERAL = r"[^\\.^$*+?()\[\]{}|\s]|[ ]"
_DIGITS_REGEX = re.compile(rf"((?:{_LITERAL})+)\(\?P<[A-Za-z_][A-Za-z0-9_]*>(?:\\d|\[0-9\])\+\)((?:{_LITERAL})*)")


def digits_literals(pattern: str) -> tuple[bytes, bytes] | None:
    """The literals around the digits of a `literal(?P<name>\\d+)literal` regex (None: another kind)."""
    m = _DIGITS_REGEX.fullmatch(pattern)
    if m is None or not pattern.isascii():
        return None
    return m.group(1).encode(), m.group(2).encode()


def _first_occurrences(text: ByteText, needle: bytes) -> tuple[np.ndarray, np.ndarray]:
    """(the rows holding `needle` — bytes — within them, the position of its first occurrence in each)."""
    starts = np.sort(text.starts(needle))
    rows = text.row_of(starts)
    inside = starts + len(needle) <= text.offsets[rows + 1]
    rows, starts = rows[inside], starts[inside]
    first = np.ones(len(rows), dtype=bool)
    first[1:] = rows[1:] != rows[:-1]
    return rows[first], starts[first]


_RUN = 8  # digits read at once from each candidate (one 8-byte load): longer runs go on byte by byte


def _digit_runs(text: ByteText, start: np.ndarray, end: np.ndarray) -> np.ndarray:
    """The length of the run of ASCII digits at each `start`, ending at `end` at the latest."""
    last = max(text.size - 1, 0)
    # 8 bytes from each start (the text's padding keeps every load inside it), a row of flags each.
    ahead = text.words[np.minimum(start, last)].view(np.uint8).reshape(-1, _RUN)
    digit = (ahead >= 0x30) & (ahead <= 0x39)
    run: np.ndarray = np.where(digit.all(axis=1), _RUN, np.argmin(digit, axis=1)).astype(np.int64)
    run = np.minimum(run, np.maximum(end - start, 0))
    longer = np.flatnonzero(run == _RUN)
    while len(longer):  # runs of 8 digits and more (rare): byte by byte
        here = start[longer] + run[longer]
        found = text.bytes[np.minimum(here, last + 1)]
        going = (here < end[longer]) & (found >= 0x30) & (found <= 0x39)
        longer = longer[going]
        run[longer] += 1
    return run


def digits_between(
    text: pa.StringArray, prefix: bytes, suffix: bytes, pattern: str, found: ByteText | None = None
) -> pa.Array:
    """What `extract_regex(text, pattern)` gives for `pattern` = prefix(?P<g>\\d+)suffix, vectorized over the
    text's bytes (ASCII literals: a byte search finds them in UTF-8 text exactly): at the first occurrence of
    `prefix` in a line the run of ASCII digits after it, where `suffix` follows the run (the greedy run is the
    only candidate: a shorter one is followed by a digit). A line whose first occurrence does not match may match
    at a later one: those lines go through the regex. `found`: the text's `ByteText`, when made before (shared
    by the extractions of one batch)."""
    n = len(text)
    bt = ByteText(text) if found is None else found
    rows, pos = _first_occurrences(bt, prefix)
    if text.null_count:  # a null line's bytes (if any) are no text
        valid = pc.is_valid(text).to_numpy(zero_copy_only=False)[rows]
        rows, pos = rows[valid], pos[valid]
    end = bt.offsets[rows + 1]
    start = pos + len(prefix)
    run = _digit_runs(bt, start, end)
    matched = run > 0
    after = start + run
    data, last = bt.bytes, bt.size  # data[last:] is zero padding
    for k, byte in enumerate(suffix):
        matched &= (after + k < end) & (data[np.minimum(after + k, last)] == byte)
    hit_rows, hit_start, hit_len = rows[matched], start[matched], run[matched]
    # The digits of each hit, one after another (offsets per line: empty where no hit, null there).
    lengths = np.zeros(n, dtype=np.int64)
    lengths[hit_rows] = hit_len
    out_offsets = np.zeros(n + 1, dtype=np.int32)
    np.cumsum(lengths, out=out_offsets[1:])
    spans = np.repeat(hit_start - out_offsets[hit_rows], hit_len) + np.arange(int(out_offsets[-1]))
    valid = np.zeros(n, dtype=bool)
    valid[hit_rows] = True
    values = pa.StringArray.from_buffers(
        n, pa.py_buffer(out_offsets), pa.py_buffer(data[spans].tobytes()), pa.array(valid).buffers()[1]
    )
    undecided = rows[~matched]
    if len(undecided) == 0:
        return values
    again = pc.struct_field(pc.extract_regex(text.take(pa.array(undecided)), pattern), [0])
    mask = np.zeros(n, dtype=bool)
    mask[undecided] = True
    return pc.replace_with_mask(values, pa.array(mask), again)
