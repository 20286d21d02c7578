"""`remove`: delete fields by name or glob (`tmp_*`)."""

from __future__ import annotations

import re
from typing import Literal

import pyarrow as pa
from pydantic import Field, field_validator

from logwarden.model.normalize import attr_key
from logwarden.pipeline import fields
from logwarden.pipeline.base import BuildEnv, Processed, Processor, ProcessorConfig
from logwarden.pipeline.conditions import glob_regex
from logwarden.pipeline.transforms.names import check_removable


def _is_glob(name: str) -> bool:
    return "*" in name or "?" in name


class RemoveConfig(ProcessorConfig):
    """Remove fields; globs (`tmp_*`, `http.request.*`) match attribute keys only, never core fields."""

    type: Literal["remove"]
    fields: list[str] = Field(min_length=1)
    """Field names or globs; `*` is any text (dots included), `?` one character. Core fields other than
    ts/tenant/source/log_id may be named exactly (they become empty)."""

    @field_validator("fields")
    @classmethod
    def _names(cls, v: list[str]) -> list[str]:
        for name in v:
            if not _is_glob(name):
                check_removable(name)
        return v

    def build(self, env: BuildEnv) -> Processor:
        exact = tuple(n for n in self.fields if not _is_glob(n))
        globs = tuple(re.compile(glob_regex(n)) for n in self.fields if _is_glob(n))
        return Remove(exact, globs)


class Remove(Processor):
    def __init__(self, exact: tuple[str, ...], globs: tuple[re.Pattern[str], ...]) -> None:
        self.exact = exact
        self.globs = globs

    def process(self, batch: pa.Table) -> Processed:
        batch = fields.remove(batch, self.exact)
        if self.globs:
            matched = [c for c in fields.attribute_columns(batch) if any(g.match(attr_key(c)) for g in self.globs)]
            if matched:
                batch = batch.drop_columns(matched)
        return Processed(batch)


CONFIGS = (RemoveConfig,)
