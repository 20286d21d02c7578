"""`rename`: move fields to new names (`fields: {usr: user_id}`)."""

from __future__ import annotations

from typing import Literal

import pyarrow as pa
import pyarrow.compute as pc
from pydantic import Field, field_validator

from logwarden.pipeline import fields
from logwarden.pipeline.base import BuildEnv, Processed, Processor, ProcessorConfig
from logwarden.pipeline.transforms.names import check_removable, check_writable


class RenameConfig(ProcessorConfig):
    """Rename fields; a line without the old field keeps whatever the new field held."""

    type: Literal["rename"]
    fields: dict[str, str] = Field(min_length=1)
    """Old name → new name (`{usr: user_id, msg_text: message}`); applied in the order written."""

    @field_validator("fields")
    @classmethod
    def _names(cls, v: dict[str, str]) -> dict[str, str]:
        for old, new in v.items():
            check_removable(old)
            check_writable(new)
            if fields.column_of(old) == fields.column_of(new):
                raise ValueError(f"field {old!r} is renamed to itself")
        return v

    def build(self, env: BuildEnv) -> Processor:
        return Rename(tuple(self.fields.items()))


class Rename(Processor):
    def __init__(self, pairs: tuple[tuple[str, str], ...]) -> None:
        self.pairs = pairs

    def process(self, batch: pa.Table) -> Processed:
        for old, new in self.pairs:
            values = fields.get(batch, old)
            if values is None:
                continue
            valid = pc.is_valid(values)
            if values.null_count == len(values):
                batch = fields.remove(batch, [old])
                continue
            batch = fields.set_field(batch, new, values, None if values.null_count == 0 else valid)
            batch = fields.remove(batch, [old])
        return Processed(batch)


CONFIGS = (RenameConfig,)
