"""`level_map`: set the level from a field's own codes (`{E: error, W: warn}`)."""

from __future__ import annotations

from typing import Literal

import pyarrow as pa
import pyarrow.compute as pc
from pydantic import Field, field_validator

from logwarden.model.levels import LEVELS, normalize_level_text
from logwarden.pipeline import fields
from logwarden.pipeline.base import BuildEnv, Processed, Processor, ProcessorConfig


class LevelMapConfig(ProcessorConfig):
    """Map the values of `field` to levels; values not in `mapping` leave the level unchanged."""

    type: Literal["level_map"]
    field: str = "level"
    """The field holding the codes (`severity_code`, `lvl`); compared as text."""
    mapping: dict[str, str] = Field(min_length=1)
    """Code → level (trace, debug, info, warn, error, fatal, or a spelling logwarden knows: `warning`, `crit`…)."""
    case_sensitive: bool = True
    """Compare codes exactly (`E` ≠ `e`); false compares them lowercased."""

    @field_validator("mapping")
    @classmethod
    def _levels(cls, v: dict[str, str]) -> dict[str, str]:
        normalized = normalize_level_text(pa.array(list(v.values()), pa.string())).to_pylist()
        bad = [level for level, norm in zip(v.values(), normalized, strict=True) if norm is None]
        if bad:
            raise ValueError(f"unknown level {bad[0]!r}: use one of {', '.join(lv.lower() for lv in LEVELS)}")
        return v

    def build(self, env: BuildEnv) -> Processor:
        codes = list(self.mapping)
        if not self.case_sensitive:
            codes = [c.lower() for c in codes]
        levels = normalize_level_text(pa.array(list(self.mapping.values()), pa.string()))
        return LevelMap(self.field, pa.array(codes, pa.string()), levels, self.case_sensitive)


class LevelMap(Processor):
    def __init__(self, name: str, codes: pa.Array, levels: pa.Array, case_sensitive: bool) -> None:
        self.name = name
        self.codes = codes
        self.levels = levels
        self.case_sensitive = case_sensitive

    def process(self, batch: pa.Table) -> Processed:
        values = fields.get_strings(batch, self.name)
        if values is None:
            return Processed(batch)
        if not self.case_sensitive:
            values = pc.utf8_lower(values)
        mapped = pc.take(self.levels, pc.index_in(values, self.codes))
        if mapped.null_count == len(mapped):
            return Processed(batch)
        return Processed(fields.set_field(batch, "level", mapped, pc.is_valid(mapped)))


CONFIGS = (LevelMapConfig,)
