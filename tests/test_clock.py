"""The test clock: TEST_CLOCK_DAYS_AHEAD moves Python's wall clock (tests/conftest.py), or nothing does."""

from __future__ import annotations

import os
import time
from datetime import UTC, datetime
from pathlib import Path


def test_wall_clock_is_moved_exactly_as_asked(tmp_path: Path) -> None:
    marker = tmp_path / "now"
    marker.write_text("")
    kernel_now = marker.stat().st_mtime  # the file system's clock is never moved
    ahead = float(os.environ.get("TEST_CLOCK_DAYS_AHEAD") or 0) * 86400
    assert abs(time.time() - kernel_now - ahead) < 120
    assert abs(datetime.now(UTC).timestamp() - kernel_now - ahead) < 120
