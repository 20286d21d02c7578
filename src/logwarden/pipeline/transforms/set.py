"""`set` and `default`: give a field a constant or a value built from a template over other fields.

Templates (`"{service}-{status}"`) render as one vectorized string join per batch, never eval.
"""

from __future__ import annotations

from typing import Literal, Self

import pyarrow as pa
import pyarrow.compute as pc
from pydantic import model_validator

from logwarden.pipeline import fields
from logwarden.pipeline.base import BuildEnv, Processed, Processor, ProcessorConfig
from logwarden.pipeline.template import Template, parse_template
from logwarden.pipeline.transforms.names import check_writable

Scalar = str | int | float | bool


class SetConfig(ProcessorConfig):
    """Set `field` to a constant `value` or to a `template` rendered from other fields."""

    type: Literal["set"]
    field: str
    """The field to set (an attribute, or a core field such as `service` or `level`)."""
    value: Scalar | None = None
    """A constant (text, number or boolean). Give exactly one of `value` and `template`."""
    template: str | None = None
    """Text with `{field}` references (`"{service}-{status}"`, `{{` for a literal brace); a line missing
    a referenced field is left unchanged."""
    default: bool = False
    """Only set the field where it is missing or null (keep existing values)."""

    @model_validator(mode="after")
    def _one_source(self) -> Self:
        check_writable(self.field)
        if (self.value is None) == (self.template is None):
            raise ValueError("give exactly one of `value` and `template`")
        if self.template is not None:
            parse_template(self.template)
        return self

    def build(self, env: BuildEnv) -> Processor:
        template = parse_template(self.template) if self.template is not None else None
        return SetField(self.field, self.value, template, only_missing=self.default)


class DefaultConfig(SetConfig):
    """Set `field` to `value` or `template` only on lines where it is missing or null."""

    type: Literal["default"]  # type: ignore[assignment]
    default: bool = True
    """Always true for `default`: existing values are kept."""


class SetField(Processor):
    def __init__(self, name: str, value: Scalar | None, template: Template | None, *, only_missing: bool) -> None:
        self.name = name
        self.value = value
        self.template = template
        self.only_missing = only_missing

    def process(self, batch: pa.Table) -> Processed:
        n = batch.num_rows
        where: pa.Array | None = None
        if self.template is not None:
            values = self.template.render(batch)
            if values.null_count:
                where = pc.is_valid(values)
        else:
            values = pa.repeat(pa.scalar(self.value), n)
        if self.only_missing:
            old = fields.get(batch, self.name)
            if old is not None:
                missing = pc.is_null(old)
                where = missing if where is None else pc.and_(where, missing)
        if where is not None and not pc.any(where).as_py():
            return Processed(batch)
        return Processed(fields.set_field(batch, self.name, values, where))


CONFIGS = (SetConfig, DefaultConfig)
