"""The attributes of one stored batch read once (`BatchAttributes`), shared by every bus subscriber that reads them.

Attributes are JSON text (`attrs`); parsing it is most of what reading an attribute costs (about 0.4 µs per
line for any number of keys). The rules engine (rules/batch.py) and the log metrics (logmetrics/batch.py) both
evaluate the filters pyarrow cannot and read the attributes they group or aggregate by in one DuckDB pass over a
batch: this module is that pass. Each key's text per line is kept, for the batch, in a small process-wide cache
keyed by the memory of the batch's `attrs` text, so a second subscriber handed the same rows (the same bus
batch, or the same coalesced run of them) reads the columns instead of parsing the JSON again, and runs its
filters over them. The cache keeps texts only while two or more subscribers read attributes (`AttrColumns.want`),
and at most `SHARED_MAX_BYTES` of them.

Before any parse: ingest decodes every attribute into a typed column before it packs them into the `attrs` text
(model/normalize.py `pack`), and leaves those columns in `ATTR_COLUMNS` with the `attrs` chunk they were packed
into (ingest/sink.py). A subscriber handed a chunk of the same text on the bus (the bus concatenates chunks
without copying; the ingest log gives them back chunk for chunk; the rules engine combines a coalesced run into
one chunk, found again piece by piece) reads the columns instead of the JSON: as numbers
for the values it aggregates, as the text `json_extract_string` would give otherwise. A chunk not there —
replayed after a restart, pushed out by newer ones, dead letters — is parsed: the columns are a side-car in
memory, never a source of truth. Ingest records them only while a subscriber that reads attributes says so
(`AttrColumns.want`: log metrics whose definitions read one, rules that do); a server with neither keeps none.
"""

from __future__ import annotations

import threading
import weakref
from collections import OrderedDict
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Literal

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from logwarden.model.schema import CORE_COLUMNS, LOG_SCHEMA
from logwarden.model.scratch_db import thread_scratch_connection
from logwarden.plan.duckdb_filter import attr_path, lit
from logwarden.query.filter import RowFilter, extracted_column

_TABLE = "__lw_batch_attrs"
_SHARED_BATCHES = 8  # batches whose attribute texts stay shared: subscribers run close behind one another
# ... and at most this many bytes of them (texts and the `attrs` they were read from): a lagging subscriber's
# coalesced batches are large (8 of them held 133 MiB on a loaded server).
SHARED_MAX_BYTES = 32 * 1024**2
_RowsKey = tuple[tuple[int, int, int], ...]  # per chunk of `attrs`: its data's address, offset and length
_ChunkKey = tuple[int, int]  # an `attrs` chunk's length and its text's length in bytes
Piece = tuple[int, Mapping[str, pa.Array]]  # lines of `attrs` one after the other: how many, their columns by key
# The newest chunks' decoded columns and their `attrs` texts are kept up to this many bytes (both counted, though
# the bus's ring holds the same texts while it has the batch: ~40% of it is memory of its own). Lines of
# bench/metrics.py keep ~136 B each (84 of text): 32 MiB is ~245k lines, ~1.9 s at 130k lines/s; the log metrics
# read chunks up to ~4 s old when behind on a loaded machine (~65k lines/s). Older chunks are parsed.
DECODED_MAX_BYTES = 32 * 1024**2


def attr_key(name: str) -> str:
    """The `attrs` key of a field (`attrs.x` and `x` are the same attribute)."""
    return name[len("attrs.") :] if name.startswith("attrs.") else name


