"""`route`: move lines to a tenant, service, stream or retention class computed from their fields."""

from __future__ import annotations

from typing import Literal

import pyarrow as pa
import pyarrow.compute as pc
from pydantic import field_validator

from logwarden.model.schema import TENANT_PATTERN
from logwarden.pipeline import fields
from logwarden.pipeline.base import BuildEnv, Processed, Processor, ProcessorConfig
from logwarden.pipeline.template import Template, parse_template

RETENTION_FIELD = "retention_class"
STREAM_FIELD = "stream"


class RouteConfig(ProcessorConfig):
    """Set where lines belong from templates over their fields (`tenant: "org-{org_id}"`)."""

    type: Literal["route"]
    tenant: str | None = None
    """Tenant template; a line whose template names a missing field keeps its tenant, an invalid tenant
    name is an error for that line (it keeps its tenant)."""
    service: str | None = None
    """Service template."""
    stream: str | None = None
    """Stream template: sets the `stream` attribute (e.g. `{event_type}`), searchable as `stream:…`."""
    retention: str | None = None
    """Retention class template: sets `retention_class`, which `store.retention_classes` maps to a number
    of days (lines of an unknown class keep the tenant's retention)."""

    @field_validator("tenant", "service", "stream", "retention")
    @classmethod
    def _template(cls, v: str | None) -> str | None:
        if v is not None:
            parse_template(v)
        return v

    def build(self, env: BuildEnv) -> Processor:
        targets = {
            "tenant": self.tenant,
            "service": self.service,
            f"attrs.{STREAM_FIELD}": self.stream,
            f"attrs.{RETENTION_FIELD}": self.retention,
        }
        return Route({name: parse_template(t) for name, t in targets.items() if t is not None})


class Route(Processor):
    def __init__(self, targets: dict[str, Template]) -> None:
        self.targets = targets

    def process(self, batch: pa.Table) -> Processed:
        errors: pa.Array | None = None
        for name, template in self.targets.items():
            values = template.render(batch)
            if name == "tenant":
                valid = pc.fill_null(pc.match_substring_regex(values, TENANT_PATTERN), False)
                bad = pc.and_(pc.is_valid(values), pc.invert(valid))
                if pc.any(bad).as_py():
                    reason = pc.binary_join_element_wise("invalid tenant name ", values, "")
                    errors = pc.if_else(bad, reason, pa.scalar(None, pa.string()))
                batch = fields.set_field(batch, name, values, valid)
            else:
                batch = fields.set_field(batch, name, values, pc.is_valid(values))
        return Processed(batch, errors)


CONFIGS = (RouteConfig,)
