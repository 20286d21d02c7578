"""The attributes of one stored batch read once (`BatchAttributes`), shared by every bus subscriber that reads them.

Attributes are JSON text (`attrs`); parsing it is most of what reading an attribute costs (about 0.4 µs per
line for any number of keys). The rules engine (rules/batch.py) and the log metrics (logmetrics/batch.py) both
evaluate the filters pyarrow cannot and read the attributes they group or aggregate by in one DuckDB pass over a
batch: this module is that pass. Each key's text per line is kept, for the batch, in a small process-wide cache
keyed by the memory of the batch's `attrs` text, so a second subscriber handed the same rows (the same bus
batch, or the same coalesced run of them) reads the columns instead of parsing the JSON again, and runs its
filters over them.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Iterable, Sequence

import pyarrow as pa
import pyarrow.compute as pc

from logwarden.model.scratch_db import thread_scratch_connection
from logwarden.plan.duckdb_filter import attr_path, lit
from logwarden.query.filter import RowFilter, extracted_column

_TABLE = "__lw_batch_attrs"
_SHARED_BATCHES = 8  # batches whose attribute texts stay shared: subscribers run close behind one another
_RowsKey = tuple[tuple[int, int, int], ...]  # per chunk of `attrs`: its data's address, offset and length


def attr_key(name: str) -> str:
    """The `attrs` key of a field (`attrs.x` and `x` are the same attribute)."""
    return name[len("attrs.") :] if name.startswith("attrs.") else name


def _quoted(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _array(values: pa.Array | pa.ChunkedArray) -> pa.Array:
    return values.combine_chunks() if isinstance(values, pa.ChunkedArray) else values


class _SharedTexts:
    """Attribute texts of the last few batches, by their rows' sequence numbers (thread-safe)."""

    def __init__(self, capacity: int) -> None:
        self.capacity = capacity
        self._lock = threading.Lock()
        # Per batch: its `attrs` column (held so its memory is not reused while the entry lives) and the texts.
        self._batches: OrderedDict[_RowsKey, tuple[pa.ChunkedArray, dict[str, pa.Array]]] = OrderedDict()

    def get(self, rows: _RowsKey, keys: Iterable[str]) -> dict[str, pa.Array]:
        """The texts of `keys` already read for these rows."""
        with self._lock:
            found = self._batches.get(rows)
            if found is None:
                return {}
            self._batches.move_to_end(rows)
            return {k: found[1][k] for k in keys if k in found[1]}

    def put(self, rows: _RowsKey, attrs: pa.ChunkedArray, texts: dict[str, pa.Array]) -> None:
        """Keep `texts` for these rows (the oldest batch goes beyond the capacity)."""
        with self._lock:
            self._batches.setdefault(rows, (attrs, {}))[1].update(texts)
            self._batches.move_to_end(rows)
            while len(self._batches) > self.capacity:
                self._batches.popitem(last=False)

    def clear(self) -> None:
        """Forget every batch (tests)."""
        with self._lock:
            self._batches.clear()


SHARED_TEXTS = _SharedTexts(_SHARED_BATCHES)


def _rows_key(table: pa.Table) -> _RowsKey | None:
    """What identifies a batch's attribute text across subscribers: the memory of its `attrs` chunks (the bus
    hands every subscriber the same Arrow buffers; coalescing concatenates chunks without copying them). The
    cache keeps the column alive while it holds the entry, so no other batch can reuse that memory meanwhile."""
    if "attrs" not in table.column_names or table.num_rows == 0:
        return None
    key = []
    for chunk in table.column("attrs").chunks:
        buffers = chunk.buffers()
        if len(buffers) < 3 or buffers[2] is None:
            return None
        key.append((buffers[2].address, chunk.offset, len(chunk)))
    return tuple(key)


class BatchAttributes:
    """The attribute texts of one stored batch (core schema with `attrs`), each key parsed at most once per
    batch for every filter and field that reads it."""

    def __init__(self, table: pa.Table) -> None:
        self.table = table
        self._rows = _rows_key(table)
        self._texts: dict[str, pa.Array] = {}

    def texts(self, keys: Iterable[str]) -> dict[str, pa.Array]:
        """Each attribute key's text per line (null where a line lacks it)."""
        wanted = list(dict.fromkeys(keys))
        self.evaluate([], wanted)
        return {k: self._texts[k] for k in wanted}

    def evaluate(self, filters: Sequence[RowFilter], keys: Iterable[str]) -> list[pa.Array]:
        """Each filter's mask over the batch (false where it is null), and every key of `keys` and of the filters
        read, in one DuckDB pass: the keys not read before (by this batch or, for the same rows, another
        subscriber) in one JSON parse per line, those read before from their columns."""
        conditions = [f.extracted_condition_sql(self.table.schema) for f in filters]
        wanted: dict[str, None] = dict.fromkeys(keys)
        for _, used in conditions:
            wanted.update(dict.fromkeys(used))
        missing = [k for k in wanted if k not in self._texts]
        if missing and self._rows is not None:
            self._texts.update(SHARED_TEXTS.get(self._rows, missing))
            missing = [k for k in wanted if k not in self._texts]
        if not conditions and not missing:
            return []
        if self.table.num_rows == 0 or "attrs" not in self.table.column_names:
            for k in missing:
                self._texts[k] = pa.nulls(self.table.num_rows, pa.string())
            missing = []
        # DuckDB gets the columns the statement reads only (registering and scanning a whole stored batch costs
        # ~1.5-3 ms a call whatever it reads).
        columns = [
            c
            for c in self.table.column_names
            if (c == "attrs" and missing) or any(_quoted(c) in sql for sql, _ in conditions)
        ]
        source = self.table.select(columns or self.table.column_names[:1])  # one column at least: the row count
        for k in wanted:  # keys read before: the filters read their columns
            if k not in missing:
                source = source.append_column(extracted_column(k), self._texts[k])
        relation = _TABLE
        if len(missing) == 1:
            path = lit(attr_path(missing[0])).sql(dialect="duckdb")
            relation = f"(SELECT *, json_extract_string(attrs, {path}) AS {_quoted(extracted_column(missing[0]))} "
            relation += f"FROM {_TABLE})"
        elif missing:
            # One JSON parse per line for every key: a list of paths, then its elements by position.
            paths = ", ".join(lit(attr_path(k)).sql(dialect="duckdb") for k in missing)
            each = ", ".join(f"__lw_v[{i + 1}] AS {_quoted(extracted_column(k))}" for i, k in enumerate(missing))
            relation = (
                f"(SELECT *, {each} FROM (SELECT *, json_extract_string(attrs, [{paths}]) AS __lw_v FROM {_TABLE}))"
            )
        selects = [f"({sql}) AS m{i}" for i, (sql, _) in enumerate(conditions)]
        selects += [f"{_quoted(extracted_column(k))} AS f{j}" for j, k in enumerate(missing)]
        if not selects:
            return []
        con = thread_scratch_connection()
        con.register(_TABLE, source)
        try:
            result = con.sql(f"SELECT {', '.join(selects)} FROM {relation}").to_arrow_table()
        finally:
            con.unregister(_TABLE)
        read = {k: _array(result.column(f"f{j}")) for j, k in enumerate(missing)}
        self._texts.update(read)
        if read and self._rows is not None:
            SHARED_TEXTS.put(self._rows, self.table.column("attrs"), read)
        masks = []
        for i in range(len(conditions)):
            bits = _array(result.column(f"m{i}"))
            masks.append(pc.fill_null(bits, False) if bits.null_count else bits)
        return masks
