"""TCP framing (RFC 6587): octet counting, LF/NUL trailers, oversize frames, any split of the stream."""

from __future__ import annotations

import random

import pytest

from logwarden.ingest.syslog.framing import FrameDecoder, Framing


def decode_all(chunks: list[bytes], max_frame: int = 1024) -> tuple[list[bytes], list[tuple[bytes, str]], Framing]:
    decoder = FrameDecoder(max_frame)
    frames: list[bytes] = []
    rejected: list[tuple[bytes, str]] = []
    for chunk in [*chunks, None]:
        out = decoder.feed(chunk) if chunk is not None else decoder.finish()
        frames += out.frames
        rejected += out.rejected
        assert decoder.buffered <= max_frame + max((len(c) for c in chunks), default=0)
    return frames, rejected, decoder.framing


def octet(msg: bytes) -> bytes:
    return str(len(msg)).encode() + b" " + msg


MESSAGES = [b"<13>one", b"<14>1 - - - - - - two\nwith a newline", b"<15>three " + b"x" * 300, b"<13>"]


def test_octet_counting_keeps_embedded_newlines() -> None:
    frames, rejected, framing = decode_all([b"".join(octet(m) for m in MESSAGES)])
    assert framing is Framing.OCTET_COUNTING
    assert frames == MESSAGES
    assert rejected == []


def test_newline_framing_lf_crlf_and_nul() -> None:
    frames, rejected, framing = decode_all([b"<13>a\n<13>b\r\n<13>c\x00<13>d\n\n<13>last without trailer"])
    assert framing is Framing.NON_TRANSPARENT
    assert frames == [b"<13>a", b"<13>b\r", b"<13>c", b"<13>d", b"<13>last without trailer"]
    assert rejected == []


@pytest.mark.parametrize("seed", range(20))
def test_any_split_of_the_stream_gives_the_same_frames(seed: int) -> None:
    rng = random.Random(seed)
    octets = b"".join(octet(m) + (b"\n" if rng.random() < 0.3 else b"") for m in MESSAGES * 5)
    lines = b"".join(m.replace(b"\n", b" ") + rng.choice([b"\n", b"\r\n", b"\x00"]) for m in MESSAGES * 5)
    for stream, expected in ((octets, MESSAGES * 5), (lines, [m.replace(b"\n", b" ") for m in MESSAGES * 5])):
        cuts = sorted(rng.sample(range(1, len(stream)), 15))
        chunks = [stream[a:b] for a, b in zip([0, *cuts], [*cuts, len(stream)], strict=True)]
        frames, rejected, _ = decode_all(chunks)
        assert [f.rstrip(b"\r") for f in frames] == expected
        assert rejected == []


def test_oversize_octet_frame_is_truncated_and_the_stream_goes_on() -> None:
    big = b"<13>" + b"A" * 5000
    stream = octet(b"<13>before") + octet(big) + octet(b"<13>after")
    chunks = [stream[i : i + 700] for i in range(0, len(stream), 700)]
    frames, rejected, _ = decode_all(chunks, max_frame=1024)
    assert frames == [b"<13>before", b"<13>after"]
    assert len(rejected) == 1
    assert rejected[0][0] == big[:1024]
    assert rejected[0][1] == "syslog frame of 5004 bytes exceeds syslog.max_frame_bytes (1024); stored truncated"


def test_oversize_line_without_terminator_is_cut_and_skipped_to_the_next_line() -> None:
    big = b"<13>" + b"B" * 10_000
    stream = b"<13>before\n" + big + b"\n<13>after\n"
    chunks = [stream[i : i + 500] for i in range(0, len(stream), 500)]
    frames, rejected, _ = decode_all(chunks, max_frame=1024)
    assert frames == [b"<13>before", b"<13>after"]
    assert [(r[0], r[1]) for r in rejected] == [
        (big[:1024], "syslog frame of more than 1024 bytes exceeds syslog.max_frame_bytes (1024); stored truncated")
    ]


def test_oversize_complete_line_in_one_read() -> None:
    frames, rejected, _ = decode_all([b"<13>" + b"C" * 2000 + b"\n<13>ok\n"], max_frame=1024)
    assert frames == [b"<13>ok"]
    assert rejected[0][1].startswith("syslog frame of 2004 bytes exceeds")


def test_memory_stays_bounded_for_an_endless_line() -> None:
    decoder = FrameDecoder(1024)
    rejected = 0
    for _ in range(1000):
        out = decoder.feed(b"x" * 4096)
        rejected += len(out.rejected)
        assert decoder.buffered <= 1024 + 4096
    assert rejected == 1
    assert decoder.feed(b"tail\n<13>next\n").frames == [b"<13>next"]


def test_octet_mode_reads_a_frame_without_a_length_as_a_line() -> None:
    frames, rejected, framing = decode_all([octet(b"<13>a") + b"<13>line frame\n" + octet(b"<13>b")])
    assert framing is Framing.OCTET_COUNTING
    assert frames == [b"<13>a", b"<13>line frame", b"<13>b"]
    assert rejected == []


def test_connection_closed_inside_an_octet_counted_frame() -> None:
    frames, rejected, _ = decode_all([octet(b"<13>whole") + b"100 <13>only part"])
    assert frames == [b"<13>whole"]
    assert rejected == [(b"<13>only part", "incomplete octet-counted frame: connection closed after 13 of 100 bytes")]


def test_length_arrives_in_pieces() -> None:
    frames, _, _ = decode_all([b"1", b"0", b" <13>12345", b"6"])
    assert frames == [b"<13>123456"]
