"""The data-dir lock: one holder at a time, the holder's PID named, released with its holder."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from logwarden.store.datadir_lock import DataDirLock, DataDirLockedError


def test_second_holder_is_refused_with_the_first_holders_pid(tmp_path: Path) -> None:
    data_dir = tmp_path / "new" / "data"
    with DataDirLock(data_dir) as first:
        assert first.path.read_text().strip() == str(os.getpid())
        with pytest.raises(DataDirLockedError, match=f"in use by process {os.getpid()}") as refused:
            DataDirLock(data_dir).acquire()
        assert refused.value.pid == os.getpid()
    # Released: the next one gets it, and the file no longer names a holder.
    assert (data_dir / "LOCK").read_text() == ""
    with DataDirLock(data_dir):
        pass


def test_lock_of_a_killed_holder_is_free(tmp_path: Path) -> None:
    code = (
        "import os, sys; from pathlib import Path; from logwarden.store.datadir_lock import DataDirLock; "
        f"DataDirLock(Path({str(tmp_path)!r})).acquire(); os.kill(os.getpid(), 9)"
    )
    died = subprocess.run([sys.executable, "-c", code], check=False)
    assert died.returncode == -9
    assert (tmp_path / "LOCK").read_text().strip().isdigit()  # a stale PID is left behind…
    with DataDirLock(tmp_path):  # …but the kernel released the lock with the process
        pass
