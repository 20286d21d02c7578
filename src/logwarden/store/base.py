"""The Store interface every backend implements, and the query shapes it answers."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any, Protocol

import pyarrow as pa


class StoreError(Exception):
    """A store refused or failed an operation. Callers map the subclasses, never built-in exceptions: a
    RuntimeError or OSError raised while decoding input is a decoder fault, not a store that is down."""


class StoreBusyError(StoreError):
    """The store is behind: too much acknowledged data waits to be applied. Retry later (429)."""


class StoreClosedError(StoreError):
    """The store is closed (the server is stopping): nothing more can be stored."""


class StorageFailureError(StoreError):
    """Writing failed (disk full, I/O error); nothing of the batch was acknowledged. Retry later (503)."""


@dataclass(frozen=True, slots=True)
class PartitionKey:
    """One day of one tenant's logs (of one retention class): the unit of pruning, retention and archiving."""

    tenant: str
    day: date
    retention_class: str = ""  # "" is the tenant's own retention


@dataclass(frozen=True, slots=True)
class SearchQuery:
    """A time-bounded search: every term must occur in the message (case-insensitive)."""

    tenant: str
    start: datetime
    end: datetime
    terms: tuple[str, ...] = ()
    equals: dict[str, tuple[str, ...]] = field(default_factory=dict)  # core column → accepted values
    limit: int = 100


@dataclass(frozen=True, slots=True)
class CountQuery:
    """Counts of matching lines grouped by fields (core columns or attrs.<name>)."""

    tenant: str
    start: datetime
    end: datetime
    by: tuple[str, ...] = ()
    terms: tuple[str, ...] = ()
    equals: dict[str, tuple[str, ...]] = field(default_factory=dict)
    limit: int = 1000


@dataclass(frozen=True, slots=True)
class SearchResult:
    total: int
    hits: list[dict[str, Any]]


@dataclass(frozen=True, slots=True)
class CountResult:
    total: int
    rows: list[dict[str, Any]]


@dataclass(frozen=True, slots=True)
class MaintenanceReport:
    archived: list[PartitionKey]
    dropped_hot: list[PartitionKey]
    dropped_archive: list[PartitionKey]


class Store(Protocol):
    """Append batches durably; search them; enforce retention and archiving."""

    async def append(self, batch: pa.Table) -> int:
        """Durably store a core-schema batch; returns when committed, with the row count."""
        ...

    async def search(self, query: SearchQuery) -> SearchResult: ...

    async def count(self, query: CountQuery) -> CountResult: ...

    async def maintain(self, now: datetime | None = None) -> MaintenanceReport: ...

    def size_bytes(self) -> int: ...

    async def close(self) -> None: ...
