"""Finding byte strings in every row of a string array at once, with numpy: no Python per row or per occurrence
(query/filter.py's word terms search the lowered message with it)."""

from __future__ import annotations

import threading

import numpy as np
import pyarrow as pa

_BYTE_RANK = np.uint64(0x0102030405060708)  # times 8 flags of 0/1: top byte = the sum of (index + 1) of those set
_BYTE_ONES = np.uint64(0x0101010101010101)  # times 8 flags of 0/1: top byte = how many are set
_TOP = np.uint64(56)
_BLOCK_BITS = 6  # `ByteText.row_of` starts from the row of each 64-byte block


def true_positions(mask: np.ndarray) -> np.ndarray:
    """`np.flatnonzero(mask)` in no particular order, for a boolean array whose length is a multiple of 8 and
    whose True are scattered (about 30-50 % faster there): numpy finds sparse True one at a time (a memchr per
    hit), so the 8-byte blocks holding any are found first (one per 8 bytes: dense enough for numpy's
    branchless loop), and a block's lone True is read by a multiplication (top byte: the flags weighted 1…8)."""
    blocks = mask.view("<u8")
    found = np.flatnonzero(blocks != 0)
    flags = blocks[found]
    rank = (flags * _BYTE_RANK) >> _TOP  # a lone flag at byte i (little-endian): i + 1
    many = ((flags * _BYTE_ONES) >> _TOP) > 1
    out = found * 8 + rank.astype(np.int64) - 1
    if not many.any():
        return out
    several = found[many]  # blocks with two or more True: byte by byte
    inside = np.flatnonzero(mask.reshape(-1, 8)[several])
    return np.concatenate([out[~many], several[inside >> 3] * 8 + (inside & 7)])


class ByteText:
    """A string array's rows as one byte buffer (a copy: the rows' bytes back to back, then 8 zero bytes, so that
    an 8-byte load at any position of the text stays inside it) with row offsets from 0, for finding a needle in
    every row at once with numpy (no Python per row or per occurrence)."""

    PAD = 8

    def __init__(self, array: pa.Array) -> None:
        self.rows = len(array)
        buffers = array.buffers()
        width = np.int64 if pa.types.is_large_string(array.type) else np.int32
        offsets = np.frombuffer(buffers[1], dtype=width) if buffers[1] is not None else np.zeros(1, dtype=width)
        self.offsets = offsets[array.offset : array.offset + self.rows + 1].astype(np.int64)
        data = buffers[2]
        whole = np.frombuffer(data, dtype=np.uint8) if data is not None else np.zeros(0, dtype=np.uint8)
        # The rows' bytes only (a slice's buffer may hold more), positions relative to the first row's start.
        first = int(self.offsets[0]) if self.rows else 0
        self.size = size = int(self.offsets[-1]) - first if self.rows else 0
        self.bytes = np.empty(size + self.PAD, dtype=np.uint8)
        self.bytes[:size] = whole[first : first + size]
        self.bytes[size:] = 0
        self.offsets -= first
        # The text as pairs of bytes from even and from odd positions: a needle's first two bytes are found with
        # one comparison per pair (little-endian: first byte low), about ten times faster than byte by byte.
        text = self.bytes[:size]
        self.pairs = (
            text[: size - size % 2].view("<u2"),
            text[1 : size - (size - 1) % 2].view("<u2") if size > 1 else np.zeros(0, dtype="<u2"),
        )
        # The 8 bytes from each position as one little-endian integer (unaligned loads, no copy): a candidate is
        # checked 8 bytes at a time.
        self.words = np.ndarray((max(size, 1),), dtype="<u8", buffer=self.bytes, strides=(1,))
        # Where the pairs equal a needle's first two bytes, in one array: even positions, then (from `_odd`) odd
        # ones, each part padded with False to a multiple of 8 bytes for `true_positions`. Made at the first
        # needle and reused by the others (under a lock: threads may share the text): fresh memory for each
        # needle costs page faults.
        self._odd = -(-len(self.pairs[0]) // 8) * 8
        self._hits: np.ndarray | None = None
        self._hits_lock = threading.Lock()
        self._block_rows: np.ndarray | None = None  # `row_of`'s table (made at its first call)

    def starts(self, needle: bytes) -> np.ndarray:
        """Every position where the needle is (overlapping occurrences too; across rows too), in no order."""
        size = len(needle)
        if size == 0 or size > self.size:
            return np.zeros(0, dtype=np.int64)
        if size == 1:
            return np.flatnonzero(self.bytes[: self.size] == needle[0])
        pair = needle[0] | needle[1] << 8
        even, odd = len(self.pairs[0]), self._odd
        with self._hits_lock:
            hits = self._hits
            if hits is None:
                hits = self._hits = np.empty(odd + -(-len(self.pairs[1]) // 8) * 8, dtype=bool)
                hits[even:odd] = False
                hits[odd + len(self.pairs[1]) :] = False
            np.equal(self.pairs[0], pair, out=hits[:even])
            np.equal(self.pairs[1], pair, out=hits[odd : odd + len(self.pairs[1])])
            found = true_positions(hits)
        starts = np.where(found < odd, found * 2, (found - odd) * 2 + 1)
        starts = starts[starts <= self.size - size]  # so that every load below stays in the text and its padding
        for k in range(2, size, 8):  # the rest 8 bytes at a time
            chunk = needle[k : k + 8]
            value = self.words[starts + k]
            if len(chunk) < 8:
                value &= np.uint64((1 << 8 * len(chunk)) - 1)
            starts = starts[value == np.uint64(int.from_bytes(chunk, "little"))]
        return starts

    def row_of(self, positions: np.ndarray) -> np.ndarray:
        """The row of each position of the text (positions inside it). A table of the row holding each 64-byte
        block's first byte, made at the first call, starts each position at most a block's rows before its own;
        a few vector steps walk on from there (a binary search in the offsets per position costs ~7x more; a row
        number per byte, 4 bytes of fresh memory per byte of text, measured slower inside an aggregation)."""
        if self._block_rows is None:
            # Per block, the last row starting before it (row 0 for the first): how many rows start in the blocks
            # before, less one.
            blocks = (self.size >> _BLOCK_BITS) + 1
            starts = np.bincount(self.offsets[:-1] >> _BLOCK_BITS, minlength=blocks)[:blocks]
            before = np.zeros(blocks, dtype=np.int64)
            np.cumsum(starts[:-1], out=before[1:])
            self._block_rows = np.maximum(before - 1, 0).astype(np.int32)
        rows: np.ndarray = self._block_rows[positions >> _BLOCK_BITS].astype(np.int64)
        going = np.flatnonzero(self.offsets[rows + 1] <= positions)
        while len(going):  # on to the next row while the position is past this one's end
            rows[going] += 1
            going = going[self.offsets[rows[going] + 1] <= positions[going]]
        return rows
