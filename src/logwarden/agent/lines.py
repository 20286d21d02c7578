"""Complete lines, with their byte offsets, from a file read in large chunks.

The work per chunk is a handful of C-level bytes/str operations (rfind, split, decode, accumulate);
Python only loops per line for the rare line longer than the limit.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from itertools import accumulate

_PLUS_ONE = (1).__add__  # line length + its newline, without a Python-level lambda per line


@dataclass(slots=True)
class Lines:
    """Consecutive lines (or multiline events) of one file and where they are in it.

    `bounds[i]` is the offset of the first byte of entry i, `bounds[-1]` the offset just after the last
    entry (after its newline): entries cover the file range bounds[0]..bounds[-1] without gaps.
    """

    texts: list[str]
    bounds: list[int]
    truncated: frozenset[int] = field(default_factory=frozenset)  # start offsets of entries cut at the limit

    @property
    def end(self) -> int:
        return self.bounds[-1]

    def __len__(self) -> int:
        return len(self.texts)


def empty_lines(offset: int) -> Lines:
    return Lines([], [offset])


class LineSplitter:
    """Feeds of bytes in, complete lines out; the incomplete last line waits for its newline (or `flush`).

    Lines end with `\\n`; a `\\r` before it is dropped. Invalid UTF-8 becomes U+FFFD. A line longer than
    `max_line_bytes` is cut there (the rest of it is skipped, never buffered) and its start is listed in
    `Lines.truncated`.
    """

    def __init__(self, offset: int, max_line_bytes: int) -> None:
        self.offset = offset  # first byte not yet returned in a line
        self.max_line_bytes = max_line_bytes
        self._partial = b""  # the incomplete last line (at most max_line_bytes of it)
        self._partial_len = 0  # its real length: larger than len(_partial) while an overlong line is skipped

    @property
    def pending_bytes(self) -> int:
        """Bytes read past the last complete line."""
        return self._partial_len

    @property
    def read_offset(self) -> int:
        """Where the next read from the file starts."""
        return self.offset + self._partial_len

    def feed(self, chunk: bytes) -> Lines:
        """The lines completed by `chunk` (the bytes that follow read_offset in the file)."""
        head: Lines | None = None
        if self._partial_len > len(self._partial):
            # Skipping the rest of an overlong line: only its newline matters.
            nl = chunk.find(b"\n")
            if nl < 0:
                self._partial_len += len(chunk)
                return empty_lines(self.offset)
            head = self._take_partial(self._partial_len + nl + 1)
            chunk = chunk[nl + 1 :]
            if not chunk:
                return head
        data = self._partial + chunk if self._partial else chunk
        cut = data.rfind(b"\n")
        if cut < 0:
            self._keep_partial(data)
            return head or empty_lines(self.offset)
        complete = data[:cut]
        self._keep_partial(data[cut + 1 :])
        raw = complete.split(b"\n")
        bounds = list(accumulate(map(_PLUS_ONE, map(len, raw)), initial=self.offset))
        text = complete.decode("utf-8", "replace")
        if "\r" in text:
            text = text.replace("\r\n", "\n").removesuffix("\r")
        texts = text.split("\n")
        truncated: frozenset[int] = frozenset()
        if max(map(len, raw)) > self.max_line_bytes:
            cut_starts = []
            for i, line in enumerate(raw):
                if len(line) > self.max_line_bytes:
                    texts[i] = line[: self.max_line_bytes].decode("utf-8", "replace")
                    cut_starts.append(bounds[i])
            truncated = frozenset(cut_starts)
        self.offset = bounds[-1]
        lines = Lines(texts, bounds, truncated)
        return _concat(head, lines) if head is not None else lines

    def flush(self) -> Lines:
        """The incomplete last line as a line of its own (a file that ends without a newline)."""
        if not self._partial_len:
            return empty_lines(self.offset)
        return self._take_partial(self._partial_len)

    def _keep_partial(self, data: bytes) -> None:
        self._partial_len = len(data)
        self._partial = data[: self.max_line_bytes] if len(data) > self.max_line_bytes else data

    def _take_partial(self, length: int) -> Lines:
        """The partial as one line spanning `length` bytes of the file (newline included if any)."""
        kept = self._partial.removesuffix(b"\r") if length > self._partial_len else self._partial
        cut = self._partial_len > len(self._partial)
        start = self.offset
        self.offset += length
        self._partial, self._partial_len = b"", 0
        return Lines(
            [kept.decode("utf-8", "replace")], [start, self.offset], frozenset([start]) if cut else frozenset()
        )


def _concat(a: Lines, b: Lines) -> Lines:
    return Lines(a.texts + b.texts, a.bounds[:-1] + b.bounds, a.truncated | b.truncated)
