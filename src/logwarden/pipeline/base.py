"""The processor interface: a config model per processor type that builds a Processor.

Processors work on *wide* batches (see `logwarden.model.normalize.widen`): the core columns
(`WIDE_CORE`: ts, observed_ts, tenant, service, host, level, severity, message, trace_id, span_id,
source, log_id) followed by one column per attribute, named by its dotted key (`status`,
`http.status`); an attribute whose key is a core name is the column `attrs.<key>`. Read and write
fields with `logwarden.pipeline.fields`, which keeps core columns typed and normalized.

A processor returns the batch it made plus, optionally, one error text per row of that batch
(null where it succeeded); the runner turns errors into `attrs.pipeline_error`, the dead-letter
stream or a drop, as configured, and counts them per processor. Processors never see rows their
`if:` condition excludes. They must be thread-safe: two decode threads may run one at once.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import pyarrow as pa
from pydantic import BaseModel, ConfigDict, Field


class ProcessorBuildError(ValueError):
    """A processor config that validates but cannot be built (bad pattern, missing file…).

    `field` names the offending setting of the processor (e.g. "pattern"), for the error location.
    """

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field


@dataclass(frozen=True, slots=True)
class BuildEnv:
    """What building a processor may need besides its config."""

    base_dir: Path = field(default_factory=Path.cwd)
    """Directory of the config file: relative paths (pattern files, .mmdb, CSV) resolve against it."""


@dataclass(frozen=True, slots=True)
class Processed:
    """A processor's output: the new batch and, optionally, an error text per row of it (null = ok)."""

    batch: pa.Table
    errors: pa.Array | None = None


class Processor(ABC):
    """One step of a pipeline, built from its config."""

    @abstractmethod
    def process(self, batch: pa.Table) -> Processed:
        """Transform a wide batch (never empty); may add, change, drop or (rarely) merge rows."""

    def close(self) -> None:  # noqa: B027 - most processors hold nothing
        """Release files or connections when the pipeline is replaced."""


class FrozenSettings(BaseModel):
    """Base of pipeline settings: immutable, unknown keys refused, field docstrings as documentation."""

    model_config = ConfigDict(frozen=True, extra="forbid", use_attribute_docstrings=True, populate_by_name=True)


class ProcessorConfig(FrozenSettings):
    """Settings every processor has; subclasses add `type: Literal["name"]` and their own fields."""

    type: str
    id: str | None = None
    """Name of this step in metrics and in `pipeline_error` (default `<type>` and its position)."""
    if_: str | None = Field(None, alias="if")
    """Run only on lines matching this filter, in the search language (`level:error service:api`)."""
    on_error: Literal["tag", "dead_letter", "drop"] = "tag"
    """A line this step fails on keeps going with `attrs.pipeline_error` set (tag), goes to the
    dead-letter stream (dead_letter), or is dropped and counted (drop)."""

    def build(self, env: BuildEnv) -> Processor:
        """The processor for these settings; raises ProcessorBuildError for settings that cannot work."""
        raise NotImplementedError(f"processor type {self.type!r} has no build()")
