"""The SQL worker: one user statement, in a process of its own, over nothing but the rows it is sent.

The server forks workers (from `sql_forkserver`, which has this module and DuckDB imported) ahead of time: a
spare worker waits with an empty in-memory DuckDB open (memory limit, no file or network access, no
extensions) for its one job. It then caps its own memory with `setrlimit(RLIMIT_DATA)`, loads the tenant's
rows it receives on `data` into the table `logs` (the only table it has), locks the configuration, runs the
statement and sends back the columns and at most `limit` rows as JSON. Whatever the statement does, the
worst it can do is fail, use up its own memory cap, or be killed by the server when its time is up.

Protocol on `data` (server → worker): the Arrow schema, then record batches, each as serialized Arrow
IPC bytes, then an empty message. EOF before the empty message means the server gave up: exit quietly.
On `control`: one `WorkerJob` (server → worker), then one `WorkerReply` (worker → server).
"""

from __future__ import annotations

import contextlib
import resource
from collections.abc import Iterator
from dataclasses import dataclass
from multiprocessing.connection import Connection

import duckdb
import pyarrow as pa

from logwarden.store.duckdb.sql_values import rows_json

_BATCH_ROWS = 2048
INPUT = "lw_input"


@dataclass(frozen=True, slots=True)
class WorkerLimits:
    """What every worker of a sandbox gets: memory (bytes), DuckDB threads, the largest answer (bytes)."""

    max_memory: int
    threads: int
    max_result_bytes: int


@dataclass(frozen=True, slots=True)
class WorkerJob:
    """What a worker runs: a validated statement and the most rows to return."""

    sql: str
    limit: int


@dataclass(frozen=True, slots=True)
class WorkerReply:
    """A worker's answer: `kind` is "ok", "sql" (DuckDB refused or failed the statement) or "memory"."""

    kind: str
    message: str = ""
    columns: tuple[tuple[str, str], ...] = ()
    rows_json: bytes = b"[]"
    row_count: int = 0
    truncated: bool = False


class InputAbortedError(Exception):
    """The server closed the data pipe before the end of the rows."""


def main(control: Connection, data: Connection, limits: WorkerLimits) -> None:
    """Process entry point: open DuckDB, wait for one job, cap memory, load `logs`, run, reply once."""
    # Opened before the job arrives: a spare worker waits with DuckDB ready.
    con = open_database(limits)
    try:
        job = control.recv()
    except (EOFError, OSError):
        return  # the server closed: no job for this spare
    _cap_memory(limits.max_memory)
    try:
        reply = run(con, data, job, limits.max_result_bytes)
    except InputAbortedError:
        return
    except (duckdb.OutOfMemoryException, MemoryError) as exc:
        reply = WorkerReply("memory", _message(exc))
    except duckdb.Error as exc:
        reply = WorkerReply("sql", _message(exc))
    except Exception as exc:  # e.g. Arrow's OSError from a result stream that ran out of memory
        kind = "memory" if "out of memory" in str(exc).lower() else "sql"
        reply = WorkerReply(kind, _message(exc))
    with contextlib.suppress(OSError):  # the server gave up on this worker (its deadline passed)
        try:
            control.send(reply)
        except MemoryError:
            control.send(WorkerReply("memory", "out of memory"))


def open_database(limits: WorkerLimits) -> duckdb.DuckDBPyConnection:
    """An empty in-memory DuckDB with no file, network or extension access (configuration still open)."""
    # DuckDB's buffer manager keeps to this; the rlimit catches what it does not count (huge lists).
    con = duckdb.connect(
        ":memory:", config={"threads": limits.threads, "memory_limit": f"{max(limits.max_memory * 3 // 4, 1)}B"}
    )
    con.execute("SET TimeZone = 'UTC'")  # ICU is linked in but loads with the first connection
    # No spilling: an in-memory database would write temp files into the server's working directory.
    con.execute("SET temp_directory = ''")
    con.execute("SET enable_external_access = false")
    con.execute("SET python_enable_replacements = false")
    con.execute("SET autoinstall_known_extensions = false")
    con.execute("SET autoload_known_extensions = false")
    return con


