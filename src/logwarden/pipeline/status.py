"""Hot reload of the pipelines: watch the config file (and SIGHUP), build the new set, swap it in whole.

A batch reads the sink's pipeline set once, so every line goes through exactly one version. A change
that does not build is refused: the running set stays and the error is logged, counted and shown by
`GET /api/v1/pipelines`.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from logwarden.config.loader import ConfigError, load_config
from logwarden.config.model import Config
from logwarden.pipeline.loader import load_pipelines
from logwarden.pipeline.runner import PipelineSet

log = logging.getLogger(__name__)

# Batches already running keep using the old set's processors this long before they are closed.
CLOSE_GRACE_SECONDS = 30.0


@dataclass
class ReloadStatus:
    """What `GET /api/v1/pipelines` reports."""

    config_file: str | None
    version: str = ""
    loaded_at: datetime | None = None
    last_error: str | None = None
    last_error_at: datetime | None = None
    pipelines: list[dict[str, Any]] = field(default_factory=list)

    def describe(self, pipelines: PipelineSet) -> None:
        self.version = pipelines.version
        self.loaded_at = datetime.now(UTC)
        self.pipelines = [
            {"name": p.name, "processors": [s.id for s in p.steps], "conditional": p.condition is not None}
            for p in pipelines.pipelines
        ]


class PipelineReloader:
    """Checks the config file every `interval` seconds and on `trigger()`."""

    def __init__(
        self,
        path: Path,
        current: PipelineSet,
        install: Callable[[PipelineSet], None],
        *,
        interval: float,
        on_outcome: Callable[[str], None] = lambda outcome: None,
        env: Mapping[str, str] | None = None,
    ) -> None:
        self.path = path
        self.interval = interval
        self.status = ReloadStatus(str(path))
        self.status.describe(current)
        self._current = current
        self._install = install
        self._on_outcome = on_outcome
        self._env = env
        self._file_config: Config | None = None
        with contextlib.suppress(ConfigError):
            self._file_config = load_config(path, env=env)
        self._digest = self._file_digest()
        self._wake = asyncio.Event()
        self._closing: set[asyncio.Task[None]] = set()

    def trigger(self) -> None:
        """Check now (SIGHUP), even when the file looks unchanged."""
        self._digest = b""
        self._wake.set()

    async def run(self) -> None:
        while True:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), self.interval)
            self._wake.clear()
            await self.check()

    async def check(self) -> str:
        """Reload when the file changed; returns applied, unchanged or refused."""
        digest = self._file_digest()
        if digest == self._digest:
            return "unchanged"
        self._digest = digest
        try:
            config, pipelines = await asyncio.get_running_loop().run_in_executor(
                None, lambda: load_pipelines(self.path, self._env)
            )
        except ConfigError as exc:
            self.status.last_error = str(exc)
            self.status.last_error_at = datetime.now(UTC)
            log.error("pipeline reload refused; version %s stays: %s", self._current.version, exc)
            self._on_outcome("refused")
            return "refused"
        if pipelines.version == self._current.version:
            pipelines.close()
            self._note_other_changes(config)
            self._on_outcome("unchanged")
            return "unchanged"
        old, self._current = self._current, pipelines
        self._install(pipelines)
        self.status.describe(pipelines)
        self.status.last_error = None
        self.status.last_error_at = None
        log.info("pipelines reloaded: version %s (%d pipelines)", pipelines.version, len(pipelines.pipelines))
        self._note_other_changes(config)
        self._on_outcome("applied")
        task = asyncio.create_task(self._close_later(old))
        self._closing.add(task)
        task.add_done_callback(self._closing.discard)
        return "applied"

    async def close(self) -> None:
        for task in list(self._closing):
            task.cancel()
        self._current.close()

    async def _close_later(self, old: PipelineSet) -> None:
        try:
            await asyncio.sleep(CLOSE_GRACE_SECONDS)
        finally:
            await asyncio.get_running_loop().run_in_executor(None, old.close)

    def _note_other_changes(self, config: Config) -> None:
        before, self._file_config = self._file_config, config
        if before is not None and before.model_copy(update={"pipelines": []}) != config.model_copy(
            update={"pipelines": []}
        ):
            log.warning("settings other than pipelines changed in %s: they take effect at the next restart", self.path)

    def _file_digest(self) -> bytes:
        try:
            return hashlib.sha256(self.path.read_bytes()).digest()
        except OSError:
            return b"unreadable"
