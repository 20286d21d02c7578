"""Which file instance is which: device + inode, a fingerprint of the first bytes, and stream ids."""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass

# Bytes of a file's start kept to recognize it (a file shorter than this is fingerprinted as far as it goes).
FINGERPRINT_BYTES = 1024


@dataclass(frozen=True, slots=True)
class FileId:
    """A file instance on this machine, whatever its name."""

    dev: int
    inode: int

    @classmethod
    def of(cls, st: os.stat_result) -> FileId:
        return cls(st.st_dev, st.st_ino)


def fingerprint(prefix: bytes) -> str:
    """The hash stored in checkpoints for the first `len(prefix)` bytes of a file."""
    return hashlib.sha256(prefix).hexdigest()


def new_stream_id(agent_id: str, fid: FileId, prefix: bytes) -> str:
    """A fresh id for one reading of one file instance (16 hex characters, never containing '@').

    A random part keeps ids unique when an inode is reused by a new file that starts with the same
    bytes (an empty file created by log rotation, usually): the server's high-water mark of the old
    stream must never swallow the new file's lines. The id is persisted in the checkpoint file, so a
    restarted agent continues the same stream.
    """
    h = hashlib.sha256()
    h.update(f"{agent_id}\0{fid.dev}\0{fid.inode}\0".encode())
    h.update(prefix)
    h.update(os.urandom(8))
    return h.hexdigest()[:16]
