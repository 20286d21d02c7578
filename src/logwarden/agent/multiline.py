"""Multiline events with Filebeat's semantics: pattern, negate, match after|before, max_lines, timeout.

A line is *joined* when `pattern` matches it (or, with `negate`, when it does not):
- match `after`: joined lines are appended to the line before them;
- match `before`: joined lines are prepended to the next line that is not joined.
"""

from __future__ import annotations

from logwarden.agent.config import MultilineConfig, compile_pattern
from logwarden.agent.lines import Lines


class MultilineJoiner:
    """Lines in, events out (texts joined with `\\n`); the last event waits for the line that ends it.

    Events keep the file offsets of their lines: an event starts at its first line and the events out
    of one `push` cover a contiguous range that ends where the still-open event begins.
    """

    def __init__(self, config: MultilineConfig, max_event_chars: int) -> None:
        self._search = compile_pattern(config.pattern).search
        self._negate = config.negate
        self._after = config.match == "after"
        self._max_lines = config.max_lines
        self._max_chars = max_event_chars
        self._timeout = config.timeout.total_seconds()
        self._buf: list[str] = []
        self._chars = 0
        self._start = 0  # offset of the open event's first line
        self._end = 0  # offset after the open event's last line
        self._truncated = False
        self._last_line_at = 0.0

    @property
    def pending(self) -> bool:
        """True while an event is open (lines read but not yet part of an emitted event)."""
        return bool(self._buf)

    def push(self, lines: Lines, now: float) -> Lines:
        """The events completed by `lines`."""
        texts: list[str] = []
        starts: list[int] = []
        cut: list[int] = []
        end = self._start if self._buf else lines.bounds[0]
        search, negate, after, buf = self._search, self._negate, self._after, self._buf
        bounds = lines.bounds
        truncated = lines.truncated
        for i, text in enumerate(lines.texts):
            begin, stop = bounds[i], bounds[i + 1]
            joined = (search(text) is not None) != negate
            if buf and (
                (after and not joined) or len(buf) >= self._max_lines or self._chars + len(text) >= self._max_chars
            ):
                texts.append("\n".join(buf))
                starts.append(self._start)
                if self._truncated:
                    cut.append(self._start)
                end = begin
                buf.clear()
            if not buf:
                self._start = begin
                self._chars = 0
                self._truncated = False
            buf.append(text)
            self._chars += len(text) + 1
            self._end = stop
            if truncated and begin in truncated:
                self._truncated = True
            if not after and not joined:
                texts.append("\n".join(buf))
                starts.append(self._start)
                if self._truncated:
                    cut.append(self._start)
                end = stop
                buf.clear()
        if lines.texts:
            self._last_line_at = now
        if self._chars >= self._max_chars and buf:
            # An event at the size limit cannot grow: send it now.
            return _join(Lines(texts, [*starts, end], frozenset(cut)), self.flush())
        return Lines(texts, [*starts, end], frozenset(cut))

    def flush_if_stale(self, now: float) -> Lines | None:
        """The open event, if no line was added to it for `timeout`."""
        if self._buf and now - self._last_line_at >= self._timeout:
            return self.flush()
        return None

    def flush(self) -> Lines:
        """The open event, now (shutdown of a file, or a timeout)."""
        if not self._buf:
            return Lines([], [self._end])
        event = Lines(
            ["\n".join(self._buf)],
            [self._start, self._end],
            frozenset([self._start]) if self._truncated else frozenset(),
        )
        self._buf.clear()
        self._chars = 0
        return event


def _join(a: Lines, b: Lines) -> Lines:
    if not b.texts:
        return a
    return Lines(a.texts + b.texts, a.bounds[:-1] + b.bounds, a.truncated | b.truncated)
