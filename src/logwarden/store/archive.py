"""The Parquet archive: `<root>/tenant=<t>/date=<YYYY-MM-DD>/part-<id>.parquet` on any fsspec filesystem."""

from __future__ import annotations

import hashlib
import os
import re
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import datetime
from typing import TYPE_CHECKING

import duckdb
import fsspec
import pyarrow as pa

from logwarden.lazy import lazy_module
from logwarden.store.archive_encryption import SIDECAR_SUFFIX, ArchiveEncryption, FileKey
from logwarden.store.base import PartitionKey
from logwarden.store.sql_quote import quote_literal

if TYPE_CHECKING:
    import pyarrow.dataset as ds
    import pyarrow.parquet as pq
    import pyarrow.parquet.encryption as pe
else:
    # ~15 MB resident: only an encrypted archive file read through a dataset needs it.
    ds = lazy_module("pyarrow.dataset")
    # ~5 MB with pyarrow.fs: the first archive write (partitions age into it) or encrypted read imports them.
    pq = lazy_module("pyarrow.parquet")
    pe = lazy_module("pyarrow.parquet.encryption")

# Id columns written with Parquet bloom filters (the `trace_id = …` test of a trace read).
BLOOM_COLUMNS = ("trace_id", "span_id", "log_id")
# Files are written once and read many times: zstd level 9 makes them ~8% smaller than the default level
# and decompresses as fast. Times and seq are nearly sorted in a file: delta-encoded they take ~7% less.
ZSTD_LEVEL = 9
DELTA_COLUMNS = ("ts", "observed_ts", "seq")
_PART_RE = re.compile(r"tenant=([^/]+)/date=(\d{4}-\d{2}-\d{2})/(?:class=([a-z0-9_]+)/)?part-[^/]+\.parquet$")