def run(con: duckdb.DuckDBPyConnection, data: Connection, job: WorkerJob, max_result_bytes: int) -> WorkerReply:
    """Load the rows sent on `data` as `logs`, lock the configuration and run `job.sql` over them."""
    con.register(INPUT, _input(data))
    con.execute(f"CREATE TABLE logs AS SELECT * FROM {INPUT}")
    con.unregister(INPUT)
    con.execute("SET lock_configuration = true")
    relation = con.sql(job.sql)
    columns = tuple((str(n), str(t)) for n, t in zip(relation.columns, relation.types, strict=True))
    # DuckDB exports UHUGEINT as decimal128(38, 0), which wraps above 10^38: fetch those columns as text.
    wide = frozenset(i for i, (_, kind) in enumerate(columns) if kind == "UHUGEINT")
    if wide:
        select = ", ".join(f"CAST(#{i + 1} AS VARCHAR)" if i in wide else f"#{i + 1}" for i in range(len(columns)))
        relation = con.sql(f"SELECT {select} FROM ({job.sql})")
    result = relation.to_arrow_reader(_BATCH_ROWS)
    batches: list[pa.RecordBatch] = []
    count = 0
    for batch in result:
        batches.append(batch)
        count += batch.num_rows
        if count > job.limit:
            break
    table = pa.Table.from_batches(batches, schema=result.schema)
    kept = table.slice(0, job.limit)
    # The server holds the answer in memory: a huge one is refused here, inside the worker's cap, and
    # before JSON (which needs several times a long string's size while it writes it).
    size = kept.nbytes
    text = rows_json(kept, wide) if size <= max_result_bytes else b""
    size = max(size, len(text))
    if size > max_result_bytes:
        return WorkerReply(
            "sql",
            f"the result is {size / 1024**2:.1f} MiB, more than sql.max_result_bytes allows: "
            "select fewer rows or columns, or aggregate",
        )
    return WorkerReply("ok", "", columns, text, kept.num_rows, table.num_rows > job.limit)


def _input(data: Connection) -> pa.RecordBatchReader:
    schema = pa.ipc.read_schema(pa.py_buffer(_recv(data)))

    def batches() -> Iterator[pa.RecordBatch]:
        while message := _recv(data):
            yield pa.ipc.read_record_batch(pa.py_buffer(message), schema)

    return pa.RecordBatchReader.from_batches(schema, batches())


def _recv(data: Connection) -> bytes:
    try:
        return data.recv_bytes()
    except (EOFError, OSError):
        raise InputAbortedError from None


def _cap_memory(max_memory: int) -> None:
    """Limit this process's data segment to what it holds now plus `max_memory`."""
    # RLIMIT_DATA counts heap and private writable mappings (what malloc and DuckDB allocate), not the
    # shared libraries, so the cap is the statement's own memory; allocations beyond it fail cleanly.
    used = _vm_data()
    resource.setrlimit(resource.RLIMIT_DATA, (used + max_memory, used + max_memory))


def _vm_data() -> int:
    with open("/proc/self/status", encoding="ascii") as status:
        for line in status:
            if line.startswith("VmData:"):
                return int(line.split()[1]) * 1024
    return 0


def _message(exc: BaseException) -> str:
    """DuckDB's message without its echo of the SQL text and its generic tips."""
    text = str(exc) or type(exc).__name__
    # The first paragraph: later ones are tips for DuckDB's own users (temp directories, settings).
    text = text.split("\n\n", maxsplit=1)[0].split("\nLINE ", maxsplit=1)[0]
    text = text.split("\nPossible solutions:", maxsplit=1)[0]
    # `logs` here holds only the columns the statement names, so DuckDB's suggestions would mislead.
    return text.split("\nCandidate bindings:", maxsplit=1)[0].strip()
