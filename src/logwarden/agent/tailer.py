"""One file instance being read: its open handle, its stream id, and the line splitting state."""

from __future__ import annotations

import os

from logwarden.agent.config import FileInput
from logwarden.agent.identity import FINGERPRINT_BYTES, FileId
from logwarden.agent.lines import LineSplitter
from logwarden.agent.multiline import MultilineJoiner


class FileTailer:
    """Reads by handle, so a rename or a deletion does not stop it: the same inode is read to its end."""

    def __init__(
        self,
        *,
        fd: int,
        path: str,
        fid: FileId,
        input_index: int,
        config: FileInput,
        stream: str,
        offset: int,
        prefix: bytes,
        now: float,
    ) -> None:
        self.fd = fd
        self.path = path
        self.fid = fid
        self.input_index = input_index
        self.config = config
        self.orphaned_at: float | None = None  # when it left the globs (renamed away or deleted)
        self.restart(stream, offset, prefix, now)

    def restart(self, stream: str, offset: int, prefix: bytes, now: float) -> None:
        """Begin a stream at `offset` (a new file, or the same inode after a truncation)."""
        self.stream = stream
        self.prefix = prefix  # the file's first bytes (up to FINGERPRINT_BYTES), to notice a rewrite
        self.splitter = LineSplitter(offset, self.config.max_line_bytes)
        self.joiner = (
            MultilineJoiner(self.config.multiline, self.config.max_line_bytes) if self.config.multiline else None
        )
        self.size = offset  # file size at the last look
        self.emitted_end = offset  # offset after the last event handed to the batch builder
        self.last_data_at = now

    def read(self, length: int) -> bytes:
        return os.pread(self.fd, length, self.splitter.read_offset)

    def head(self, size: int) -> bytes:
        return os.pread(self.fd, min(size, FINGERPRINT_BYTES), 0)

    def close(self) -> None:
        os.close(self.fd)