class ParquetArchive:
    """Day partitions written once as Parquet files and read back by DuckDB."""

    def __init__(
        self,
        root: str,
        *,
        compression: str = "zstd",
        storage_options: dict[str, str] | None = None,
        encryption: ArchiveEncryption | None = None,
    ):
        self.root_url = root
        fs, path = fsspec.core.url_to_fs(root, **(storage_options or {}))
        self.fs: fsspec.AbstractFileSystem = fs
        self.root = path.rstrip("/")
        self.is_local = "file" in _protocols(fs)
        self.compression = None if compression == "none" else compression
        # New files are encrypted when set; files with a key file are read with their key either way.
        self.encryption = encryption
        self._keys: dict[str, FileKey | None] = {}  # location → the file's key (None: not encrypted)

    def scan(self) -> dict[PartitionKey, list[str]]:
        """Archived partitions found under the root (filesystem paths, without protocol)."""
        parts: dict[PartitionKey, list[str]] = {}
        if self.fs.exists(self.root):
            for path in self.fs.find(self.root):
                m = _PART_RE.search(path)
                if m:
                    day = datetime.strptime(m.group(2), "%Y-%m-%d").date()
                    key = PartitionKey(m.group(1), day, m.group(3) or "")
                    parts.setdefault(key, []).append(path)
        return {k: sorted(v) for k, v in parts.items()}

    def location(self, path: str) -> str:
        """What DuckDB opens for `path`: the local path, or the URL of the registered filesystem."""
        return path if self.is_local else self.fs.unstrip_protocol(path)

    def path_of(self, location: str) -> str:
        """The filesystem path of a `location` (what DuckDB opens), the inverse of `location`."""
        return location if self.is_local else str(self.fs._strip_protocol(location))

    def part_path(self, key: PartitionKey, part_id: str) -> str:
        return f"{self._directory(key)}/part-{part_id}.parquet"

    def _directory(self, key: PartitionKey) -> str:
        klass = f"/class={key.retention_class}" if key.retention_class else ""
        return f"{self.root}/tenant={key.tenant}/date={key.day:%Y-%m-%d}{klass}"

    def write(self, path: str, reader: pa.RecordBatchReader, dictionary: Sequence[str] = ()) -> int:
        """Stream record batches into one Parquet file at `path`; returns rows written. `dictionary` names
        more text columns to dictionary-encode (typed attribute columns)."""
        rows = 0
        parent = path.rsplit("/", 1)[0]
        self.fs.makedirs(parent, exist_ok=True)
        tmp = path + ".tmp" if self.is_local else path
        key = self.encryption.new_file_key() if self.encryption is not None else None
        if key is not None:
            assert self.encryption is not None
            # The key file first, durable: an encrypted file never exists without what opens it.
            self._write_durably(path + SIDECAR_SUFFIX, key.sidecar(self.encryption.provider.name))
        with (
            self.fs.open(tmp, "wb") as f,
            pq.ParquetWriter(
                f,
                reader.schema,
                compression=self.compression,
                compression_level=ZSTD_LEVEL if self.compression == "zstd" else None,
                use_dictionary=["tenant", "service", "host", "level", "source", *dictionary],
                column_encoding={name: "DELTA_BINARY_PACKED" for name in DELTA_COLUMNS if name in reader.schema.names},
                # A one-trace read (DuckDB, Trino, Spark) skips row groups whose bloom filter lacks the id;
                # the page index lets time-bounded reads skip pages within a row group.
                # (Arrow cannot write bloom filters into encrypted files: logwarden's own filters still narrow reads.)
                bloom_filter_options={
                    name: True for name in BLOOM_COLUMNS if name in reader.schema.names and key is None
                },
                write_page_index=True,
                encryption_properties=ArchiveEncryption.properties(key) if key is not None else None,
            ) as writer,
        ):
            for batch in reader:
                writer.write_batch(batch, row_group_size=128 * 1024)
                rows += batch.num_rows
        if self.is_local:
            # Durable before it gets its name, and the name durable after: a kill leaves no torn file.
            _fsync(tmp)
            os.replace(tmp, path)
            _fsync_dir(parent)
        self._keys[self.location(path)] = key
        return rows

    def _write_durably(self, path: str, data: bytes) -> None:
        if not self.is_local:
            with self.fs.open(path, "wb") as f:
                f.write(data)
            return
        tmp = path + ".tmp"
        with open(tmp, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)

    def remove_file(self, path: str) -> None:
        """Remove an archive file and its key file."""
        for name in (path, path + SIDECAR_SUFFIX):
            if self.fs.exists(name):
                self.fs.rm(name)
        self._keys.pop(self.location(path), None)

    def drop(self, key: PartitionKey) -> None:
        """Delete a whole archived partition (retention); other retention classes of the day stay."""
        directory = self._directory(key)
        if not self.fs.exists(directory):
            return
        if key.retention_class or not any("/class=" in p for p in self.fs.find(directory)):
            self.fs.rm(directory, recursive=True)
            return
        for path in self.fs.find(directory):
            if "/class=" not in path[len(directory) :]:
                self.fs.rm(path)

    def size_bytes(self) -> int:
        if not self.is_local or not os.path.isdir(self.root):
            return 0
        total = 0
        for dirpath, _, files in os.walk(self.root):
            for name in files:
                try:
                    total += os.path.getsize(os.path.join(dirpath, name))
                except OSError:
                    continue
        return total

    # --- encrypted files -------------------------------------------------------------------

    def file_key(self, location: str) -> FileKey | None:
        """The data key of the file at `location` (None when it is not encrypted); ArchiveKeyError when its key
        file names a master key that is not configured, or the wrong one."""
        if location not in self._keys:
            sidecar = self.path_of(location) + SIDECAR_SUFFIX
            if not self.fs.exists(sidecar):
                self._keys[location] = None
            else:
                if self.encryption is None:
                    from logwarden.store.archive_encryption import ArchiveKeyError

                    raise ArchiveKeyError(
                        f"archive file {location} is encrypted, but archive.encryption.keys is empty: configure the "
                        "key that encrypted it"
                    )
                with self.fs.open(sidecar, "rb") as f:
                    self._keys[location] = self.encryption.file_key(f.read(), sidecar)
        return self._keys[location]

    def is_encrypted(self, location: str) -> bool:
        return self.file_key(location) is not None

    def dataset(self, location: str) -> ds.Dataset:
        """An encrypted file as a pyarrow dataset that decrypts it (DuckDB scans it with filter and projection
        pushdown). DuckDB 2.0 cannot decrypt Arrow's encrypted pages itself (its AES tags disagree), so
        encrypted files are read through Arrow and never with `read_parquet`."""
        key = self.file_key(location)
        assert key is not None
        options = ds.ParquetFragmentScanOptions()
        options.decryption_properties = pe.create_decryption_properties(key.data_key)
        fmt = ds.ParquetFileFormat(default_fragment_scan_options=options)
        return ds.dataset(self.path_of(location), format=fmt, filesystem=None if self.is_local else self.fs)

    def numbered_rows(self, location: str) -> pa.Table:
        """An encrypted file's rows with their position in it as `file_row_number` (what `read_parquet(…,
        file_row_number = true)` gives for a plain file); reads the whole file into memory."""
        table = self.dataset(location).to_table()
        return table.append_column("file_row_number", pa.array(range(table.num_rows), pa.int64()))

    @contextmanager
    def relation(self, cur: duckdb.DuckDBPyConnection, location: str, *, row_numbers: bool = False) -> Iterator[str]:
        """SQL naming the rows of one archive file on `cur`: `read_parquet(…)` for a plain file, a registered Arrow
        dataset (decrypting) for an encrypted one; with `row_numbers`, the rows carry `file_row_number`."""
        if not self.is_encrypted(location):
            numbered = ", file_row_number = true" if row_numbers else ""
            yield f"read_parquet({quote_literal(location)}, hive_partitioning = false{numbered})"
            return
        name = "_lw_file_" + hashlib.sha1(location.encode()).hexdigest()[:16]
        cur.register(name, self.numbered_rows(location) if row_numbers else self.dataset(location))
        try:
            yield name
        finally:
            cur.unregister(name)


def _fsync(path: str) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _fsync_dir(path: str) -> None:
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _protocols(fs: fsspec.AbstractFileSystem) -> tuple[str, ...]:
    proto = fs.protocol
    return (proto,) if isinstance(proto, str) else tuple(proto)
