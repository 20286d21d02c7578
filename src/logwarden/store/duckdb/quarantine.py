"""Quarantine: rows the hot store cannot take are set aside durably, so they never stop it.

A batch that keeps failing to apply is isolated: its rows are bisected with trial inserts that are rolled
back, until the rows that fail alone are known. Those are written to `<data_dir>/quarantine/seq-<seq>.arrow`
(Arrow IPC file, fsynced, the same name for the same batch, so a replay rewrites rather than duplicates
it); the rest of the batch is applied together with one dead-letter row per quarantined row (source
`dead_letter`, ts = when it was quarantined, attrs.error = why), in the transaction that marks the batch
applied. Nothing acknowledged is marked applied before it is either in DuckDB or in a quarantine file.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import duckdb
import orjson
import pyarrow as pa
import pyarrow.compute as pc

from logwarden.model.schema import LOG_SCHEMA, SEQ_COLUMN, TS_TYPE
from logwarden.store.wal import fsync_dir

log = logging.getLogger(__name__)

QUARANTINE_DIR = "quarantine"
# Bisecting a batch whose every row is bad costs one trial insert per row; beyond this many failing
# rows the rest of the failing slice is quarantined whole (it is kept in the file all the same).
MAX_PROBES = 4096

# Tries `items` in a transaction that is always rolled back: None when it would apply, else the error.
Probe = Callable[[pa.Table], Exception | None]


@dataclass(frozen=True, slots=True)
class QuarantineStatus:
    """Lines held in quarantine files, and the last quarantine (None when there was none)."""

    lines: int
    last: dict[str, Any] | None


@dataclass(frozen=True, slots=True)
class Isolated:
    """A batch split into the rows that apply and the dead-letter rows standing for the quarantined ones."""

    good: list[pa.Table]
    dead_letters: pa.Table
    quarantined: int
    path: Path
    error: str


class Quarantine:
    """The quarantine directory of one store: writes files, counts lines, builds dead-letter rows."""

    def __init__(
        self,
        directory: Path,
        *,
        on_quarantine: Callable[[int], None] | None = None,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self.directory = directory
        self._on_quarantine = on_quarantine
        self._clock = clock
        self._lines = 0
        self._last: dict[str, Any] | None = None
        self._scan()

    def status(self) -> QuarantineStatus:
        return QuarantineStatus(self._lines, dict(self._last) if self._last else None)

    def isolate(self, seq: int, table: pa.Table, probe: Probe) -> Isolated | None:
        """Find the rows of batch `seq` that fail alone and write them to a quarantine file; None when the
        whole batch applies now (the failure was not in its rows)."""
        good: list[pa.Table] = []
        bad: list[tuple[pa.Table, str]] = []
        budget = [MAX_PROBES]
        error = probe(table)
        if error is None:
            return None
        _bisect(table, error, probe, good, bad, budget)
        if not bad:
            # Every part applies alone but not together: set the whole batch aside rather than stall.
            good, bad = [], [(table, _describe(error))]
        rows = pa.concat_tables([t for t, _ in bad])
        path = self._write(seq, rows, bad)
        dead = self._dead_letters(seq, bad, path)
        return Isolated(good, dead, rows.num_rows, path, bad[0][1])

    def record(self, seq: int, isolated: Isolated) -> None:
        """Count a quarantine once the batch's transaction committed."""
        self._lines += isolated.quarantined
        self._last = {
            "seq": seq,
            "lines": isolated.quarantined,
            "error": isolated.error,
            "file": str(isolated.path),
            "at": self._clock().isoformat(),
        }
        log.error(
            "quarantined %d lines of ingest-log batch %d in %s: %s",
            isolated.quarantined,
            seq,
            isolated.path,
            isolated.error,
        )
        if self._on_quarantine:
            self._on_quarantine(isolated.quarantined)

    # --- files ---------------------------------------------------------------------------------

    def _write(self, seq: int, rows: pa.Table, bad: list[tuple[pa.Table, str]]) -> Path:
        self.directory.mkdir(parents=True, exist_ok=True)
        path = self.directory / f"seq-{seq:020d}.arrow"
        tmp = path.with_suffix(".arrow.tmp")
        meta = {
            b"logwarden.seq": str(seq).encode(),
            b"logwarden.rows": str(rows.num_rows).encode(),
            b"logwarden.error": bad[0][1].encode(),
            b"logwarden.at": self._clock().isoformat().encode(),
        }
        rows = rows.replace_schema_metadata(meta)
        with pa.OSFile(str(tmp), "wb") as sink, pa.ipc.new_file(sink, rows.schema) as writer:
            writer.write_table(rows)
        fd = os.open(tmp, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(tmp, path)
        fsync_dir(self.directory)
        return path

    def _scan(self) -> None:
        """Count what earlier runs quarantined (the file metadata says how many rows)."""
        if not self.directory.is_dir():
            return
        newest: tuple[float, dict[str, Any]] | None = None
        for path in sorted(self.directory.glob("seq-*.arrow")):
            try:
                with pa.memory_map(str(path)) as source:
                    meta = pa.ipc.open_file(source).schema.metadata or {}
                rows = int(meta.get(b"logwarden.rows", b"0"))
            except (OSError, ValueError, pa.ArrowException):
                log.warning("unreadable quarantine file %s", path)
                continue
            self._lines += rows
            mtime = path.stat().st_mtime
            info = {
                "seq": int(meta.get(b"logwarden.seq", b"0")),
                "lines": rows,
                "error": meta.get(b"logwarden.error", b"").decode(errors="replace"),
                "file": str(path),
                "at": meta.get(b"logwarden.at", b"").decode(errors="replace"),
            }
            if newest is None or mtime >= newest[0]:
                newest = (mtime, info)
        self._last = newest[1] if newest else None

    # --- dead letters --------------------------------------------------------------------------

    def _dead_letters(self, seq: int, bad: list[tuple[pa.Table, str]], path: Path) -> pa.Table:
        """One dead-letter row per quarantined row, in the tenant of the row, visible as `source:dead_letter`."""
        parts = []
        now = pa.scalar(self._clock(), TS_TYPE)
        for rows, error in bad:
            n = rows.num_rows
            head = orjson.dumps({"error": error, "quarantine_file": str(path), "quarantine_seq": seq}).decode()
            sources = pc.fill_null(rows.column("source"), "unknown")
            original_ts = pc.cast(pc.cast(rows.column("ts"), pa.int64()), pa.string())
            attrs = pc.binary_join_element_wise(
                pa.repeat(pa.scalar(head[:-1] + ',"original_source":"'), n),
                sources,
                pa.repeat(pa.scalar('","original_ts_us":'), n),
                pc.fill_null(original_ts, "null"),
                pa.repeat(pa.scalar("}"), n),
                "",
            )
            fallback_id = pa.scalar(f"quarantine@{seq}")
            part = pa.Table.from_arrays(
                [
                    pa.repeat(now, n),
                    pa.repeat(now, n),
                    pc.fill_null(rows.column("tenant"), "default"),
                    rows.column("service"),
                    rows.column("host"),
                    pa.nulls(n, pa.string()),
                    pa.nulls(n, pa.int8()),
                    rows.column("message"),
                    rows.column("trace_id"),
                    rows.column("span_id"),
                    pa.repeat(pa.scalar("dead_letter"), n),
                    pc.fill_null(rows.column("log_id"), fallback_id),
                    attrs,
                    pa.nulls(n, pa.string()),
                    # The quarantined rows' own seq: unique, as those rows are not stored.
                    rows.column(SEQ_COLUMN),
                ],
                schema=LOG_SCHEMA.append(pa.field(SEQ_COLUMN, pa.int64())),
            )
            parts.append(part)
        return pa.concat_tables(parts)


def _bisect(
    table: pa.Table,
    error: Exception,
    probe: Probe,
    good: list[pa.Table],
    bad: list[tuple[pa.Table, str]],
    budget: list[int],
) -> None:
    """Sort the rows of `table` (which fails with `error`) into slices that apply and rows that fail alone."""
    if table.num_rows <= 1 or budget[0] <= 0:
        bad.append((table, _describe(error)))
        return
    half = table.num_rows // 2
    for part in (table.slice(0, half), table.slice(half)):
        budget[0] -= 1
        part_error = probe(part)
        if part_error is None:
            good.append(part)
        else:
            _bisect(part, part_error, probe, good, bad, budget)


def _describe(error: Exception) -> str:
    text = str(error).strip().splitlines()[0] if str(error).strip() else ""
    return f"{type(error).__name__}: {text}"[:500] if text else type(error).__name__


def is_storage_failure(error: BaseException) -> bool:
    """Errors of the database or the disk, not of the rows: never a reason to quarantine."""
    return isinstance(
        error,
        OSError
        | MemoryError
        | duckdb.IOException
        | duckdb.OutOfMemoryException
        | duckdb.FatalException
        | duckdb.InternalException
        | duckdb.TransactionException,
    )
