"""Idempotent re-sends: per-(tenant, stream) high-water marks for log ids of the form `<stream>@<offset>`.

A shipper that reads a stream in order (the agent: one stream per file instance, offset = byte offset
of the line) names each line `<stream>@<offset>` and sends it to the native ingest API. A line whose
offset is not above the highest offset already stored for its stream in its tenant is a re-send and is
dropped. Lines with any other log id, or from other sources, are untouched. Marks are per tenant: one
tenant's ids can never make another tenant's lines vanish.

The marks live in memory for the acknowledgement path (one thread, so checks and updates are
serialized with acknowledgements) and in `_stream_hwm`, updated in the same DuckDB transaction as the
rows they describe; after a crash, replaying the ingest log raises them again to what was acknowledged.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from datetime import UTC, datetime

import duckdb
import pyarrow as pa
import pyarrow.compute as pc

from logwarden.model.normalize import one_array

HWM_TABLE = "_stream_hwm"
HWM_DDL = (
    f"CREATE TABLE IF NOT EXISTS {HWM_TABLE} "
    "(tenant VARCHAR NOT NULL, stream VARCHAR NOT NULL, hwm BIGINT NOT NULL, updated TIMESTAMPTZ NOT NULL, "
    "PRIMARY KEY (tenant, stream))"
)
_ID_RE = r"^(?P<stream>[^@]+)@(?P<offset>\d{1,18})$"
SOURCE = "http"  # the native ingest API
_ID_RE_SQL = "'^([^@]+)@([0-9]{1,18})$'"
# Between tenant and stream in the in-memory keys; tenant names cannot contain it, so keys are unambiguous.
_SEP = "/"


def upsert_sql(source: str) -> str:
    """SQL raising the marks from the rows of a batch being applied (a registered relation `source`)."""
    return f"""
INSERT INTO {HWM_TABLE}
SELECT tenant, stream, max(off), now() FROM (
  SELECT tenant, regexp_extract(log_id, {_ID_RE_SQL}, 1) AS stream,
         TRY_CAST(regexp_extract(log_id, {_ID_RE_SQL}, 2) AS BIGINT) AS off
  FROM {source} WHERE source = '{SOURCE}' AND contains(log_id, '@')
) WHERE stream <> '' AND off IS NOT NULL GROUP BY tenant, stream
ON CONFLICT (tenant, stream) DO UPDATE SET hwm = greatest({HWM_TABLE}.hwm, excluded.hwm), updated = excluded.updated
"""


def migrate_hwm(con: duckdb.DuckDBPyConnection, stored_rows_sql: str | None) -> bool:
    """Re-key a `_stream_hwm` table of the stream-only era by (tenant, stream); True when it did.

    The old marks do not say whose stream they were, so they are rebuilt from the stored rows
    (`stored_rows_sql`: a SELECT of tenant, log_id and source over the hot partitions, or None).
    """
    columns = {
        name
        for (name,) in con.execute(
            "SELECT column_name FROM duckdb_columns() WHERE schema_name = 'main' AND table_name = ?", [HWM_TABLE]
        ).fetchall()
    }
    if not columns or "tenant" in columns:
        return False
    con.execute("BEGIN TRANSACTION")
    try:
        con.execute(f"DROP TABLE {HWM_TABLE}")
        con.execute(HWM_DDL)
        if stored_rows_sql is not None:
            con.execute(f"CREATE TEMP VIEW _hwm_rows AS {stored_rows_sql}")
            con.execute(upsert_sql("_hwm_rows"))
            con.execute("DROP VIEW _hwm_rows")
        con.execute("COMMIT")
    except BaseException:
        con.execute("ROLLBACK")
        raise
    return True


class StreamDedup:
    """High-water marks by (tenant, stream); `filter` drops re-sent lines and raises the marks (one thread)."""

    def __init__(self, clock: Callable[[], datetime] = lambda: datetime.now(UTC)) -> None:
        self._marks: dict[str, int] = {}
        self._seen: dict[str, datetime] = {}  # when each stream last sent a line (pruning)
        self._clock = clock
        self._lock = threading.Lock()  # `filter` runs on the log writer, `prune` on maintenance

    def load(self, con: duckdb.DuckDBPyConnection) -> None:
        rows = con.execute(f"SELECT tenant, stream, hwm, updated FROM {HWM_TABLE}").fetchall()
        with self._lock:
            self._marks = {f"{tenant}{_SEP}{stream}": int(hwm) for tenant, stream, hwm, _ in rows}
            self._seen = {f"{tenant}{_SEP}{stream}": updated for tenant, stream, _, updated in rows}

    def prune(self, horizon: datetime) -> int:
        """Forget streams silent since before `horizon` (as maintenance deletes their stored marks); returns
        how many were forgotten. Their lines are older than any retention, so a re-send cannot be stored."""
        with self._lock:
            old = [key for key, seen in self._seen.items() if seen < horizon]
            for key in old:
                del self._seen[key]
                self._marks.pop(key, None)
        return len(old)

    def __len__(self) -> int:
        return len(self._marks)

    def filter(self, batch: pa.Table) -> tuple[pa.Table, int]:
        """(batch without re-sent lines, how many were dropped)."""
        with self._lock:
            return self._filter(batch)

    def _filter(self, batch: pa.Table) -> tuple[pa.Table, int]:
        ids = one_array(batch.column("log_id"))
        # Only the native API's ids follow the convention (the agent ships there); an Elasticsearch `_id`
        # or a Kafka key that happens to look like `x@1` must never make a line vanish.
        sources = one_array(batch.column("source"))
        candidates = pc.and_(pc.equal(sources, SOURCE), pc.match_substring(ids, "@"))
        if not pc.any(candidates).as_py():
            return batch, 0
        parts = pc.extract_regex(pc.if_else(candidates, ids, pa.scalar(None, pa.string())), _ID_RE)
        keys = pc.binary_join_element_wise(one_array(batch.column("tenant")), pc.struct_field(parts, "stream"), _SEP)
        offsets = pc.cast(pc.struct_field(parts, "offset"), pa.int64())
        keep = pa.repeat(pa.scalar(True), batch.num_rows)
        dropped = 0
        now = self._clock()
        for key in pc.unique(keys.drop_null()).to_pylist():
            in_stream = pc.fill_null(pc.equal(keys, key), False)
            offs = offsets.filter(in_stream)
            mark = self._marks.get(key, -1)
            # A line is a re-send when its offset is not above every offset seen before it: the stored
            # mark or an earlier line of this batch.
            running = pc.cumulative_max(offs)
            before = pa.concat_arrays([pa.array([mark], pa.int64()), running.slice(0, len(offs) - 1)])
            fresh = pc.greater(offs, pc.max_element_wise(before, pa.scalar(mark, pa.int64())))
            dropped += len(offs) - pc.sum(pc.cast(fresh, pa.int64())).as_py()
            keep = pc.replace_with_mask(keep, in_stream, fresh)
            self._marks[key] = max(mark, int(pc.max(offs).as_py()))
            self._seen[key] = now
        if dropped == 0:
            return batch, 0
        return batch.filter(keep), dropped
