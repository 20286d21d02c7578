"""Cursors the bus keeps for its lossless subscribers: one small file each, replaced atomically.

The files also tell a starting server which parts of the ingest log a subscriber still needs, before the
subscriber itself is built: `<data_dir>/bus/<name>.cursor` holds one decimal sequence number.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

from logwarden.store.wal import fsync_dir

BUS_DIR = "bus"  # under the data directory
NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.\-]{0,127}$")
_SUFFIX = ".cursor"


def check_name(name: str) -> str:
    """A subscriber name usable as a file name and a metric label; ValueError otherwise."""
    if not NAME_RE.match(name):
        raise ValueError(f"invalid bus subscriber name {name!r}: use 1-128 letters, digits, '_', '.', '-'")
    return name


class CursorFiles:
    """Read, write and forget the cursors of one bus."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        directory.mkdir(parents=True, exist_ok=True)

    def _path(self, name: str) -> Path:
        return self.directory / f"{check_name(name)}{_SUFFIX}"

    def all(self) -> dict[str, int]:
        """Every cursor on disk, by subscriber name (unreadable files are ignored: they pin nothing)."""
        out: dict[str, int] = {}
        for path in self.directory.glob(f"*{_SUFFIX}"):
            try:
                out[path.name[: -len(_SUFFIX)]] = int(path.read_text().strip())
            except (OSError, ValueError):
                continue
        return out

    def read(self, name: str) -> int | None:
        try:
            return int(self._path(name).read_text().strip())
        except (FileNotFoundError, ValueError):
            return None

    def write(self, name: str, seq: int) -> None:
        """Durably replace the cursor (write a temporary file, fsync, rename, fsync the directory)."""
        path = self._path(name)
        tmp = path.with_suffix(".tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
        try:
            os.write(fd, f"{seq}\n".encode())
            os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(tmp, path)
        fsync_dir(self.directory)

    def forget(self, name: str) -> None:
        self._path(name).unlink(missing_ok=True)
        fsync_dir(self.directory)
