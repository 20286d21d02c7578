"""The Store interface every backend implements, its errors, and the DurableLog protocol.

The questions a store answers are logical plans (logwarden.plan.nodes); `SearchQuery`/`CountQuery` are
the shorthand of the minimal search API, answered by the DuckDB backend through the same plans.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any, Protocol, runtime_checkable

import orjson
import pyarrow as pa

from logwarden.plan.nodes import Plan


class StoreError(Exception):
    """A store refused or failed an operation. Callers map the subclasses, never built-in exceptions: a
    RuntimeError or OSError raised while decoding input is a decoder fault, not a store that is down."""


class StoreBusyError(StoreError):
    """The store is behind: too much acknowledged data waits to be applied. Retry later (429)."""


class StoreClosedError(StoreError):
    """The store is closed (the server is stopping): nothing more can be stored."""


class StoreMemoryError(StoreError):
    """A read needed more memory than the store's `store.memory_limit`, even when it ran alone: narrow the query
    or its time range, or raise the limit (503)."""


class StorageFailureError(StoreError):
    """Writing failed (disk full, I/O error); nothing of the batch was acknowledged. Retry later (503)."""


# --- read-only user SQL (SqlCapability: the DuckDB backend only) ------------------------------------


class SqlError(ValueError):
    """A statement we refuse or cannot parse; line and column (1-based) point at the problem when known."""

    def __init__(self, message: str, line: int | None = None, column: int | None = None) -> None:
        where = f" (line {line}, column {column})" if line is not None and column is not None else ""
        super().__init__(message + where)
        self.message = message
        self.line = line
        self.column = column


class SandboxError(Exception):
    """A statement the sandbox could not answer; `message` says why in words for the user."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class SqlTimeoutError(SandboxError):
    """The statement ran longer than its time limit; its worker was killed."""


class SqlMemoryError(SandboxError):
    """The statement needed more memory than `sql.max_memory`; its worker failed or died."""


class SqlFailedError(SandboxError):
    """DuckDB refused or failed the statement (a binder, conversion or runtime error)."""


class SandboxBusyError(SandboxError):
    """Every worker slot is taken."""


class SandboxUnavailableError(SandboxError):
    """No worker could be started (the forkserver failed, or a spare died before its job)."""


class SqlReadError(SandboxError):
    """The statement's rows could not be read from the store (out of memory, I/O): worth a retry (503)."""


@dataclass(frozen=True, slots=True)
class SqlRequest:
    """One read-only SELECT over the tenant's `logs` in [start, end): at most `limit` rows, `timeout` seconds."""

    tenant: str
    start: datetime
    end: datetime
    statement: str
    limit: int
    timeout: float


@dataclass(frozen=True, slots=True)
class SqlAnswer:
    """Columns (name and DuckDB type), the rows as a JSON array of arrays, and whether rows were cut."""

    columns: list[dict[str, str]]
    rows_json: bytes
    row_count: int
    truncated: bool

    @property
    def rows(self) -> orjson.Fragment:
        """The rows, ready to embed in an orjson document without parsing them again."""
        return orjson.Fragment(self.rows_json)


@runtime_checkable
class SqlCapability(Protocol):
    """Read-only user SQL over a tenant's lines: validated, sandboxed, bounded in rows, time and memory.

    Raises SqlError for a statement it refuses (400 with line and column), SqlTimeoutError (408),
    SqlMemoryError or SqlFailedError (400), SandboxBusyError or SandboxUnavailableError (503, retry soon),
    SqlReadError (503).
    """

    async def run_sql(self, request: SqlRequest) -> SqlAnswer:
        """Run the statement; the answer's rows are already JSON."""
        ...

    def close_sql(self) -> None:
        """Stop spare SQL workers (at shutdown)."""
        ...


