"""How deeply JSON text nests, checked before any parser or recursive function sees it.

Cheap on the hot path: the count of `{` and `[` on a line (strings included) is an upper bound of its
depth, computed for all lines at once by one Arrow kernel. Only lines whose bound is over the limit get
the exact depth, also without a per-byte Python loop: strings (with their escapes) and everything but
brackets are cut out by one regex kernel, and the depth is the maximum running sum of +1 per opening
and -1 per closing bracket.
"""

from __future__ import annotations

import pyarrow as pa
import pyarrow.compute as pc

DEFAULT_MAX_JSON_DEPTH = 64
"""Default of ingest.max_json_depth: far above real logs (Elasticsearch's mapping depth limit is 20) and far
below what recursive decoders survive (Python's recursion limit is 1000, orjson's 1024)."""

_OPENERS = pa.array([ord("{"), ord("[")], pa.uint8())
_CLOSERS = pa.array([ord("}"), ord("]")], pa.uint8())
_NOT_STRUCTURE = r'(?:"(?:[^"\\]|\\.)*"|[^\[\]{}"])+'  # strings, escapes included, and runs of non-brackets


def depth_upper_bounds(lines: pa.Array, openers: str = "{[") -> pa.Array:
    """Per line (string or binary array), the number of `{` and `[`: never less than its nesting depth.

    Pass `openers="{"` when the text holds no `[` at all (`b"[" in body` is a fast scan), to skip a pass.
    """
    # Length lost by deleting them: plain replace_substring is about 3x faster than count_substring.
    without = lines
    for opener in openers:
        without = pc.replace_substring(without, opener, "")
    return pc.subtract(pc.binary_length(lines), pc.binary_length(without))


def json_depth(text: bytes) -> int:
    """The nesting depth of one JSON text (`{}` is 1), brackets inside strings not counted; 0 for scalars.

    Text that is not valid JSON still gets a number, never less than what a parser would nest into
    before it found the error.
    """
    if text.count(b"{") + text.count(b"[") == 0:
        return 0
    kept = pc.replace_substring_regex(pa.array([text], pa.binary()), _NOT_STRUCTURE, "")[0].as_buffer()
    if kept is None or kept.size == 0:
        return 0
    steps = _steps(pa.Array.from_buffers(pa.uint8(), kept.size, [None, kept]))
    return max(int(pc.max(pc.cumulative_sum(steps)).as_py() or 0), 0)


def json_depths(texts: pa.Array) -> pa.Array:
    """`json_depth` of every value of a string or binary array at once (int32), without a loop over them."""
    # One regex pass drops strings (escapes included) and everything but brackets; an unterminated
    # string leaves its quote and the brackets after it, which only makes the depth larger.
    kept = pc.replace_substring_regex(texts.cast(pa.binary()), _NOT_STRUCTURE, "")
    lengths = pc.fill_null(pc.binary_length(kept), 0)
    if len(kept) == 0 or pc.sum(lengths).as_py() in (None, 0):
        return pa.repeat(pa.scalar(0, pa.int32()), len(texts))
    offsets = pa.concat_arrays([pa.array([0], pa.int64()), pc.cumulative_sum(lengths).cast(pa.int64())])
    everything = pa.ListArray.from_arrays(pa.array([0, len(kept)], pa.int32()), pc.fill_null(kept, b""))
    joined = pc.binary_join(everything, b"")[0].as_buffer()
    codes = pa.Array.from_buffers(pa.uint8(), joined.size, [None, joined])
    steps = _steps(codes)
    # Running level over all texts, made relative to where each text starts; the depth is its maximum.
    level = pc.cumulative_sum(steps)
    text_of = pc.list_parent_indices(pa.LargeListArray.from_arrays(offsets, codes))
    before = pc.subtract(level, steps)  # level just before each bracket
    starts = pc.take(before, pc.min_element_wise(offsets.slice(0, len(kept)), pa.scalar(len(codes) - 1)))
    relative = pc.subtract(level, pc.take(starts, text_of))
    deepest = pa.table({"text": text_of, "level": relative}).group_by("text").aggregate([("level", "max")])
    # Texts without a bracket have no group: depth 0.
    row = pc.index_in(pa.array(range(len(texts)), pa.int64()), value_set=deepest.column("text").combine_chunks())
    depths = pc.fill_null(pc.take(deepest.column("level_max").combine_chunks(), row), 0)
    return pc.max_element_wise(depths, 0).cast(pa.int32())


def _steps(codes: pa.Array) -> pa.Array:
    """+1 per opening bracket, -1 per closing one, 0 for anything else (a stray quote), as int32."""
    return pc.if_else(
        pc.is_in(codes, _OPENERS),
        pa.scalar(1, pa.int32()),
        pc.if_else(pc.is_in(codes, _CLOSERS), pa.scalar(-1, pa.int32()), pa.scalar(0, pa.int32())),
    )


def too_deep(text: bytes, max_depth: int) -> bool:
    """Whether `text` nests deeper than `max_depth` (the exact depth only when the quick bound says maybe)."""
    return text.count(b"{") + text.count(b"[") > max_depth and json_depth(text) > max_depth


def depth_reason(max_depth: int) -> str:
    """The dead-letter reason (and 400 message) for text nested deeper than the limit."""
    return f"JSON nested deeper than {max_depth} levels (ingest.max_json_depth)"