def _quoted(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _array(values: pa.Array | pa.ChunkedArray) -> pa.Array:
    return values.combine_chunks() if isinstance(values, pa.ChunkedArray) else values


class _SharedTexts:
    """Attribute texts of the last few batches, by their rows' sequence numbers (thread-safe), kept only while
    `sharing()` says a second subscriber may read the same rows (one alone never asks for them again)."""

    def __init__(self, capacity: int, max_bytes: int, sharing: Callable[[], bool]) -> None:
        self.capacity = capacity
        self.max_bytes = max_bytes
        self._sharing = sharing
        self._lock = threading.Lock()
        # Per batch: its `attrs` column (held so its memory is not reused while the entry lives) and the texts;
        # apart, the bytes of their buffers.
        self._batches: OrderedDict[_RowsKey, tuple[pa.ChunkedArray, dict[str, pa.Array]]] = OrderedDict()
        self._sizes: dict[_RowsKey, int] = {}
        self._bytes = 0

    def get(self, rows: _RowsKey, keys: Iterable[str]) -> dict[str, pa.Array]:
        """The texts of `keys` already read for these rows."""
        with self._lock:
            found = self._batches.get(rows)
            if found is None:
                return {}
            self._batches.move_to_end(rows)
            return {k: found[1][k] for k in keys if k in found[1]}

    def put(self, rows: _RowsKey, attrs: pa.ChunkedArray, texts: dict[str, pa.Array]) -> None:
        """Keep `texts` for these rows while sharing (the oldest batches go beyond the capacity or the bytes)."""
        if not self._sharing():
            return
        with self._lock:
            kept = self._batches.setdefault(rows, (attrs, {}))[1]
            kept.update(texts)
            self._batches.move_to_end(rows)
            size = _buffer_bytes([*attrs.chunks, *kept.values()])
            self._bytes += size - self._sizes.get(rows, 0)
            self._sizes[rows] = size
            while self._batches and (len(self._batches) > self.capacity or self._bytes > self.max_bytes):
                self._bytes -= self._sizes.pop(self._batches.popitem(last=False)[0])

    @property
    def nbytes(self) -> int:
        """The bytes of the buffers the entries hold (the `attrs` ones too, though the bus may hold them as well)."""
        with self._lock:
            return self._bytes

    def __len__(self) -> int:
        with self._lock:
            return len(self._batches)

    def clear(self) -> None:
        """Forget every batch (tests)."""
        with self._lock:
            self._batches.clear()
            self._sizes.clear()
            self._bytes = 0


def _buffer_bytes(arrays: Iterable[pa.Array]) -> int:
    """The bytes of the distinct buffers of `arrays` (a slice's whole buffers: what holding it keeps alive)."""
    seen: dict[int, int] = {}
    for array in arrays:
        for buffer in array.buffers():
            if buffer is not None:
                seen[buffer.address] = max(seen.get(buffer.address, 0), buffer.size)
    return sum(seen.values())


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


def _text_offsets(chunk: pa.Array) -> np.ndarray | None:
    """A string chunk's row offsets into its text, from its first row (None: a chunk with no text buffers)."""
    buffers = chunk.buffers()
    if len(buffers) < 3 or buffers[1] is None or buffers[2] is None or not pa.types.is_string(chunk.type):
        return None
    return np.frombuffer(buffers[1], dtype=np.int32, count=chunk.offset + len(chunk) + 1)[chunk.offset :]


def chunk_key(chunk: pa.Array) -> _ChunkKey | None:
    """What finds an `attrs` chunk's decoded columns: its length and its text's length in bytes (None: a chunk
    with no text buffers). Equal keys are told apart by comparing the texts."""
    offsets = _text_offsets(chunk)
    if offsets is None:
        return None
    return (len(chunk), int(offsets[-1]) - int(offsets[0]))


class AttrColumns:
    """Per `attrs` chunk, the typed column of each key its JSON objects hold (thread-safe, bounded). A chunk is
    found by its text, not its memory: the same lines read back from the ingest log (a subscriber behind the bus's
    memory) find the columns too. Chunks are kept only while some reader `want`s them (none: nothing kept)."""

    def __init__(self, max_bytes: int = DECODED_MAX_BYTES) -> None:
        self.max_bytes = max_bytes
        self._lock = threading.Lock()
        # Weakly: a reader dropped without saying so (a subscriber replaced, a test's) stops the recording too.
        self._readers: weakref.WeakSet[object] = weakref.WeakSet()
        # Oldest first: (its key, the chunk, its columns, their bytes); the key finds its place in `_by_key`.
        self._entries: OrderedDict[int, tuple[_ChunkKey, pa.Array, Mapping[str, pa.Array], int]] = OrderedDict()
        self._by_key: dict[_ChunkKey, list[int]] = {}
        self._next = 0
        self._bytes = 0

    def want(self, reader: object, wanted: bool = True) -> None:
        """`reader` (a bus subscriber) reads attributes through this module (`wanted`), or no longer does. Chunks are
        recorded while at least one reader wants them; when the last one stops, those kept are dropped."""
        with self._lock:
            if wanted:
                self._readers.add(reader)
            else:
                self._readers.discard(reader)
                if not self._readers:
                    self._forget()

    @property
    def readers(self) -> int:
        """How many readers want attributes (subscribers that may share a batch's texts: `SHARED_TEXTS`)."""
        return len(self._readers)

    @property
    def recording(self) -> bool:
        """Whether `put` keeps chunks (some reader wants them): ingest skips gathering the columns otherwise."""
        if len(self._readers) > 0:
            return True
        if self._entries:  # the last reader went away without saying so
            with self._lock:
                if not self._readers:
                    self._forget()
        return False

    def put(self, attrs: pa.Array, columns: Mapping[str, pa.Array]) -> None:
        """`attrs` (one chunk of JSON objects) was packed from exactly `columns` (key → values, row for row): a
        key not among them is in none of its objects. Kept only while `recording`."""
        key = chunk_key(attrs)
        if key is None or len(attrs) == 0:
            return
        # What the entry keeps alive: whole buffers, even of a slice.
        size = sum(c.get_total_buffer_size() for c in columns.values()) + attrs.get_total_buffer_size()
        with self._lock:
            if not self._readers:  # the last reader went away without saying so
                self._forget()
                return
            if size > self.max_bytes:
                return
            number, self._next = self._next, self._next + 1
            self._entries[number] = (key, attrs, dict(columns), size)
            self._by_key.setdefault(key, []).append(number)
            self._bytes += size
            while self._bytes > self.max_bytes:
                old, (old_key, _, _, old_size) = self._entries.popitem(last=False)
                self._bytes -= old_size
                same = self._by_key[old_key]
                same.remove(old)
                if not same:
                    del self._by_key[old_key]

    def _find(self, chunk: pa.Array) -> Mapping[str, pa.Array] | None:
        key = chunk_key(chunk)
        if key is None:
            return None
        with self._lock:
            candidates = [self._entries[n] for n in self._by_key.get(key, ())]
        for entry in reversed(candidates):  # the newest first: the likeliest
            if entry[1].equals(chunk):
                found: Mapping[str, pa.Array] = entry[2]
                return found
        return None

    def _split(self, chunk: pa.Array) -> list[Piece] | None:
        """`chunk` as kept chunks one after the other (a subscriber combined the bus's chunks into one): from the
        start, the next stretch of each row count kept whose text bytes and text match a kept chunk. None when some
        stretch matches none (any cover found is right: each piece's text is one its columns were packed into)."""
        offsets = _text_offsets(chunk)
        if offsets is None:
            return None
        with self._lock:  # a snapshot: the texts are compared outside the lock
            entries = {k: [self._entries[n] for n in numbers] for k, numbers in self._by_key.items()}
        rows = sorted({k[0] for k in entries}, reverse=True)
        out: list[Piece] = []
        at, n = 0, len(chunk)
        while at < n:
            found = None
            for length in rows:
                if at + length > n:
                    continue
                for entry in reversed(entries.get((length, int(offsets[at + length]) - int(offsets[at])), ())):
                    if entry[1].equals(chunk.slice(at, length)):
                        found = (length, entry[2])
                        break
                if found is not None:
                    break
            if found is None:
                return None
            out.append(found)
            at += found[0]
        return out

    def chunks(self, attrs: pa.ChunkedArray) -> list[Piece] | None:
        """The columns of `attrs`' lines as pieces in order (a key not in a piece's columns: none of its objects
        holds it): a chunk kept whole, or one made of kept chunks put together; None unless every line is covered."""
        out: list[Piece] = []
        for chunk in attrs.chunks:
            found = self._find(chunk)
            if found is not None:
                out.append((len(chunk), found))
                continue
            pieces = self._split(chunk) if len(chunk) else []
            if pieces is None:
                return None
            out.extend(pieces)
        return out

    def clear(self) -> None:
        """Forget every chunk (tests, benchmarks); the readers stay."""
        with self._lock:
            self._forget()

    def _forget(self) -> None:
        self._entries.clear()
        self._by_key.clear()
        self._bytes = 0

    @property
    def nbytes(self) -> int:
        """The bytes the chunks kept hold (their columns and texts)."""
        with self._lock:
            return self._bytes

    def __len__(self) -> int:
        with self._lock:
            return len(self._entries)


ATTR_COLUMNS = AttrColumns()
# Shared while more than one subscriber reads attributes (the rules engine and the log metrics, say).
SHARED_TEXTS = _SharedTexts(_SHARED_BATCHES, SHARED_MAX_BYTES, lambda: ATTR_COLUMNS.readers > 1)


def reads_attributes(filters: Iterable[RowFilter], fields: Iterable[str]) -> bool:
    """Whether a subscriber that evaluates `filters` and reads `fields` on stored batches reads any attribute (a
    field that is not a core column, or one a filter names): whether it should `want` `ATTR_COLUMNS`."""
    if any(attr_key(n) != n or n not in CORE_COLUMNS for n in fields):
        return True
    return any(not f.matches_all and f.extracted_condition_sql(LOG_SCHEMA)[1] for f in filters)


def decoded_texts(keys: Sequence[str], pieces: Sequence[Piece] | None) -> dict[str, pa.Array]:
    """The text of each key that ingest's decoded columns give for every line of a batch's `attrs` (its pieces,
    `AttrColumns.chunks`), as `json_extract_string` would read it from the JSON; keys they cannot give (lines not
    kept: `pieces` None; a type whose JSON spelling is not the cast's) are left out."""
    if pieces is None:
        return {}
    out: dict[str, pa.Array] = {}
    total = sum(rows for rows, _ in pieces)
    for key in keys:
        columns = [c.get(key) for _, c in pieces]
        types = {c.type for c in columns if c is not None}
        if len(types) == 1:  # one type in every piece: converted at once (each kernel call has its cost)
            kind = types.pop()
            whole = [pa.nulls(rows, kind) if c is None else c for (rows, _), c in zip(pieces, columns, strict=True)]
            text = _json_text(whole[0] if len(whole) == 1 else pa.concat_arrays(whole), total)
            if text is not None:
                out[key] = text
            continue
        parts = []
        for (rows, _), values in zip(pieces, columns, strict=True):
            text = _json_text(values, rows)
            if text is None:
                break
            parts.append(text)
        else:
            out[key] = parts[0] if len(parts) == 1 else pa.concat_arrays(parts)
    return out


_SAMPLE = 256  # values of a numeric column whose distinct count says whether to spell each distinct value once
_FEW = 64


def _json_text(values: pa.Array | None, n: int) -> pa.Array | None:
    """What `json_extract_string` reads from the JSON that model/attrs_json.py writes of `values` (None: absent
    from every object); None when that cannot be told without the JSON."""
    if values is None:
        return pa.nulls(n, pa.string())
    t = values.type
    if pa.types.is_string(t):
        return values
    if pa.types.is_large_string(t):
        return pc.cast(values, pa.string())
    if pa.types.is_boolean(t):
        return pc.if_else(values, "true", "false")
    if not (pa.types.is_integer(t) or pa.types.is_floating(t)):
        return None
    if len(values) > 2 * _SAMPLE and pc.count_distinct(values.slice(0, _SAMPLE)).as_py() <= _FEW:
        # Few distinct numbers (a status, a rounded duration): each spelled once, then taken per line.
        encoded = pc.dictionary_encode(values)
        text = _number_text(encoded.dictionary)
        return None if text is None else pc.take(text, encoded.indices)
    return _number_text(values)


def _number_text(values: pa.Array) -> pa.Array | None:
    """The JSON spelling of integers or doubles as `json_extract_string` reads it back (None: not the cast's)."""
    if pa.types.is_integer(values.type):
        return pc.cast(values, pa.string())
    # Written as the cast spells them (non-finite ones not at all); DuckDB reads back its own spelling, which
    # differs only for an exponent ("1e+20") and negative zero.
    numbers = values.to_numpy(zero_copy_only=False)
    with np.errstate(invalid="ignore"):
        if np.any(np.signbit(numbers) & (numbers == 0)):
            return None
        finite = np.isfinite(numbers)
    text = pc.cast(values, pa.string())
    if b"e" in memoryview(text.buffers()[2] or b"").tobytes():
        return None
    return text if finite.all() else pc.if_else(pa.array(finite), text, pa.scalar(None, pa.string()))


class BatchAttributes:
    """The attribute texts of one stored batch (core schema with `attrs`), each key parsed at most once per
    batch for every filter and field that reads it."""

    def __init__(self, table: pa.Table) -> None:
        self.table = table
        self._rows = _rows_key(table)
        self._texts: dict[str, pa.Array] = {}
        self._chunks: list[Piece] | Literal[False] | None = False  # False: not looked up yet

    def _decoded(self) -> list[Piece] | None:
        """Ingest's decoded columns of every line (`ATTR_COLUMNS`), looked up once per batch; None: not all kept."""
        if self._chunks is False:
            self._chunks = ATTR_COLUMNS.chunks(self.table.column("attrs"))
        return self._chunks

    def numbers(self, key: str) -> np.ndarray | None:
        """A numeric attribute's values as doubles (NaN where a line lacks it), read from ingest's decoded columns
        (`ATTR_COLUMNS`) without its text: the doubles a TRY_CAST of the text gives. None when they do not
        have it as numbers on every line (read the text then)."""
        if self._rows is None or key in self._texts:
            return None
        pieces = self._decoded()
        if pieces is None:
            return None
        parts = []
        for rows, columns in pieces:
            values = columns.get(key)
            if values is None:
                parts.append(np.full(rows, np.nan))
            elif pa.types.is_integer(values.type) or pa.types.is_floating(values.type):
                # Past 2**53 an integer rounds to the nearest double, as its text does when cast.
                parts.append(pc.cast(values, pa.float64(), safe=False).to_numpy(zero_copy_only=False))
            else:
                return None
        out = parts[0] if len(parts) == 1 else np.concatenate(parts)
        # Non-finite values are written as no value at all (model/attrs_json.py).
        with np.errstate(invalid="ignore"):
            finite = np.isfinite(out)
        if not finite.all():
            out = np.where(finite, out, np.nan)
        return out

    def decoded_text(self, key: str) -> pa.Array | None:
        """A key's text per line when it is found without a JSON parse: read before (by this batch or, for the
        same rows, another subscriber) or given by ingest's decoded columns; None otherwise."""
        self._read_without_json([key])
        return self._texts.get(key)

    def _read_without_json(self, keys: Sequence[str]) -> None:
        """Keep the texts of `keys` not read yet that are found without a JSON parse: read before for the same
        rows (`SHARED_TEXTS`), else from ingest's decoded columns (then shared)."""
        missing = [k for k in keys if k not in self._texts]
        if not missing or self._rows is None:
            return
        self._texts.update(SHARED_TEXTS.get(self._rows, missing))
        missing = [k for k in missing if k not in self._texts]
        if missing:
            decoded = decoded_texts(missing, self._decoded())
            if decoded:
                self._texts.update(decoded)
                SHARED_TEXTS.put(self._rows, self.table.column("attrs"), decoded)

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
        self._read_without_json(list(wanted))
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
