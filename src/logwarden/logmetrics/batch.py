"""One stored batch prepared once for every log metric (`MetricBatch`), and its vectorized group-by (`groups`).

Per batch: every distinct filter is evaluated once — pyarrow where it can (message words share one lowered
text), the rest in a single DuckDB pass that also reads every attribute any definition names (one JSON parse
per line for all of them). Each field a definition labels by is dictionary-encoded once (integer codes shared
by every definition that names it), each numeric field cast once, each line's 10 s bucket computed once.

A definition's group-by is then integer work on its matching lines: the codes of its labels and the bucket
combine into one integer key, counted with `np.bincount` (sums, minima and maxima with `bincount` weights and
`np.minimum.at`) — a few nanoseconds per line, where a hash group-by of label text costs tens. Python sees
each distinct series once per definition and batch (for the cap), never a line.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from logwarden.logmetrics.sketch import LOG_GAMMA, MAX_BIN, MIN_VALUE, ZERO_BIN
from logwarden.model.schema import CORE_COLUMNS
from logwarden.model.scratch_db import thread_scratch_connection
from logwarden.query.batch_attrs import BatchAttributes, attr_key
from logwarden.query.byte_text import ByteText
from logwarden.query.filter import RowFilter

BUCKET_SECONDS = 10  # the finest tier's width: points are kept per 10 s of event time
BYTES_FIELD = "\x1fbytes"  # the built-in `log_bytes_total`'s value: the message's length in bytes
_KEY_LIMIT = 1 << 62  # combined integer keys stay below this (int64, with room for one more factor)


def _array(values: pa.Array | pa.ChunkedArray) -> pa.Array:
    return values.combine_chunks() if isinstance(values, pa.ChunkedArray) else values


@dataclass(frozen=True, slots=True)
class Groups:
    """A definition's matching lines grouped by series and bucket: `series` holds each distinct series' field
    values (tenant first, then the labels); per point (series, bucket), `point_series` (index in `series`),
    `ts` (bucket start, epoch seconds), `n`, `total`, `lo`, `hi`; for distributions, per (point, bin) with
    lines, `bin_point` (index of the point), `bin` and `bin_n`. `first` (None: `series` are in that order
    already) gives each series' first line in the batch, for the cap's first come, first served."""

    series: list[tuple[str, ...]]
    point_series: np.ndarray
    ts: np.ndarray
    n: np.ndarray
    total: np.ndarray
    lo: np.ndarray
    hi: np.ndarray
    bin_point: np.ndarray
    bin: np.ndarray
    bin_n: np.ndarray
    first: Callable[[], np.ndarray] | None = None


def _dense(key: np.ndarray, space: int) -> tuple[np.ndarray, np.ndarray]:
    """(distinct keys ascending, each line's index in them): a count per cell when the key space is small, a
    hash (dictionary encoding) otherwise — never a sort."""
    if space <= max(4 * len(key), 1 << 16):
        seen = np.bincount(key, minlength=space)
        distinct = np.flatnonzero(seen)
        index = np.zeros(space, dtype=np.int64)
        index[distinct] = np.arange(len(distinct))
        return distinct, index[key]
    encoded = pc.dictionary_encode(pa.array(key, pa.int64()))
    distinct = encoded.dictionary.to_numpy()
    inverse = encoded.indices.to_numpy().astype(np.int64)
    return distinct, inverse


class MetricBatch:
    """The work every definition shares on one stored batch (core schema, every tenant)."""

    def __init__(self, table: pa.Table) -> None:
        self.table = table
        self.num_rows = table.num_rows
        self._shared: dict[str, object] = {}  # what filters share on this table (the lowered message text)
        self._masks: dict[str, np.ndarray | None] = {}  # None: every line
        self._texts: dict[str, pa.Array] = {}
        self._codes: dict[str, tuple[pa.Array, np.ndarray]] = {}
        self._numbers: dict[str, np.ndarray] = {}
        self._bins: dict[str, np.ndarray] = {}
        self._buckets: tuple[np.ndarray, np.ndarray] | None = None
        self._cells: dict[tuple[str, ...], tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]] = {}
        self._selections: dict[tuple[str, str | None], tuple[np.ndarray | None, np.ndarray | None]] = {}
        self._counts: dict[tuple[tuple[str | None, str | None] | None, tuple[str, ...]], np.ndarray] = {}
        self._attrs = BatchAttributes(table)  # attribute texts, parsed once (shared with the rules engine)
        self._plain: dict[str, pa.Array] = {}
        self._byte_texts: dict[str, ByteText | None] = {}

    # --- filters and fields ---------------------------------------------------------------------

    def prepare(self, filters: Iterable[RowFilter], fields: Iterable[str], values: Iterable[str] = ()) -> None:
        """Evaluate `filters` and read `fields` for every line: pyarrow for the filters it can evaluate, then one
        DuckDB pass for the other filters and every attribute (one JSON parse per line). `values`: fields read
        as numbers only — an attribute ingest decoded as numbers is taken as such, without its text."""
        fields = list(fields)
        for name in dict.fromkeys(values):
            if name in self._numbers or name in self._texts or name == BYTES_FIELD or name in CORE_COLUMNS:
                continue
            found = self._attrs.numbers(attr_key(name))
            if found is None:
                fields.append(name)
            else:
                self._numbers[name] = found
        pending: list[RowFilter] = []
        for f in filters:
            if f.text in self._masks:
                continue
            if f.matches_all:
                self._masks[f.text] = None
                continue
            bits = f.arrow_mask(self.table, self._shared, self._attrs)
            if bits is None:
                pending.append(f)
            else:
                self._masks[f.text] = _numpy_mask(bits)
        attrs: list[str] = []
        for name in dict.fromkeys(fields):
            if name in self._texts or name == BYTES_FIELD:
                continue
            if name in CORE_COLUMNS and name in self.table.column_names:
                self._texts[name] = _array(pc.cast(self.table.column(name), pa.string()))
            else:
                attrs.append(name)
        if not pending and not attrs:
            return
        if self.num_rows == 0 or "attrs" not in self.table.column_names:
            for f in pending:
                self._masks[f.text] = _numpy_mask(f.mask(self.table, self._shared))
            for name in attrs:
                self._texts[name] = pa.nulls(self.num_rows, pa.string())
            return
        masks = self._attrs.evaluate(pending, [attr_key(n) for n in attrs])
        for f, bits in zip(pending, masks, strict=True):
            self._masks[f.text] = _numpy_mask(bits)
        for n in attrs:
            self._texts[n] = self._attrs.texts([attr_key(n)])[attr_key(n)]

    def mask(self, f: RowFilter) -> np.ndarray | None:
        """The lines `f` matches as a boolean array (None: every line)."""
        if f.text not in self._masks:
            self.prepare([f], [])
        return self._masks[f.text]

    def text(self, name: str) -> pa.Array:
        """A field's text on every line (null where the line lacks it)."""
        if name not in self._texts:
            self.prepare([], [name])
        return self._texts[name]

    def plain_text(self, column: str) -> pa.Array:
        """A stored column as one plain string array (`plain_text`), once per batch."""
        found = self._plain.get(column)
        if found is None:
            found = self._plain[column] = plain_text(self.table.column(column))
        return found

    def byte_text(self, column: str) -> ByteText | None:
        """A stored text column's bytes (`ByteText`), made once per batch for every byte search of its extractions
        (None: not a plain string column)."""
        if column not in self._byte_texts:
            text = self.plain_text(column)
            self._byte_texts[column] = ByteText(text) if pa.types.is_string(text.type) else None
        return self._byte_texts[column]

    def has(self, name: str) -> bool:
        """Whether the field `name` is read already (or was `put`)."""
        return name in self._texts

    def put(self, name: str, text: pa.Array | pa.ChunkedArray) -> None:
        """A field computed elsewhere (text per line, null where missing), read like the stored ones."""
        self._texts[name] = _array(text)

    def codes(self, name: str) -> tuple[pa.Array, np.ndarray]:
        """A field's distinct texts (a missing field is "") and each line's index in them."""
        found = self._codes.get(name)
        if found is None:
            text = self.text(name)
            if name == "tenant" and len(text) and not text.null_count and pc.all(pc.equal(text, text[0])).as_py():
                # One tenant (most batches): a comparison is ~4x cheaper than a hash per line.
                found = self._codes[name] = (text.slice(0, 1), np.zeros(len(text), dtype=np.int64))
                return found
            encoded = pc.dictionary_encode(pc.fill_null(text, ""))
            found = self._codes[name] = (encoded.dictionary, encoded.indices.to_numpy().astype(np.int64))
        return found

    def numbers(self, name: str) -> np.ndarray:
        """A field as doubles, NaN where it is missing or no number (the search language's TRY_CAST);
        `BYTES_FIELD`: the message's length in UTF-8 bytes."""
        found = self._numbers.get(name)
        if found is None:
            if name == BYTES_FIELD:
                length = pc.fill_null(pc.binary_length(self.table.column("message")), 0)
                found = _array(pc.cast(length, pa.float64())).to_numpy()
            else:
                found = _numbers(self.text(name)).to_numpy(zero_copy_only=False)
            self._numbers[name] = found
        return found

    def bins(self, name: str) -> np.ndarray:
        """Each line's sketch bin of a numeric field (logmetrics/sketch.py; meaningless where it is NaN)."""
        found = self._bins.get(name)
        if found is None:
            found = self._bins[name] = sketch_bins(self.numbers(name))
        return found

    @property
    def buckets(self) -> tuple[np.ndarray, np.ndarray]:
        """(distinct 10 s bucket starts, epoch seconds; each line's index in them)."""
        if self._buckets is None:
            micros = _array(pc.cast(self.table.column("ts"), pa.int64())).to_numpy()
            starts = np.floor_divide(micros, BUCKET_SECONDS * 1_000_000)
            low = int(starts.min()) if len(starts) else 0
            distinct, index = _dense(starts - low, int(starts.max()) - low + 1 if len(starts) else 1)
            self._buckets = ((distinct + low) * BUCKET_SECONDS, index)
        return self._buckets

    # --- the group-by ---------------------------------------------------------------------------

    def cells(self, fields: tuple[str, ...]) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """Every line's cell — its series (the values of `fields`) and bucket — numbered densely over the batch,
        once per set of fields (shared by every definition labelled alike): (each line's cell, each cell's
        series number, each cell's bucket index, a line of each series)."""
        found = self._cells.get(fields)
        if found is None:
            key: np.ndarray | None = None
            space = 1
            for name in fields:
                distinct, codes = self.codes(name)
                size = max(len(distinct), 1)
                if size == 1:  # one value on every line (one tenant, say): no digit of the key
                    continue
                if key is None:
                    key, space = codes, size
                    continue
                if space * size >= _KEY_LIMIT:  # too many combinations for one integer: number those present
                    present, key = _dense(key, space)
                    space = len(present)
                key = key * size + codes
                space *= size
            starts, bucket_codes = self.buckets
            nb = max(len(starts), 1)
            if key is None:
                combined = bucket_codes
            else:
                if space * nb >= _KEY_LIMIT:
                    present, key = _dense(key, space)
                    space = len(present)
                combined = key * nb + bucket_codes
            # Series and bucket numbered in one pass over the lines; the series numbered over the cells.
            cell_keys, cell_index = _dense(combined, space * nb)
            series_keys, cell_series = np.unique(cell_keys // nb, return_inverse=True)
            line_of_cell = np.empty(len(cell_keys), dtype=np.int64)
            line_of_cell[cell_index] = np.arange(self.num_rows, dtype=np.int64)  # any line: they share the values
            line_of_series = np.empty(len(series_keys), dtype=np.int64)
            line_of_series[cell_series] = line_of_cell
            found = self._cells[fields] = (cell_index, cell_series, cell_keys % nb, line_of_series)
        return found

    def _selected(
        self, mask: np.ndarray | None, value: str | None, key: str | None
    ) -> tuple[np.ndarray | None, np.ndarray | None]:
        """The lines `mask` selects that have a finite `value` (None: every line) and their values; `key` (the
        filter's text) shares them between definitions with the same filter and value."""
        found = self._selections.get((key, value)) if key is not None else None
        if found is not None:
            return found
        rows: np.ndarray | None = None if mask is None else np.flatnonzero(mask)
        v: np.ndarray | None = None
        if value is not None:
            every = self.numbers(value)
            v = every if rows is None else every[rows]
            finite = np.isfinite(v)
            if not finite.all():
                rows = np.flatnonzero(finite) if rows is None else rows[finite]
                v = v[finite]
        if key is not None:
            self._selections[(key, value)] = (rows, v)
        return rows, v

    def groups(
        self,
        mask: np.ndarray | None,
        labels: Sequence[str],
        value: str | None,
        *,
        distribution: bool = False,
        selection: str | None = None,
    ) -> Groups:
        """The lines `mask` selects (with a finite `value`, when one is named) grouped by tenant, `labels` and
        bucket (and, for a distribution, by the value's sketch bin too). `selection`: the filter's text, so that
        definitions with the same filter (and value, and labels) share what they can."""
        rows, v = self._selected(mask, value, selection)
        m = self.num_rows if rows is None else len(rows)
        fields = ("tenant", *labels)
        every_cell, cell_series, cell_bucket, line_of_series = self.cells(fields)
        cell = every_cell if rows is None else every_cell[rows]
        ncells = len(cell_series)
        # Statistics over every cell of the batch, then those the lines fill (no renumbering per definition).
        counted = (None if rows is None else (selection, value), fields)
        n = self._counts.get(counted) if rows is None or selection is not None else None
        if n is None:
            n = np.bincount(cell, minlength=ncells).astype(np.float64)
            if rows is None or selection is not None:
                self._counts[counted] = n
        present = np.flatnonzero(n)
        total: np.ndarray
        if v is None:
            total, lo, hi = n, np.ones(ncells), np.ones(ncells)
        else:
            total = np.bincount(cell, weights=v, minlength=ncells)
            lo = np.full(ncells, np.inf)
            hi = np.full(ncells, -np.inf)
            np.minimum.at(lo, cell, v)
            np.maximum.at(hi, cell, v)
        series_ids, point_series = np.unique(cell_series[present], return_inverse=True)
        at = line_of_series[series_ids]
        columns = [self.codes(name)[0].take(pa.array(self.codes(name)[1][at])).to_pylist() for name in fields]
        series = list(zip(*columns, strict=True))

        def first() -> np.ndarray:
            """Each series' first line among those selected (asked only when a cap may be reached)."""
            series_of_cell = np.zeros(ncells, dtype=np.int64)
            series_of_cell[present] = point_series
            out = np.full(len(series_ids), m, dtype=np.int64)
            np.minimum.at(out, series_of_cell[cell], np.arange(m, dtype=np.int64))
            return out

        empty = np.zeros(0, dtype=np.int64)
        bin_point, bin_index, bin_n = empty, np.zeros(0, dtype=np.int16), empty
        if distribution and value is not None and m:
            b = self.bins(value)
            b = b if rows is None else b[rows]
            low = int(b.min())
            width = int(b.max()) - low + 1
            key = cell * width - low + b
            space = ncells * width
            if space <= max(4 * len(key), 1 << 16):  # one count per (cell, bin): no numbering of the lines
                counts = np.bincount(key, minlength=space)
                found = np.flatnonzero(counts)
                bin_n = counts[found]
            else:
                found, cell_bin = _dense(key, space)
                bin_n = np.bincount(cell_bin, minlength=len(found))
            point_of_cell = np.zeros(ncells, dtype=np.int64)
            point_of_cell[present] = np.arange(len(present))
            bin_point = point_of_cell[found // width]
            bin_index = (found % width + low).astype(np.int16)
        starts = self.buckets[0]
        return Groups(
            series=series,
            point_series=point_series,
            ts=starts[cell_bucket[present]] if len(starts) else empty,
            n=n[present],
            total=total[present],
            lo=lo[present],
            hi=hi[present],
            bin_point=bin_point,
            bin=bin_index,
            bin_n=bin_n,
            first=first,
        )


def plain_text(text: pa.Array | pa.ChunkedArray) -> pa.Array:
    """A column as one array, dictionary-decoded (what the regex kernels take)."""
    if isinstance(text, pa.ChunkedArray):
        text = text.combine_chunks()
    if pa.types.is_dictionary(text.type):
        text = text.dictionary_decode()
    return text


def _numpy_mask(bits: pa.Array | pa.ChunkedArray) -> np.ndarray | None:
    """A filter's mask as numpy booleans (null: no match); None when every line matches."""
    bits = _array(pc.fill_null(bits, False))
    if bits.false_count == 0:
        return None
    found: np.ndarray = bits.to_numpy(zero_copy_only=False)
    return found


def _numbers(text: pa.Array) -> pa.Array:
    """Field text as doubles (what is no number: null), like the search language's TRY_CAST."""
    try:
        return _array(pc.cast(text, pa.float64()))
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        con = thread_scratch_connection()
        con.register("__lw_metric_values", pa.table({"t": text}))
        try:
            return _array(con.sql("SELECT TRY_CAST(t AS DOUBLE) AS v FROM __lw_metric_values").to_arrow_table()["v"])
        finally:
            con.unregister("__lw_metric_values")


def sketch_bins(values: np.ndarray) -> np.ndarray:
    """Each value's sketch bin (logmetrics/sketch.py); a value that is no finite number gets `ZERO_BIN` (callers
    leave those out). Values beyond ~1e285 share the last bin (SMALLINT's greatest)."""
    out = np.full(len(values), ZERO_BIN, dtype=np.int16)
    with np.errstate(invalid="ignore"):
        positive = (values > MIN_VALUE) & np.isfinite(values)
    index = np.ceil(np.log(values[positive]) / LOG_GAMMA)
    out[positive] = np.minimum(index, MAX_BIN).astype(np.int16)
    return out
