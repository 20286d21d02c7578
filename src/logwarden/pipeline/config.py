"""The `pipelines:` section of the server config: named pipelines of typed processors, with inline tests."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from pydantic import Field, field_validator

from logwarden.pipeline.base import FrozenSettings
from logwarden.pipeline.registry import ProcessorSpec

if TYPE_CHECKING:
    from logwarden.pipeline.base import ProcessorConfig


class PipelineTestCase(FrozenSettings):
    """An inline test: an input line or record, and what the pipeline must make of it."""

    name: str | None = None
    """Shown in `logwarden pipeline test` output (default: the test's position)."""
    input: str | dict[str, Any]
    """A raw line (it becomes the message) or a record (a JSON object, as a client would send it)."""
    expect: dict[str, Any] = Field(default_factory=dict)
    """Fields the resulting line must have, with their values (`status: 404`, `user_agent.browser: Firefox`)."""
    expect_absent: list[str] = Field(default_factory=list)
    """Fields the resulting line must not have."""
    expect_dropped: bool = False
    """The line must be dropped (by drop, sample or dedup) instead of stored."""


class PipelineConfig(FrozenSettings):
    """A named, ordered list of processors applied to the lines it matches."""

    name: str = Field(min_length=1, max_length=100)
    """Name in metrics, errors and `logwarden pipeline test` output; unique."""
    match: dict[str, str | list[str]] = Field(default_factory=dict)
    """Apply only to lines whose fields hold these values (`{service: nginx}`, `{source: [syslog, kafka]}`,
    `{host: "web-*"}`); every field must match. Empty matches every line."""
    if_: str | None = Field(None, alias="if")
    """Apply only to lines matching this filter in the search language, in addition to `match`."""
    processors: list[ProcessorSpec]
    """The steps, run in order; each names its `type` (see docs/pipeline.md)."""
    tests: list[PipelineTestCase] = Field(default_factory=list)
    """Inline tests run by `logwarden pipeline test` (the input goes through every pipeline, like ingest)."""

    @field_validator("processors")
    @classmethod
    def _ids_unique(cls, steps: list[ProcessorConfig]) -> list[ProcessorConfig]:
        ids = [s.id for s in steps if s.id]
        duplicates = sorted({i for i in ids if ids.count(i) > 1})
        if duplicates:
            raise ValueError(f"processor ids must be unique within a pipeline: {', '.join(duplicates)}")
        return steps


def check_unique_names(pipelines: list[PipelineConfig]) -> list[PipelineConfig]:
    """Pipeline names are metric labels: they must be unique."""
    names = [p.name for p in pipelines]
    duplicates = sorted({n for n in names if names.count(n) > 1})
    if duplicates:
        raise ValueError(f"pipeline names must be unique: {', '.join(duplicates)}")
    return pipelines
