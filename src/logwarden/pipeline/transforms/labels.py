"""`labels`: static fields on every line (`env: prod`, `region: eu-west-1`, `version: 1.4.2`)."""

from __future__ import annotations

from typing import Literal

import pyarrow as pa
import pyarrow.compute as pc
from pydantic import Field, field_validator

from logwarden.pipeline import fields
from logwarden.pipeline.base import BuildEnv, Processed, Processor, ProcessorConfig
from logwarden.pipeline.transforms.names import check_writable


class LabelsConfig(ProcessorConfig):
    """Add constant fields to every line."""

    type: Literal["labels"]
    labels: dict[str, str | int | float | bool] = Field(min_length=1)
    """Field → value (`{env: prod, region: eu-west-1}`)."""
    overwrite: bool = False
    """Replace values lines already have; by default a line's own value wins."""

    @field_validator("labels")
    @classmethod
    def _names(cls, v: dict[str, str | int | float | bool]) -> dict[str, str | int | float | bool]:
        for name in v:
            check_writable(name)
        return v

    def build(self, env: BuildEnv) -> Processor:
        return Labels(tuple(self.labels.items()), self.overwrite)


class Labels(Processor):
    def __init__(self, labels: tuple[tuple[str, str | int | float | bool], ...], overwrite: bool) -> None:
        self.labels = labels
        self.overwrite = overwrite

    def process(self, batch: pa.Table) -> Processed:
        for name, value in self.labels:
            values = pa.repeat(pa.scalar(value), batch.num_rows)
            old = None if self.overwrite else fields.get(batch, name)
            if old is None:
                batch = fields.set_field(batch, name, values)
            elif old.null_count:
                batch = fields.set_field(batch, name, values, pc.is_null(old))
        return Processed(batch)


CONFIGS = (LabelsConfig,)
