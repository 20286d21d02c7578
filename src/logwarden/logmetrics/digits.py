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

# A regex of one named group of digits between two literals (ASCII, no metacharacters; the first not empty).
_LITERAL = r"[^\\.^$*+?()\[\]{}|\s]|[ ]"
_DIGITS_REGEX = re.compile(rf"((?:{_LITERAL})+)\(\?P<[A-Za-z_][A-Za-z0-9_]*>(?:\\d|\[0-9\])\+\)((?:{_LITERAL})*)")


def digits_literals(pattern: str) -> tuple[bytes, bytes] | None:
    """The literals around the digits of a `literal(?P<name>\\d+)literal` regex (None: another kind)."""
    m = _DIGITS_REGEX.fullmatch(pattern)
    if m is None or not pattern.isascii():
        return None
    return m.group(1).encode(), m.group(2).encode()


def _first_occurrences(data: np.ndarray, offsets: np.ndarray, needle: bytes) -> tuple[np.ndarray, np.ndarray]:
    """(the rows holding `needle` — bytes — within them, the position of its first occurrence in each)."""
    size = len(needle)
    if len(data) < size:
        return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64)
    if size == 1:
        starts = np.flatnonzero(data == needle[0])
    else:  # by the first two bytes at once (pairs from even and from odd positions), then byte by byte
        pair = needle[0] | needle[1] << 8
        even = np.flatnonzero(data[: len(data) - len(data) % 2].view("<u2") == pair) * 2
        odd = np.flatnonzero(data[1 : len(data) - (len(data) - 1) % 2].view("<u2") == pair) * 2 + 1
        starts = np.concatenate([even, odd])
        starts.sort()
    starts = starts[starts <= len(data) - size]
    for k in range(2, size):
        starts = starts[data[starts + k] == needle[k]]
    rows = np.searchsorted(offsets, starts, side="right") - 1
    inside = starts + size <= offsets[rows + 1]
    rows, starts = rows[inside], starts[inside]
    first = np.ones(len(rows), dtype=bool)
    first[1:] = rows[1:] != rows[:-1]
    return rows[first], starts[first]


def digits_between(text: pa.StringArray, prefix: bytes, suffix: bytes, pattern: str) -> pa.Array:
    """What `extract_regex(text, pattern)` gives for `pattern` = prefix(?P<g>\\d+)suffix, vectorized over the
    text's bytes (ASCII literals: a byte search finds them in UTF-8 text exactly): at the first occurrence of
    `prefix` in a line the run of ASCII digits after it, where `suffix` follows the run (the greedy run is the
    only candidate: a shorter one is followed by a digit). A line whose first occurrence does not match may match
    at a later one: those lines go through the regex."""
    n = len(text)
    buffers = text.buffers()
    offsets = np.frombuffer(buffers[1], dtype=np.int32)[text.offset : text.offset + n + 1].astype(np.int64)
    whole = np.frombuffer(buffers[2], dtype=np.uint8) if buffers[2] is not None else np.zeros(0, dtype=np.uint8)
    # The rows' bytes only, and one byte past them (every index below stays valid).
    data = np.concatenate([whole[offsets[0] : offsets[-1]], np.zeros(1, dtype=np.uint8)])
    offsets = offsets - offsets[0]
    last = len(data) - 1
    rows, pos = _first_occurrences(data[:last], offsets, prefix)
    if text.null_count:  # a null line's bytes (if any) are no text
        valid = pc.is_valid(text).to_numpy(zero_copy_only=False)[rows]
        rows, pos = rows[valid], pos[valid]
    end = offsets[rows + 1]
    start = pos + len(prefix)
    run = np.zeros(len(rows), dtype=np.int64)
    going = np.ones(len(rows), dtype=bool)
    while going.any():
        here = start + run
        found = data[np.minimum(here, last)]
        going &= (here < end) & (found >= 0x30) & (found <= 0x39)
        run += going
    matched = run > 0
    after = start + run
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
