"""Limits (`limits:`): ingest rates per credential and per tenant, read limits per role, attribute limits.

Each field's docstring is its reference documentation (docs/config.md, docs/security.md).
"""

from __future__ import annotations

from datetime import timedelta
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from logwarden.model.tenants import check_tenant
from logwarden.model.units import ByteSize, Duration


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", use_attribute_docstrings=True)


class IngestRate(_Frozen):
    """A token bucket of request body bytes (as sent: compressed bodies count compressed)."""

    rate: ByteSize = Field(gt=0)
    """Bytes per second, sustained (e.g. `1MiB`)."""
    burst: ByteSize | None = Field(None, gt=0)
    """Bytes that may come at once after a quiet spell; unset: one second's worth (`rate`). A single body larger
    than the burst is let through only when the bucket is full (it then owes the difference)."""

    @property
    def capacity(self) -> int:
        """The bucket's size in bytes."""
        return self.burst if self.burst is not None else self.rate


class RoleQueryLimits(_Frozen):
    """What one role's reads may cost (docs/security.md); unset: only the routes' own bounds apply."""

    query_timeout: Duration | None = None
    """Longest a read (search, query, histogram, fields, context, trace, patterns, SQL) may run before it is
    answered 408 with the reason; a SQL statement's own `timeout` is capped by it."""
    max_rows: int | None = Field(None, ge=1)
    """Most rows one answer may hold (hits, table rows, SQL rows, trace and context lines): a default limit
    above it is lowered to it, an explicit `limit` above it gets 400 naming it."""

    @field_validator("query_timeout")
    @classmethod
    def _positive(cls, v: timedelta | None) -> timedelta | None:
        if v is not None and v <= timedelta(0):
            raise ValueError("query_timeout must be more than 0s")
        return v


class LimitsConfig(_Frozen):
    """Ingest rate limits (docs/security.md): over one, a request gets 429 with the reason and Retry-After;
    per-role query limits (`roles`) and per-record / per-tenant attribute limits."""

    ingest_per_key: IngestRate | None = None
    """Each credential's own limit (API key, client certificate, user; the implicit local admin counts as one)."""
    ingest_per_tenant: IngestRate | None = None
    """Each tenant's limit, whoever sends (every key of the tenant shares it)."""
    tenants: dict[str, IngestRate] = Field(default_factory=dict)
    """Per-tenant limits that replace `ingest_per_tenant` for the tenants named."""
    roles: dict[Literal["admin", "editor", "viewer"], RoleQueryLimits] = Field(default_factory=dict)
    """Per role (`admin`, `editor`, `viewer`): `query_timeout` (a duration: longer reads get 408) and `max_rows`
    (most rows per answer: a default limit is lowered to it, an explicit larger `limit` gets 400), e.g.
    `viewer: {query_timeout: 10s, max_rows: 1000}`; a role not named has no limit (docs/security.md)."""
    max_fields_per_record: int | None = Field(None, ge=1)
    """Most attributes (fields besides the core ones) one record may carry after its pipelines; a record with more
    is stored whole as a dead letter with the reason (its fields as one JSON text in `attrs.original_attrs`)."""
    max_attr_keys_per_tenant: int | None = Field(None, ge=1)
    """Most distinct attribute keys a tenant's lines may use; a record bringing a key beyond it is stored as a dead
    letter with the reason (the ingest answer's `rejected_reason` says which key). The keys a tenant has used are
    kept in `<data_dir>/attr_keys.json`."""

    @field_validator("tenants")
    @classmethod
    def _tenant_names(cls, v: dict[str, IngestRate]) -> dict[str, IngestRate]:
        for name in v:
            check_tenant(name)
        return v
