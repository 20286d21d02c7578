"""Expand the inputs' globs into the regular files to read, keyed by file instance (device + inode)."""

from __future__ import annotations

import fnmatch
import glob
import os
import stat
from collections.abc import Sequence
from dataclasses import dataclass

from logwarden.agent.config import FileInput
from logwarden.agent.identity import FileId


@dataclass(frozen=True, slots=True)
class FoundFile:
    path: str
    input_index: int
    size: int
    mtime: float


def is_excluded(path: str, patterns: Sequence[str]) -> bool:
    """True when a pattern matches the full path or the file name."""
    name = os.path.basename(path)
    return any(fnmatch.fnmatchcase(path, p) or fnmatch.fnmatchcase(name, p) for p in patterns)


def discover(inputs: Sequence[FileInput]) -> dict[FileId, FoundFile]:
    """Every regular file matched by some input (the first input, then the first path in sorted order, wins)."""
    found: dict[FileId, FoundFile] = {}
    for index, config in enumerate(inputs):
        for pattern in config.paths:
            for path in sorted(glob.glob(os.path.expanduser(pattern), recursive=True)):
                if config.exclude and is_excluded(path, config.exclude):
                    continue
                try:
                    st = os.stat(path)
                except OSError:
                    continue  # vanished between the listing and the stat
                if not stat.S_ISREG(st.st_mode):
                    continue
                fid = FileId.of(st)
                if fid not in found:
                    found[fid] = FoundFile(path, index, st.st_size, st.st_mtime)
    return found
