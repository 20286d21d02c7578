"""`multiline`: fold stack traces sent line by line back into one line per event, within a batch.

Lines belong together only within one stream (same source, host and service by default) and one
batch (one request). The continuation test is vectorized; the events are cut and joined with polars.
Python tracebacks need a little state (frames, then the final `XxxError: …` line, then maybe a
chained traceback), so a short loop runs over the flags — only for batches that hold a traceback.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Literal

import pyarrow as pa
import pyarrow.compute as pc
from pydantic import Field

from logwarden.lazy import lazy_module
from logwarden.pipeline import fields
from logwarden.pipeline.base import BuildEnv, Processed, Processor, ProcessorBuildError, ProcessorConfig
from logwarden.pipeline.parsers.common import check_re2

if TYPE_CHECKING:
    import polars as pl
else:
    pl = lazy_module("polars")  # imported on first use (logwarden.lazy)

# Continuation lines of a Java stack trace: frames, "... N more", causes and suppressed exceptions.
JAVA_CONTINUATION = (
    r"^\s+at\s|^\s+\.\.\. \d+ (?:more|common frames omitted)|^\s*Caused by:\s|^\s+Suppressed:\s|^\s+\.\.\.\s*$"
)
PYTHON_HEADER = "Traceback (most recent call last):"
_PYTHON_CHAIN = (
    "",
    "During handling of the above exception, another exception occurred:",
    "The above exception was the direct cause of the following exception:",
)
_INDENTED = r"^\s"
Kind = Literal["java", "python"]
KINDS: tuple[Kind, ...] = ("java", "python")


class MultilineConfig(ProcessorConfig):
    """Fold continuation lines into the line that starts their event (message joined with newlines,
    other fields from the first line); the batch shrinks. Folding happens within one request: the agent
    folds across reads itself (its `multiline` setting).

    Without `pattern`, the built-in `kinds` apply: Java stack traces (`at …`, `... N more`,
    `Caused by:`) and Python tracebacks (`Traceback (most recent call last):`, indented lines, the
    final `XxxError: …` line, chained tracebacks). With `pattern`, Filebeat's rules apply.
    """

    type: Literal["multiline"]
    kinds: list[Kind] = Field(default_factory=lambda: list(KINDS))
    """Built-in continuation rules used when `pattern` is not set."""
    pattern: str | None = None
    """RE2 pattern marking lines that belong to a neighbour (Filebeat `multiline.pattern`)."""
    negate: bool = False
    """Lines that do NOT match `pattern` are the ones joined."""
    match: Literal["after", "before"] = "after"
    """`after`: joined lines go to the end of the line before them; `before`: joined lines go in front
    of the next line that is not joined."""
    max_lines: int = Field(500, ge=2, le=100_000)
    """An event longer than this is cut into several."""
    stream: list[str] = Field(default_factory=lambda: ["source", "host", "service"])
    """Fields that identify a stream: only lines with equal values are folded together."""

    def build(self, env: BuildEnv) -> Processor:
        if self.pattern is not None:
            check_re2(f"(?P<x>{self.pattern})", "pattern")
        elif not self.kinds:
            raise ProcessorBuildError("kinds", "set `pattern` or at least one of the built-in kinds")
        return MultilineFolder(self)


class MultilineFolder(Processor):
    def __init__(self, config: MultilineConfig) -> None:
        self.config = config

    def process(self, batch: pa.Table) -> Processed:
        n = batch.num_rows
        if n < 2:
            return Processed(batch)
        message = fields.get_strings(batch, "message")
        if message is None:
            return Processed(batch)
        text = pc.fill_null(message, "")
        frame = pl.DataFrame(
            {
                "row": pl.Series(range(n), dtype=pl.UInt32),
                "stream": self._stream_codes(batch),
                "joined": pl.from_arrow(self._stateless_flags(text)),
            }
        ).sort(["stream", "row"])
        if self.config.pattern is None and "python" in self.config.kinds:
            frame = _python_flags(frame, text)
        if not frame["joined"].any():
            return Processed(batch)
        same = pl.col("stream") == pl.col("stream").shift(1)
        if self.config.match == "after" or self.config.pattern is None:
            start = ~pl.col("joined") | ~same.fill_null(False)
        else:
            start = ~same.fill_null(False) | ~pl.col("joined").shift(1).fill_null(False)
        frame = frame.with_columns(start.alias("start")).with_columns(pl.col("start").cum_sum().alias("event"))
        # Cut events longer than max_lines.
        frame = frame.with_columns(
            (pl.col("start") | (pl.int_range(pl.len()).over("event") % self.config.max_lines == 0)).alias("start")
        ).with_columns(pl.col("start").cum_sum().alias("event"))
        events = (
            frame.with_columns(pl.Series("text", pl.from_arrow(text)).gather(frame["row"]))
            .group_by("event", maintain_order=True)
            .agg(pl.col("row").first(), pl.col("text").str.join("\n"), pl.len().alias("lines"))
            .sort("row")
        )
        if events.height == n:
            return Processed(batch)
        out = batch.take(events["row"].to_arrow())
        folded = events["lines"].to_arrow()
        out = fields.set_field(out, "message", events["text"].to_arrow(), pc.greater(folded, 1))
        return Processed(out)

    def _stateless_flags(self, text: pa.Array) -> pa.Array:
        config = self.config
        if config.pattern is not None:
            matched = pc.match_substring_regex(text, config.pattern)
            return pc.invert(matched) if config.negate else matched
        if "java" in config.kinds:
            return pc.match_substring_regex(text, JAVA_CONTINUATION)
        return pa.repeat(pa.scalar(False), len(text))

    def _stream_codes(self, batch: pa.Table) -> pl.Series:
        parts = []
        for name in self.config.stream:
            values = fields.get_strings(batch, name)
            if values is None:
                parts.append(pl.repeat("", batch.num_rows, eager=True))
            else:
                parts.append(pl.Series(values).fill_null("\x00"))
        if not parts:
            return pl.Series(pl.repeat(0, batch.num_rows, eager=True), dtype=pl.UInt32)
        key = pl.DataFrame({f"k{i}": p for i, p in enumerate(parts)}).select(pl.concat_str(pl.all(), separator="\x1f"))
        return key.to_series().rank("dense").cast(pl.UInt32).rename("stream")


def _python_flags(frame: pl.DataFrame, text: pa.Array) -> pl.DataFrame:
    """Add Python-traceback continuation flags (a state machine per stream, over rows in stream order)."""
    if not pc.any(pc.equal(pc.utf8_trim_whitespace(text), PYTHON_HEADER)).as_py():
        return frame
    rows = frame["row"].to_list()
    streams = frame["stream"].to_list()
    joined = frame["joined"].to_list()
    lines = pc.take(text, pa.array(rows, pa.uint32())).to_pylist()
    indented = pc.match_substring_regex(pa.array(lines, pa.string()), _INDENTED).to_pylist()
    state = "none"  # none | frames (after a header) | chain (after the final line)
    previous_stream = None
    for i, line in enumerate(lines):
        if streams[i] != previous_stream:
            state, previous_stream = "none", streams[i]
        stripped = line.strip()
        if state == "frames":
            if indented[i]:
                joined[i] = True
                continue
            if stripped == PYTHON_HEADER:
                joined[i] = True
                continue
            # The first line back at the margin names the exception: it ends the traceback.
            joined[i] = True
            state = "chain"
            continue
        if state == "chain":
            if stripped in _PYTHON_CHAIN:
                joined[i] = True
                continue
            if stripped == PYTHON_HEADER:
                joined[i] = True
                state = "frames"
                continue
            state = "none"
        if stripped == PYTHON_HEADER:
            state = "frames"
    return frame.with_columns(pl.Series("joined", joined, dtype=pl.Boolean))


CONFIGS = (MultilineConfig,)
