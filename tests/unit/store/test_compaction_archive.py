"""Archive Parquet compression settings (store/archive.py): zstd level, delta-encoded times and seq."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from logwarden.store.archive import DELTA_COLUMNS, ParquetArchive


def rows(n: int) -> pa.Table:
    start = datetime(2026, 11, 20, tzinfo=UTC)
    ts = pa.array([start + timedelta(milliseconds=37 * i) for i in range(n)], pa.timestamp("us", tz="UTC"))
    return pa.table(
        {
            "ts": ts,
            "observed_ts": ts,
            "service": pa.array(["svc" + str(i % 7) for i in range(n)]),
            "message": pa.array([f"user u{i % 977} logged in from 10.0.{i % 251}.{i % 13}" for i in range(n)]),
            "log_id": pa.array([f"{12345:016x}{i:06x}" for i in range(n)]),
            "seq": pa.array([(7 << 26) + i for i in range(n)], pa.int64()),
        }
    )


def test_archive_files_are_zstd_with_delta_encoded_times_and_seq(tmp_path: Path) -> None:
    table = rows(50_000)
    archive = ParquetArchive(str(tmp_path))
    path = str(tmp_path / "part.parquet")
    assert archive.write(path, pa.RecordBatchReader.from_batches(table.schema, table.to_batches())) == 50_000
    meta = pq.ParquetFile(path).metadata
    columns = {meta.row_group(0).column(j).path_in_schema: meta.row_group(0).column(j) for j in range(meta.num_columns)}
    for name in DELTA_COLUMNS:
        if name in columns:
            assert "DELTA_BINARY_PACKED" in columns[name].encodings, name
    assert all(c.compression == "ZSTD" for c in columns.values())
    assert pq.read_table(path).equals(table)


def test_archive_settings_make_files_smaller_than_default_zstd(tmp_path: Path) -> None:
    table = rows(50_000)
    archive = ParquetArchive(str(tmp_path))
    path = str(tmp_path / "part.parquet")
    archive.write(path, pa.RecordBatchReader.from_batches(table.schema, table.to_batches()))
    default = tmp_path / "default.parquet"
    pq.write_table(table, default, compression="zstd", use_dictionary=["service"], row_group_size=128 * 1024)
    assert Path(path).stat().st_size < default.stat().st_size
