"""LineSplitter: complete lines with exact byte offsets, whatever the chunk boundaries."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from logwarden.agent.lines import Lines, LineSplitter


def feed_all(splitter: LineSplitter, chunks: list[bytes]) -> Lines:
    texts: list[str] = []
    bounds = [splitter.offset]
    truncated: set[int] = set()
    for chunk in chunks:
        lines = splitter.feed(chunk)
        assert lines.bounds[0] == bounds[-1], "each feed continues where the previous one ended"
        texts += lines.texts
        bounds[-1:] = lines.bounds
        truncated |= lines.truncated
    return Lines(texts, bounds, frozenset(truncated))


def reference(data: bytes, base: int, limit: int) -> Lines:
    """The obvious per-line implementation, for comparison."""
    texts, bounds, cut = [], [base], set()
    pos = 0
    while (nl := data.find(b"\n", pos)) >= 0:
        line = data[pos:nl]
        if len(line) > limit:
            cut.add(base + pos)
            line = line[:limit]
        elif line.endswith(b"\r"):
            line = line[:-1]
        texts.append(line.decode("utf-8", "replace"))
        pos = nl + 1
        bounds.append(base + pos)
    return Lines(texts, bounds, frozenset(cut))


def test_lines_and_offsets() -> None:
    s = LineSplitter(100, 1024)
    lines = s.feed(b"alpha\nbeta\ngam")
    assert lines.texts == ["alpha", "beta"]
    assert lines.bounds == [100, 106, 111]
    assert s.pending_bytes == 3 and s.read_offset == 114
    lines = s.feed(b"ma\n\ndelta\n")
    assert lines.texts == ["gamma", "", "delta"]
    assert lines.bounds == [111, 117, 118, 124]
    assert s.offset == s.read_offset == 124


def test_incomplete_line_waits_then_flushes() -> None:
    s = LineSplitter(0, 1024)
    assert s.feed(b"no newline yet").texts == []
    assert s.feed(b" still").texts == []
    flushed = s.flush()
    assert flushed.texts == ["no newline yet still"]
    assert flushed.bounds == [0, 20]
    assert s.flush().texts == []
    assert s.feed(b"next\n").bounds == [20, 25]


def test_crlf_and_invalid_utf8() -> None:
    s = LineSplitter(0, 1024)
    lines = s.feed(b"dos\r\nbad \xff\xfe byte\r\nbare\rcr\n")
    assert lines.texts == ["dos", "bad \ufffd\ufffd byte", "bare\rcr"]
    assert lines.bounds == [0, 5, 18, 26]


def test_overlong_line_is_cut_and_the_rest_skipped_without_buffering() -> None:
    s = LineSplitter(0, 10)
    assert s.feed(b"0123456789ABCDEF").texts == []
    assert s.feed(b"G" * 1000).texts == []
    assert len(s._partial) == 10, "an overlong line is not buffered beyond the limit"
    lines = s.feed(b"HIJ\nshort\n")
    assert lines.texts == ["0123456789", "short"]
    assert lines.bounds == [0, 1020, 1026]
    assert lines.truncated == frozenset([0])
    lines = s.feed(b"x" * 25 + b"\nok\n")
    assert lines.texts == ["x" * 10, "ok"]
    assert lines.truncated == frozenset([1026])


@settings(max_examples=300, deadline=None)
@given(
    data=st.lists(st.sampled_from([b"a", b"bc", b"\n", b"\r\n", b"\xc3\xa9", b"\xff", b"long-line-" * 3]), max_size=60),
    cuts=st.lists(st.integers(min_value=0, max_value=400), max_size=12),
    limit=st.integers(min_value=4, max_value=64),
)
def test_any_chunking_gives_the_same_lines(data: list[bytes], cuts: list[int], limit: int) -> None:
    blob = b"".join(data)
    points = sorted({c for c in cuts if c < len(blob)})
    chunks = [blob[a:b] for a, b in zip([0, *points], [*points, len(blob)], strict=True)]
    got = feed_all(LineSplitter(7, limit), chunks)
    want = reference(blob, 7, limit)
    assert got.texts == want.texts
    assert got.bounds == want.bounds
    assert got.truncated == want.truncated
