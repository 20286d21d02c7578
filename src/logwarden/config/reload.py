"""Hot reload of the pipelines (and, through `on_config`, of other sections that can change at run time, such as
`alerting:`): watch the config file (and SIGHUP), build the new set, swap it in whole.

A batch reads the sink's pipeline set once (and leases it), so every line goes through exactly one
version. The replaced set is retired: its processors close as soon as its last batch finishes. A change
that does not build is refused: the running set stays and the error is logged, counted and shown by
`GET /api/v1/pipelines`.

It lives in the config layer because it re-reads whole config files; what it reports (ReloadStatus) is
the pipeline layer's.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from pathlib import Path

from logwarden.config.loader import ConfigError, load_config
from logwarden.config.model import Config
from logwarden.config.pipelines import load_pipelines
from logwarden.pipeline.runner import PipelineSet
from logwarden.pipeline.status import ReloadStatus

log = logging.getLogger(__name__)


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
        on_config: Callable[[Config], object] | None = None,
        live_sections: tuple[str, ...] = (),
    ) -> None:
        """`on_config` gets every new config that loads (in a worker thread), to apply the `live_sections` it
        handles (top-level setting names); changes to any other setting are logged as needing a restart."""
        self.path = path
        self.interval = interval
        self.status = ReloadStatus(str(path))
        self.status.describe(current)
        self._current = current
        self._install = install
        self._on_outcome = on_outcome
        self._env = env
        self._on_config = on_config
        self._live = ("pipelines", *live_sections)
        self._file_config: Config | None = None
        with contextlib.suppress(ConfigError):
            self._file_config = load_config(path, env=env)
        self._digest = self._file_digest()
        self._wake = asyncio.Event()
        # Replaced sets whose last batch may still run; closed for good by `close()`.
        self._retired: list[PipelineSet] = []

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
            await self._apply_other_sections(config)
            self._on_outcome("unchanged")
            return "unchanged"
        old, self._current = self._current, pipelines
        self._install(pipelines)
        self.status.describe(pipelines)
        self.status.last_error = None
        self.status.last_error_at = None
        log.info("pipelines reloaded: version %s (%d pipelines)", pipelines.version, len(pipelines.pipelines))
        await self._apply_other_sections(config)
        self._on_outcome("applied")
        self._retired = [p for p in self._retired if not p.closed]
        self._retired.append(old)
        # Closing may wait on I/O (outputs flushing), so not on the event loop.
        await asyncio.get_running_loop().run_in_executor(None, old.retire)
        return "applied"

    async def close(self) -> None:
        """Close the running set and any replaced one a batch still held (at shutdown)."""
        sets = [*self._retired, self._current]
        self._retired = []

        def close_all() -> None:
            for pipelines in sets:
                pipelines.close()

        await asyncio.get_running_loop().run_in_executor(None, close_all)

    async def _apply_other_sections(self, config: Config) -> None:
        before, self._file_config = self._file_config, config
        if self._on_config is not None:
            try:
                await asyncio.get_running_loop().run_in_executor(None, self._on_config, config)
            except Exception:
                log.exception("applying the reloaded config failed; the running settings stay")
        if before is not None and self._without_live(before) != self._without_live(config):
            live = ", ".join(self._live)
            log.warning("settings other than %s changed in %s: they take effect at the next restart", live, self.path)

    def _without_live(self, config: Config) -> Config:
        defaults = Config()
        return config.model_copy(update={name: getattr(defaults, name) for name in self._live})

    def _file_digest(self) -> bytes:
        try:
            return hashlib.sha256(self.path.read_bytes()).digest()
        except OSError:
            return b"unreadable"
