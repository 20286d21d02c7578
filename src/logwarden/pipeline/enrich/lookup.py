"""`lookup`: add columns from a table (CSV file or SQL query) whose key matches a field, joined vectorized.

The table is kept in memory: a CSV is reloaded when the file changes, a SQL query re-run every `refresh`.
"""

from __future__ import annotations

import logging
import threading
import time
from datetime import timedelta
from pathlib import Path
from typing import Any, Literal, Self

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
from pydantic import Field, model_validator

from logwarden.model.normalize import as_string
from logwarden.model.units import Duration
from logwarden.pipeline import fields
from logwarden.pipeline.base import (
    BuildEnv,
    FrozenSettings,
    Processed,
    Processor,
    ProcessorBuildError,
    ProcessorConfig,
)
from logwarden.pipeline.enrich.reloading import ReloadingFile

log = logging.getLogger(__name__)


class LookupTableConfig(FrozenSettings):
    """Where the lookup table comes from: a CSV `file`, or a SQL `url` and `query`."""

    file: Path | None = None
    """CSV file with a header row, relative to the config file's directory; reloaded when it changes."""
    delimiter: str = Field(",", min_length=1, max_length=1)
    """CSV field separator."""
    url: str | None = None
    """SQLAlchemy database URL (`postgresql://…`, `sqlite:///owners.db`) for a SQL table."""
    query: str | None = None
    """SQL query returning the key column and the columns to add (`SELECT service, team, oncall FROM owners`)."""
    refresh: Duration = timedelta(minutes=5)
    """How often the SQL query is re-run."""
    key: str | None = None
    """The table's key column (default: its first column). Keys compare as text."""
    columns: list[str] | None = None
    """The table columns to add (default: all but the key)."""

    @model_validator(mode="after")
    def _one_source(self) -> Self:
        if (self.file is None) == (self.url is None):
            raise ValueError("give either `file` (CSV) or `url` and `query` (SQL)")
        if self.url is not None and not self.query:
            raise ValueError("a SQL lookup table needs `query`")
        if self.file is not None and self.query is not None:
            raise ValueError("`query` is for SQL tables (with `url`)")
        if self.refresh <= timedelta(0):
            raise ValueError("`refresh` must be positive")
        return self


class LookupConfig(ProcessorConfig):
    """Add the columns of the table row whose key equals `field` (`service` → team, on-call, tier)."""

    type: Literal["lookup"]
    field: str
    """The field matched against the table's key (compared as text)."""
    table: LookupTableConfig
    """The table: `{file: owners.csv, key: service}` or `{url: …, query: …, refresh: 5m}`."""
    target: str = ""
    """Prefix of the added fields (`owner.` gives `owner.team`); empty adds them under the column names."""
    defaults: dict[str, str | int | float | bool] = Field(default_factory=dict)
    """Values for lines whose key is not in the table (or missing), by column name; otherwise nothing is added."""
    reload_check: Duration = timedelta(seconds=5)
    """How often, at most, the CSV file's modification time is checked."""

    def build(self, env: BuildEnv) -> Processor:
        t = self.table
        if t.file is not None:
            path = env.base_dir / t.file
            if not path.is_file():
                raise ProcessorBuildError("table.file", f"lookup table {str(path)!r} does not exist")
            try:
                source: TableSource = CsvSource(path, t.delimiter, self.reload_check.total_seconds())
                table = source.table()
            except (OSError, pa.ArrowInvalid) as exc:
                raise ProcessorBuildError("table.file", f"cannot read lookup table {str(path)!r}: {exc}") from None
        else:
            assert t.url is not None and t.query is not None
            try:
                source = SqlSource(t.url, t.query, t.refresh.total_seconds())
                table = source.table()
            except Exception as exc:
                raise ProcessorBuildError("table.url", f"cannot run the lookup query: {exc}") from None
        if table.num_columns < 2:
            raise ProcessorBuildError("table", "a lookup table needs a key column and at least one more column")
        key = t.key or table.column_names[0]
        if key not in table.column_names:
            raise ProcessorBuildError("table.key", f"no column {key!r} in the table (it has {table.column_names})")
        columns = t.columns or [c for c in table.column_names if c != key]
        missing = [c for c in columns if c not in table.column_names]
        if missing:
            raise ProcessorBuildError("table.columns", f"no column {missing[0]!r} in the table")
        unknown = [c for c in self.defaults if c not in columns]
        if unknown:
            raise ProcessorBuildError("defaults", f"{unknown[0]!r} is not one of the added columns {columns}")
        return Lookup(self.field, source, key, columns, self.target, self.defaults)