class DecodeError(Exception):
    """Input could not be turned into core-schema rows. Never a store failure: the lines it names go to the
    dead-letter stream, and the request is answered as having bad input, never with a retryable 503."""

    def __init__(self, message: str, lines: list[bytes] | None = None) -> None:
        super().__init__(message)
        self.lines = lines or []  # the raw lines to keep as dead letters


# --- the durable log (DurableLog protocol, section owned by the bus work) ------------------------------


@dataclass(frozen=True, slots=True)
class AppendResult:
    """Rows now durable, and rows dropped as re-sends of lines already stored (see store/dedup.py)."""

    stored: int
    duplicates: int


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


class SetAsideStatus(Protocol):
    """Lines a backend set aside instead of storing (DuckDB: its quarantine files), and the last such event."""

    @property
    def lines(self) -> int: ...

    @property
    def last(self) -> dict[str, Any] | None: ...


class Store(Protocol):
    """A backend for stored lines: append batches durably, answer logical plans, keep retention.

    Every backend passes tests/conformance/store_suite.py. After `close`, `append` and `execute` raise
    StoreClosedError.
    """

    async def append(self, batch: pa.Table) -> AppendResult:
        """Durably store a core-schema batch; returns once durable, with stored and duplicate row counts."""
        ...

    async def execute(self, plan: Plan) -> pa.Table:
        """Answer a plan node (logwarden.plan.nodes) with the Arrow table its docstring describes."""
        ...

    async def flush(self) -> None:
        """Wait until everything acknowledged so far is in the backend's own storage."""
        ...

    async def maintain(self, now: datetime | None = None) -> MaintenanceReport:
        """Archive and drop whole partitions according to retention and archive settings."""
        ...

    def partitions(self) -> tuple[list[PartitionKey], list[PartitionKey]]:
        """(hot, archived) partition keys."""
        ...

    def size_bytes(self) -> int:
        """Bytes the store holds on disk (hot, archive, durable log)."""
        ...

    @property
    def unapplied_bytes(self) -> int:
        """Acknowledged bytes not yet in the backend's own storage (how far behind it is)."""
        ...

    def quarantine_status(self) -> SetAsideStatus:
        """Lines the backend could not take and set aside (they stay readable as dead letters)."""
        ...

    async def close(self) -> None:
        """Write out everything acknowledged and release the backend."""
        ...


class DurableLog(Protocol):
    """Where acknowledged batches live until every consumer has them: the ingest log embedded, a Kafka topic
    scaled. Sequence numbers are contiguous and only grow; a batch is never changed once appended."""

    @property
    def last_seq(self) -> int:
        """The sequence number of the newest durable batch (0: none yet)."""
        ...

    def read_after(self, seq: int, until: int) -> Iterator[tuple[int, pa.Table]]:
        """The batches after `seq` up to and including `until`, in order (replay and catch-up)."""
        ...

    def release(self, seq: int) -> None:
        """Every batch up to `seq` is consumed by everyone who needs it: its storage may go."""
        ...

    def bytes_after(self, seq: int) -> int:
        """How far behind a consumer whose cursor is `seq` is, in bytes (its lag)."""
        ...

    def size_bytes(self) -> int: ...


class LogConsumers(Protocol):
    """Who reads the durable log besides the hot store: the batch bus (bus/embedded.py). The store tells it
    about every durable batch and asks it how much of the log must be kept and whether ingest must wait."""

    def floor(self) -> int | None:
        """The lowest sequence number a consumer may still need (None: nobody needs anything kept)."""
        ...

    def attach(self, log: DurableLog, release: Callable[[], None]) -> None:
        """The log is open (recovered) up to its `last_seq`; call `release` when the floor has risen."""
        ...

    def publish(self, items: list[tuple[int, pa.Table]]) -> None:
        """Batches that just became durable and passed dedup (stored schema), in sequence order."""
        ...

    def lagging(self) -> str | None:
        """Why ingest must wait (429) for a consumer that is too far behind, or None."""
        ...

    def close(self) -> None: ...
