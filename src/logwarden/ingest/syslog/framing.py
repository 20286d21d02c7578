"""Cut a syslog TCP byte stream into frames (RFC 6587): octet counting or LF/NUL-terminated lines.

The framing is recognised from the first byte of the connection: a digit means octet counting
(`LEN SP MSG`, RFC 6587 3.4.1 and RFC 5425), anything else (normally the `<` of a PRI) means
non-transparent framing with LF as the trailer (3.4.2; NUL is accepted too, and a CR before the LF is
dropped later with the other trailing whitespace). In octet-counting mode a frame that does not start
with a valid length is read as a line instead, so a sender that mixes the two is still understood.

Memory per connection is bounded: the decoder never holds more than `max_frame_bytes` plus one read of
an unfinished frame. A longer frame is cut to `max_frame_bytes`, reported as oversize, and the rest of it
is skipped; the stream goes on with the next frame.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from enum import Enum

_TERMINATOR = re.compile(rb"[\n\x00]")
# At most 10 digits: a length of 10 GB is already absurd, and it keeps the header search short.
_MAX_LENGTH_DIGITS = 10
_BLANK = b" \t\r\n\x00"


class Framing(Enum):
    UNKNOWN = "unknown"
    OCTET_COUNTING = "octet-counting"
    NON_TRANSPARENT = "non-transparent"


@dataclass(slots=True)
class DecodedFrames:
    """What one `feed` produced: complete frames, and frames refused with the reason (bytes, reason)."""

    frames: list[bytes] = field(default_factory=list)
    rejected: list[tuple[bytes, str]] = field(default_factory=list)


class FrameDecoder:
    """Incremental (sans-IO) decoder for one TCP connection."""

    def __init__(self, max_frame_bytes: int) -> None:
        self.max_frame_bytes = max_frame_bytes
        self.framing = Framing.UNKNOWN
        self._buf = bytearray()
        # Bytes of an oversize octet-counted frame still to skip.
        self._skip = 0
        # Inside an oversize line: discard up to the next terminator.
        self._discard_line = False

    @property
    def buffered(self) -> int:
        """Bytes held for an unfinished frame."""
        return len(self._buf)

    def feed(self, data: bytes) -> DecodedFrames:
        """Add received bytes; return the frames they completed."""
        out = DecodedFrames()
        buf = self._buf
        buf += data
        pos = self._skip_pending(0)
        if self.framing is Framing.UNKNOWN:
            pos = self._detect(pos)
        if self.framing is Framing.NON_TRANSPARENT:
            pos = self._lines(pos, out)
        elif self.framing is Framing.OCTET_COUNTING:
            pos = self._octets(pos, out)
        del buf[:pos]
        return out

    def finish(self) -> DecodedFrames:
        """The connection ended: what is left is the last frame (a line without trailer), or an incomplete one."""
        out = DecodedFrames()
        rest = bytes(self._buf).strip(_BLANK)
        self._buf.clear()
        if self._discard_line or self._skip:
            self._discard_line = False
            self._skip = 0
            return out
        if not rest:
            return out
        if self.framing is Framing.OCTET_COUNTING and rest[:1].isdigit():
            header, _, body = rest.partition(b" ")
            if header.isdigit() and len(header) <= _MAX_LENGTH_DIGITS:
                out.rejected.append(
                    (
                        body,
                        f"incomplete octet-counted frame: connection closed after {len(body)} of {int(header)} bytes",
                    )
                )
                return out
        out.frames.append(rest)
        return out

    def _skip_pending(self, pos: int) -> int:
        buf = self._buf
        if self._skip:
            n = min(self._skip, len(buf) - pos)
            self._skip -= n
            pos += n
        if self._discard_line:
            m = _TERMINATOR.search(buf, pos)
            if m is None:
                return len(buf)
            self._discard_line = False
            pos = m.end()
        return pos

    def _detect(self, pos: int) -> int:
        buf = self._buf
        while pos < len(buf) and buf[pos] in _BLANK:
            pos += 1
        if pos < len(buf):
            self.framing = Framing.OCTET_COUNTING if 0x30 <= buf[pos] <= 0x39 else Framing.NON_TRANSPARENT
        return pos

    def _oversize(self, frame: bytes | bytearray, size: int | None, out: DecodedFrames) -> None:
        seen = f"{size} bytes" if size is not None else f"more than {self.max_frame_bytes} bytes"
        out.rejected.append(
            (
                bytes(frame[: self.max_frame_bytes]),
                f"syslog frame of {seen} exceeds syslog.max_frame_bytes ({self.max_frame_bytes}); stored truncated",
            )
        )

    def _lines(self, pos: int, out: DecodedFrames) -> int:
        """Non-transparent framing: every complete line at once, with bytes.split."""
        buf = self._buf
        end = max(buf.rfind(b"\n", pos), buf.rfind(b"\x00", pos))
        if end >= pos:
            lines = bytes(buf[pos:end]).split(b"\n")
            if b"\x00" in buf[pos:end]:
                lines = [part for line in lines for part in line.split(b"\x00")]
            limit = self.max_frame_bytes
            if max(map(len, lines)) > limit:
                for line in lines:
                    if len(line) > limit:
                        self._oversize(line, len(line), out)
                    elif line:
                        out.frames.append(line)
            else:
                out.frames.extend(line for line in lines if line)
            pos = end + 1
        if len(buf) - pos > self.max_frame_bytes:
            # No terminator within the limit: keep the start for the dead letter, drop the rest of the line.
            self._oversize(buf[pos:], None, out)
            self._discard_line = True
            pos = self._skip_pending(len(buf))
        return pos

    def _octets(self, pos: int, out: DecodedFrames) -> int:
        buf = self._buf
        limit = self.max_frame_bytes
        while True:
            pos = self._skip_pending(pos)
            # A stray trailer after an octet-counted frame (some senders add one) is not a frame.
            while pos < len(buf) and buf[pos] in _BLANK:
                pos += 1
            if pos >= len(buf):
                return pos
            if 0x30 <= buf[pos] <= 0x39:
                space = buf.find(b" ", pos, pos + _MAX_LENGTH_DIGITS + 1)
                if space == -1 and len(buf) - pos <= _MAX_LENGTH_DIGITS and bytes(buf[pos:]).isdigit():
                    return pos  # the length is still arriving
                header = bytes(buf[pos:space]) if space != -1 else b""
                if header.isdigit() and header[0] != 0x30:
                    length = int(header)
                    start = space + 1
                    available = len(buf) - start
                    if length > limit:
                        if available < limit:
                            return pos  # wait for the part kept in the dead letter
                        self._oversize(buf[start : start + limit], length, out)
                        self._skip = length - limit
                        pos = start + limit
                        continue
                    if available < length:
                        return pos
                    out.frames.append(bytes(buf[start : start + length]))
                    pos = start + length
                    continue
            # Not a length: this frame is a line.
            m = _TERMINATOR.search(buf, pos)
            if m is None:
                if len(buf) - pos > limit:
                    self._oversize(buf[pos:], None, out)
                    self._discard_line = True
                    return len(buf)
                return pos
            line = bytes(buf[pos : m.start()])
            if len(line) > limit:
                self._oversize(line, len(line), out)
            else:
                out.frames.append(line)
            pos = m.end()
