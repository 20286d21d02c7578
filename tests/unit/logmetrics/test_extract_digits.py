"""`literal(?P<name>\\d+)literal` extractions found by a byte search (logmetrics/digits.py) give exactly
what pyarrow's RE2 `extract_regex` gives, line by line."""

from __future__ import annotations

import random

import pyarrow as pa
import pyarrow.compute as pc
import pytest

from logwarden.config.logmetrics import MetricDefinition
from logwarden.logmetrics.aggregate import CompiledMetric
from logwarden.logmetrics.digits import digits_between, digits_literals
from logwarden.query.byte_text import ByteText

PATTERNS = [r"took (?P<t>\d+)ms", r"status=(?P<s>\d+)", r"s(?P<s>[0-9]+)", r"=(?P<s>\d+)s"]


def regex(text: pa.Array, pattern: str) -> pa.Array:
    return pc.struct_field(pc.extract_regex(text, pattern), [0])


def test_which_patterns_take_the_byte_search() -> None:
    assert digits_literals(r"status=(?P<status>\d+)") == (b"status=", b"")
    assert digits_literals(r"took (?P<t>[0-9]+)ms") == (b"took ", b"ms")
    for other in [r"(?P<t>\d+)ms", r"a.b(?P<t>\d+)", r"x(?P<t>\d*)", r"x(?P<t>\d+)\s", "é(?P<t>\\d+)", r"x(?P<t>\w+)"]:
        assert digits_literals(other) is None, other
    metric = CompiledMetric(MetricDefinition(name="m", query='* | extract "took (?P<t>\\d+)ms"', field="t", type="sum"))
    assert [e.digits for e in metric.extractions] == [(b"took ", b"ms")]


@pytest.mark.parametrize("pattern", PATTERNS)
def test_edge_lines(pattern: str) -> None:
    lines = [
        "took 12ms", "took 12m took 7ms", "took ms", "took 5", "x took 3msx", "é took 44ms ü", "took 1ms took 2ms",
        "status=", "status=x status=9", "s=5s", "ss12", "", None, "took 12ms\n", "tooK 3ms", "🙂took 8ms",
        "took 12", "345ms", "status=1", "23456789012s",  # digits going on in the next line's bytes
    ]  # fmt: skip
    text = pa.array(lines, pa.string())
    literals = digits_literals(pattern)
    assert literals is not None
    for part in (text, text.slice(1, len(lines) - 3), text.slice(5)):
        assert digits_between(part, *literals, pattern).equals(regex(part, pattern))
        # The batch's text searched before (shared by its extractions): the same.
        shared = ByteText(part)
        shared.starts(b"xy")
        assert digits_between(part, *literals, pattern, shared).equals(regex(part, pattern))


@pytest.mark.parametrize("pattern", PATTERNS)
def test_random_lines(pattern: str) -> None:
    rng = random.Random(3)
    pieces = ["took ", "ms", "1", "23", "x", " ", "é", "status=", "=", "tookk ", "s", "9", "\n", "took 5m", "tooK "]
    literals = digits_literals(pattern)
    assert literals is not None
    for trial in range(200):
        lines = ["".join(rng.choice(pieces) for _ in range(rng.randrange(8))) for _ in range(rng.randrange(40))]
        text = pa.array([None if rng.random() < 0.1 else t for t in lines], pa.string())
        if trial % 3 == 0 and len(text) > 2:
            text = text.slice(1, len(text) - 2)
        assert digits_between(text, *literals, pattern).equals(regex(text, pattern)), (pattern, text)


def test_long_runs_long_literals_and_bytes_that_look_like_digits() -> None:
    # Runs of 1 to 30 digits, literals longer than 8 bytes (checked 8 at a time), UTF-8 continuation bytes
    # whose low bits read as digits (`°` is C2 B0, `¹` is C2 B9) and Arabic-Indic digits, which `\d` is not.
    lines = [
        "duration_total_ms=" + "1" * k + ("ms" if k % 2 else "x") + " duration_total_ms=7ms" for k in range(31)
    ] + ["duration_total_ms=°", "duration_total_ms=¹1ms", "duration_total_ms=٣ms", "duration_total_ms=12°ms", ""]
    text = pa.array(lines, pa.string())
    for pattern in [r"duration_total_ms=(?P<v>\d+)ms", r"duration_total_ms=(?P<v>\d+)", r"=(?P<v>\d+)m"]:
        literals = digits_literals(pattern)
        assert literals is not None
        for part in (text, text.slice(3, 30)):
            assert digits_between(part, *literals, pattern).equals(regex(part, pattern)), pattern


def test_a_large_batch_agrees_with_the_regex() -> None:
    # Thousands of lines: the literal found many times per line, in some lines only across a line boundary.
    rng = random.Random(8)
    pieces = ["took ", "ms", "12", "3", " ", "took", "é", "status=", "500", "x", "tooK 4ms"]
    lines = [
        None if rng.random() < 0.01 else "".join(rng.choice(pieces) for _ in range(rng.randrange(10)))
        for _ in range(5000)
    ]
    text = pa.array(lines, pa.string())
    for pattern in PATTERNS:
        literals = digits_literals(pattern)
        assert literals is not None
        assert digits_between(text, *literals, pattern).equals(regex(text, pattern)), pattern
