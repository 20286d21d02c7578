"""What a hot reload of the pipelines reports (`GET /api/v1/pipelines`): the running version and the last error.

The watcher that re-reads the config file and swaps the set in lives in `config.reload`: it loads whole
config files, which the pipeline layer does not know about.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from logwarden.pipeline.runner import PipelineSet


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
        """Record `pipelines` as the running version."""
        self.version = pipelines.version
        self.loaded_at = datetime.now(UTC)
        self.pipelines = [
            {"name": p.name, "processors": [s.id for s in p.steps], "conditional": p.condition is not None}
            for p in pipelines.pipelines
        ]
