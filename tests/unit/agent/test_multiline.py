"""MultilineJoiner: Filebeat's pattern / negate / match semantics, limits, timeout, offsets."""

from __future__ import annotations

import warnings

import pytest

from logwarden.agent.config import MultilineConfig, compile_pattern
from logwarden.agent.lines import Lines, LineSplitter
from logwarden.agent.multiline import MultilineJoiner

# Filebeat's documented Java pattern. (`^[[:space:]]+(at|\.{3})\b|^Caused by:` misses "... 3 more" lines:
# there is no word boundary between "..." and a space, in Go's regexps as in Python's.)
JAVA = r"^[[:space:]]+(at|\.{3})[[:space:]]+\b|^Caused by:"

JAVA_LOG = b"""2026-11-21 10:00:00 INFO starting
2026-11-21 10:00:01 ERROR request failed
java.lang.IllegalStateException: boom
\tat com.example.Service.handle(Service.java:42)
\tat com.example.Main.main(Main.java:7)
Caused by: java.io.IOException: disk
\tat com.example.Disk.write(Disk.java:9)
\t... 3 more
2026-11-21 10:00:02 INFO recovered
"""


def lines_of(data: bytes, offset: int = 0) -> Lines:
    return LineSplitter(offset, 1 << 20).feed(data)


def join(config: MultilineConfig, data: bytes, *, one_by_one: bool = False) -> tuple[Lines, MultilineJoiner]:
    joiner = MultilineJoiner(config, 1 << 20)
    lines = lines_of(data)
    if not one_by_one:
        return joiner.push(lines, 0.0), joiner
    texts: list[str] = []
    bounds = [lines.bounds[0]]
    for i, text in enumerate(lines.texts):
        out = joiner.push(Lines([text], lines.bounds[i : i + 2]), 0.0)
        assert out.bounds[0] == bounds[-1]
        texts += out.texts
        bounds[-1:] = out.bounds
    return Lines(texts, bounds), joiner


def test_posix_classes_compile_without_warnings() -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        pattern = compile_pattern(JAVA)
    assert pattern.search("\tat x.y(Z.java:1)")
    assert pattern.search("    ... 3 more")
    assert pattern.search("Caused by: x")
    assert not pattern.search("java.lang.IllegalStateException: boom")


def test_invalid_pattern_is_a_config_error() -> None:
    with pytest.raises(ValueError, match="invalid regular expression"):
        MultilineConfig(pattern="(unclosed")


def test_java_stack_trace_is_one_event() -> None:
    # "at"/"..."/"Caused by" lines join the exception line above them; the log line before the exception
    # stays apart (the negated timestamp pattern in the next test keeps them together).
    config = MultilineConfig(pattern=JAVA, match="after")
    events, joiner = join(config, JAVA_LOG)
    assert events.texts[:2] == ["2026-11-21 10:00:00 INFO starting", "2026-11-21 10:00:01 ERROR request failed"]
    assert events.texts[2].startswith("java.lang.IllegalStateException: boom\n\tat com.example.Service")
    assert events.texts[2].endswith(
        "Caused by: java.io.IOException: disk\n\tat com.example.Disk.write(Disk.java:9)\n\t... 3 more"
    )
    assert joiner.pending, "the last line waits: the next line may continue it"
    assert joiner.flush().texts == ["2026-11-21 10:00:02 INFO recovered"]


def test_negated_timestamp_pattern_keeps_exception_with_its_log_line() -> None:
    config = MultilineConfig(pattern=r"^\d{4}-\d{2}-\d{2} ", negate=True, match="after")
    events, joiner = join(config, JAVA_LOG)
    assert len(events.texts) == 2
    assert events.texts[1].splitlines()[0] == "2026-11-21 10:00:01 ERROR request failed"
    assert events.texts[1].count("\n") == 6  # seven lines
    # Event offsets: each starts at its first line; together they cover the file up to the open event.
    starts = [0, len(b"2026-11-21 10:00:00 INFO starting\n")]
    assert events.bounds[:2] == starts
    assert events.bounds[2] == JAVA_LOG.index(b"2026-11-21 10:00:02")
    assert joiner.flush().bounds == [events.bounds[2], len(JAVA_LOG)]


def test_python_traceback() -> None:
    log = b"""2026-11-21 10:00:00,001 ERROR worker crashed
Traceback (most recent call last):
  File "app.py", line 3, in <module>
    main()
ValueError: bad input
2026-11-21 10:00:00,002 INFO next
"""
    config = MultilineConfig(pattern=r"^\d{4}-", negate=True)
    events, _ = join(config, log)
    assert events.texts == [log.decode().split("\n2026")[0]]


def test_match_before_with_line_continuations() -> None:
    log = b"first \\\nsecond \\\nthird\nalone\nx \\\n"
    config = MultilineConfig(pattern=r"\\$", match="before")
    events, joiner = join(config, log)
    assert events.texts == ["first \\\nsecond \\\nthird", "alone"]
    assert events.bounds == [0, 23, 29]
    assert joiner.pending


def test_negate_before() -> None:
    log = b"a\nb\nEND\nc\nEND\nd\n"
    config = MultilineConfig(pattern=r"^END$", negate=True, match="before")
    events, joiner = join(config, log)
    assert events.texts == ["a\nb\nEND", "c\nEND"]
    assert joiner.flush().texts == ["d"]


def test_feeding_line_by_line_gives_the_same_events() -> None:
    config = MultilineConfig(pattern=r"^\d{4}-\d{2}-\d{2} ", negate=True)
    whole, _ = join(config, JAVA_LOG)
    piecewise, _ = join(config, JAVA_LOG, one_by_one=True)
    assert piecewise.texts == whole.texts
    assert piecewise.bounds == whole.bounds


def test_max_lines_starts_a_new_event_without_dropping() -> None:
    log = b"head\n" + b"  cont\n" * 7 + b"next\n"
    config = MultilineConfig(pattern=r"^\s", max_lines=3)
    events, joiner = join(config, log)
    assert events.texts == ["head\n  cont\n  cont", "  cont\n  cont\n  cont", "  cont\n  cont"]
    assert joiner.flush().texts == ["next"]
    assert sum(t.count("\n") + 1 for t in events.texts) == 8


def test_size_limit_flushes_events() -> None:
    joiner = MultilineJoiner(MultilineConfig(pattern=r"^\s"), max_event_chars=20)
    events = joiner.push(lines_of(b"0123456789\n 123456789\n 12\nx\n"), 0.0)
    assert events.texts == ["0123456789", " 123456789\n 12"]
    assert all(len(t) <= 20 for t in events.texts)


def test_timeout_flushes_an_unfinished_event() -> None:
    config = MultilineConfig(pattern=r"^\s", timeout="2s")
    joiner = MultilineJoiner(config, 1 << 20)
    events = joiner.push(lines_of(b"error\n  detail\n"), now=100.0)
    assert events.texts == []
    assert joiner.flush_if_stale(101.9) is None
    stale = joiner.flush_if_stale(102.0)
    assert stale is not None and stale.texts == ["error\n  detail"]
    assert stale.bounds == [0, 15]
    assert not joiner.pending


def test_truncated_line_marks_its_event() -> None:
    joiner = MultilineJoiner(MultilineConfig(pattern=r"^\s"), 1 << 20)
    lines = LineSplitter(0, 8).feed(b"head\n  very long continuation\nnext\n")
    events = joiner.push(lines, 0.0)
    assert events.texts == ["head\n  very l"]
    assert events.truncated == frozenset([0])