class TableSource:
    """Gives the current table; implementations reload it when due."""

    def table(self) -> pa.Table:
        raise NotImplementedError

    def close(self) -> None:
        """Release files or connections."""


class CsvSource(TableSource):
    def __init__(self, path: Path, delimiter: str, check_every: float) -> None:
        options = pacsv.ParseOptions(delimiter=delimiter)
        self.file = ReloadingFile(path, lambda p: pacsv.read_csv(p, parse_options=options), check_every=check_every)

    def table(self) -> pa.Table:
        return self.file.value


class SqlSource(TableSource):
    """Runs the query at start and then at most every `refresh` seconds, in the thread that notices it is due."""

    def __init__(self, url: str, query: str, refresh: float) -> None:
        import sqlalchemy

        self.engine = sqlalchemy.create_engine(url)
        self.query = sqlalchemy.text(query)
        self.refresh = refresh
        self._lock = threading.Lock()
        try:
            self._table = self._run()
        except Exception:
            self.engine.dispose()
            raise
        self._loaded = time.monotonic()

    def _run(self) -> pa.Table:
        with self.engine.connect() as conn:
            result = conn.execute(self.query)
            names = list(result.keys())
            rows = result.fetchall()
        return pa.table({name: pa.array([row[i] for row in rows]) for i, name in enumerate(names)})

    def table(self) -> pa.Table:
        if time.monotonic() - self._loaded >= self.refresh and self._lock.acquire(blocking=False):
            try:
                self._loaded = time.monotonic()
                self._table = self._run()
            except Exception as exc:
                log.warning("lookup query failed (keeping the previous table): %s", exc)
            finally:
                self._lock.release()
        return self._table

    def close(self) -> None:
        self.engine.dispose()


class Lookup(Processor):
    def __init__(
        self,
        name: str,
        source: TableSource,
        key: str,
        columns: list[str],
        target: str,
        defaults: dict[str, Any],
    ) -> None:
        self.name = name
        self.source = source
        self.key = key
        self.columns = columns
        self.target = target
        self.defaults = defaults
        self._prepared: tuple[pa.Table, pa.Array, dict[str, pa.Array]] | None = None
        self._lock = threading.Lock()

    def _index(self) -> tuple[pa.Array, dict[str, pa.Array]]:
        """(keys as text, column values) of the current table, rebuilt only when the table changed."""
        table = self.source.table()
        with self._lock:
            if self._prepared is None or self._prepared[0] is not table:
                keys = as_string(table.column(self.key).combine_chunks())
                values = {c: table.column(c).combine_chunks() for c in self.columns if c in table.column_names}
                self._prepared = (table, keys, values)
            return self._prepared[1], self._prepared[2]

    def process(self, batch: pa.Table) -> Processed:
        keys, values = self._index()
        wanted = fields.get_strings(batch, self.name)
        n = batch.num_rows
        # index_in finds the first row of the table with each key: duplicates after it are ignored.
        rows = pc.index_in(wanted, keys) if wanted is not None else pa.nulls(n, pa.int32())
        for column in self.columns:
            default = self.defaults.get(column)
            added = pc.take(values[column], rows) if column in values else pa.nulls(n, pa.string())
            if default is not None:
                if _castable(default, added.type):
                    fill = pa.scalar(default).cast(added.type)
                else:
                    added, fill = as_string(added), pa.scalar(str(default))
                added = pc.coalesce(added, fill)
            if added.null_count == n:
                continue
            batch = fields.set_field(batch, self.target + column, added, pc.is_valid(added))
        return Processed(batch)

    def close(self) -> None:
        self.source.close()


def _castable(value: Any, type_: pa.DataType) -> bool:
    try:
        pa.scalar(value).cast(type_)
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError, pa.ArrowTypeError):
        return False
    return True


CONFIGS = (LookupConfig,)
