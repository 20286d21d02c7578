"""What every entry of `sources:` has: a `type` tag that selects its model, and a unique `name`."""

from __future__ import annotations

import re

from pydantic import BaseModel, ConfigDict, field_validator

_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}")


class FrozenSettings(BaseModel):
    """Frozen, strict settings whose field docstrings are their documentation (docs/config.md)."""

    model_config = ConfigDict(frozen=True, extra="forbid", use_attribute_docstrings=True)


class SourceIdentity(FrozenSettings):
    """The `name` every source entry carries; its `type` tag is declared by each source's own model."""

    name: str | None = None
    """Name of this source in logs, metric labels and errors; unique among all sources. Unset means
    `<type>-<position in sources, from 0>` (e.g. `kafka-1`)."""

    @field_validator("name")
    @classmethod
    def _name(cls, v: str | None) -> str | None:
        if v is not None and not _NAME.fullmatch(v):
            raise ValueError(f"invalid source name {v!r}: use 1-64 letters, digits, '_', '.', '-'")
        return v
