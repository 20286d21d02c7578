"""`lowercase` and `uppercase`: change the case of text fields (other types are left alone)."""

from __future__ import annotations

from typing import Literal

import pyarrow as pa
import pyarrow.compute as pc
from pydantic import Field, field_validator

from logwarden.pipeline import fields
from logwarden.pipeline.base import BuildEnv, Processed, Processor, ProcessorConfig
from logwarden.pipeline.transforms.names import check_writable


class LowercaseConfig(ProcessorConfig):
    """Lowercase text fields (`fields: [method, host]`)."""

    type: Literal["lowercase"]
    fields: list[str] = Field(min_length=1)
    """The fields to change; missing and non-text fields are skipped."""

    @field_validator("fields")
    @classmethod
    def _names(cls, v: list[str]) -> list[str]:
        for name in v:
            check_writable(name)
        return v

    def build(self, env: BuildEnv) -> Processor:
        return ChangeCase(tuple(self.fields), upper=False)


class UppercaseConfig(LowercaseConfig):
    """Uppercase text fields (`fields: [method, country]`)."""

    type: Literal["uppercase"]  # type: ignore[assignment]

    def build(self, env: BuildEnv) -> Processor:
        return ChangeCase(tuple(self.fields), upper=True)


class ChangeCase(Processor):
    def __init__(self, names: tuple[str, ...], *, upper: bool) -> None:
        self.names = names
        self.fn = pc.utf8_upper if upper else pc.utf8_lower

    def process(self, batch: pa.Table) -> Processed:
        for name in self.names:
            values = fields.get(batch, name)
            if values is None or not (pa.types.is_string(values.type) or pa.types.is_large_string(values.type)):
                continue
            batch = fields.set_field(batch, name, self.fn(values))
        return Processed(batch)


CONFIGS = (LowercaseConfig, UppercaseConfig)
