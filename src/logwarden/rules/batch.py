"""The per-batch work rules share (`BatchCache`): every filter the rules use evaluated once per batch, every field
they group or aggregate by read once, matched lines kept lean (their row in the batch), and the evidence lines
each batch offers (`EvidenceLines`). rules/base.py builds the evaluators on it."""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterable, Sequence
from datetime import datetime
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from logwarden.model.schema import CORE_COLUMNS, SEQ_COLUMN
from logwarden.query.batch_attrs import BatchAttributes, attr_key
from logwarden.query.filter import RowFilter
from logwarden.rules.fields import field_values
from logwarden.rules.windows import encode_keys, group_keys

SEP = "\x1f"  # joins a group's label values into one key (rules/windows.py: group_keys)
EVIDENCE_COLUMNS = ("log_id", "ts", "service", "host", "level", "message")


ROW_COLUMN = "\x1frow"  # a lean matched line's row in its batch (BatchCache)
# The columns lean matched lines keep: what rule types read of each matched line themselves (the rest —
# group keys, fields, evidence — comes from the batch through the cache, by mask or by row).
_LEAN_COLUMNS = ("ts", SEQ_COLUMN, "service")
_BATCHES = itertools.count(1)
_Sampled = tuple["EvidenceLines", list[str]]  # the sample lines, the groups seen
_Grouped = tuple[list[str], list[int], list[int]]  # keys, whole seconds, line counts


class EvidenceLines:
    """One batch's evidence candidates for a query and grouping (shared by the rules that keep them): a group key
    per line, and the lines' evidence columns — read into Python rows by group once, when an alert first picks
    from them (not per pick, nor per batch)."""

    __slots__ = ("_by_key", "keys", "lines")

    def __init__(self, keys: pa.Array, lines: pa.Table) -> None:
        self.keys = keys
        self.lines = lines
        self._by_key: dict[str, list[dict[str, Any]]] | None = None

    @property
    def num_rows(self) -> int:
        return int(self.lines.num_rows)

    def of(self, key: str) -> list[dict[str, Any]]:
        """The group's lines as evidence rows (JSON-able), in arrival order."""
        if self._by_key is None:
            by_key: dict[str, list[dict[str, Any]]] = {}
            columns = [c for c in self.lines.column_names if c in EVIDENCE_COLUMNS]
            rows = self.lines.select(columns).to_pylist()
            for group, row in zip(self.keys.to_pylist(), rows, strict=True):
                by_key.setdefault(group, []).append({k: plain(v) for k, v in row.items()})
            self._by_key = by_key
        return self._by_key.get(key, [])


class BatchCache:
    """Work rules share on one batch: the lines each distinct query matches, and their group keys.

    `lean` (the engine's): a query's matched lines carry the batch's small columns only (no message, attrs, ids),
    with `ROW_COLUMN`, each line's row in the batch; whatever a rule keeps of a line beyond them (evidence, the
    text a step filter reads) comes from the batch by that row. Without it, matched lines have every column."""

    def __init__(self, table: pa.Table, *, lean: bool = False) -> None:
        self.table = table
        self.serial = next(_BATCHES)  # tells this batch from every other (a shared window takes it once)
        self.view = table
        if lean:
            self.view = table.select([c for c in _LEAN_COLUMNS if c in table.column_names]).append_column(
                ROW_COLUMN, pa.array(np.arange(table.num_rows, dtype=np.int64))
            )
        self._samples: dict[tuple[str, tuple[str, ...], int], _Sampled] = {}
        self._matched: dict[str, pa.Table] = {}
        self._keys: dict[tuple[str, tuple[str, ...]], pa.Array] = {}
        self._seconds: dict[tuple[str, tuple[str, ...]], _Grouped] = {}
        self._fields: dict[tuple[str, str], pa.Array] = {}
        self._all_fields: dict[str, pa.Array] = {}  # a field of every line of the batch
        self._masks: dict[str, pa.Array] = {}
        self._shared: dict[str, object] = {}  # work filters share on this table (query/filter.py)
        self._newest: int | bool | None = False  # not computed yet
        self._second_codes: dict[tuple[str, tuple[str, ...]], tuple[list[str], np.ndarray, np.ndarray, np.ndarray]] = {}
        self._all_keys: dict[tuple[str, ...], pa.Array] = {}  # every line's group key, per group_by
        self._all_codes: dict[tuple[str, ...], tuple[list[str], np.ndarray]] = {}  # the same, encoded
        self._field_code: dict[str, tuple[list[str], np.ndarray]] = {}  # a field's values, encoded
        self._np_masks: dict[str, np.ndarray] = {}
        self._all_seconds: np.ndarray | None = None
        self._attrs = BatchAttributes(table)  # attribute texts, parsed once (shared with the log metrics)

    def newest_us(self) -> int | None:
        """The batch's newest event time (µs), once for every rule."""
        if self._newest is False:
            self._newest = int(pc.max(self.table.column("ts")).value) if self.table.num_rows else None
        return self._newest

    def prepare(self, filters: Iterable[RowFilter], fields: Iterable[str]) -> None:
        """Evaluate every filter the rules use, and read every field they group or aggregate by, for the whole
        batch at once: filters pyarrow can evaluate one by one (sharing the lowered message text), and the rest
        together with every attribute field in a single DuckDB pass over the batch (one JSON parse per line,
        not one per filter and field)."""
        pending: list[RowFilter] = []
        for f in filters:
            if f.text in self._masks:
                continue
            bits = f.arrow_mask(self.table, self._shared, self._attrs)
            if bits is None:
                pending.append(f)
            else:
                self._masks[f.text] = bits
        attrs = [
            n
            for n in dict.fromkeys(fields)
            if n not in self._all_fields and not (n in CORE_COLUMNS and n in self.table.column_names)
        ]
        if self.table.num_rows == 0 or (not pending and not attrs) or "attrs" not in self.table.column_names:
            return
        # Every attribute any of them reads is extracted in one JSON parse per line (query/batch_attrs.py: shared
        # with the log metrics), then read by name.
        masks = self._attrs.evaluate(pending, [attr_key(n) for n in attrs])
        for f, bits in zip(pending, masks, strict=True):
            self._masks[f.text] = bits
        self._all_fields.update(self._attr_texts(attrs))

    def _attr_texts(self, names: Sequence[str]) -> dict[str, pa.Array]:
        """Fields of every line of the batch: core columns as text, attributes from the shared JSON parse."""
        out: dict[str, pa.Array] = {}
        attrs = []
        for n in names:
            if n in CORE_COLUMNS and n in self.table.column_names:
                out.update(field_values(self.table, [n]))
            else:
                attrs.append(n)
        if attrs:
            texts = self._attrs.texts([attr_key(n) for n in attrs])
            out.update({n: texts[attr_key(n)] for n in attrs})
        return out

    def matched(self, query: str, mask: Callable[[pa.Table], pa.Array]) -> pa.Table:
        """The lines `query` matches (`mask` evaluates it on the batch unless `prepare` did), once per query."""
        found = self._matched.get(query)
        if found is None:
            bits = self._bits(query, mask)
            # Every line: the batch itself, not a copy of it.
            found = self._matched[query] = self.view if bits.false_count == 0 else self.view.filter(bits)
        return found

    def _bits(self, query: str, mask: Callable[[pa.Table], pa.Array]) -> pa.BooleanArray:
        bits = self._masks.get(query)
        if bits is None:
            bits = self._masks[query] = mask(self.table)
        if isinstance(bits, pa.ChunkedArray):
            bits = self._masks[query] = bits.combine_chunks()
        if bits.null_count:
            bits = self._masks[query] = pc.fill_null(bits, False)
        return bits

    def mask_within(self, query: str, inner: RowFilter) -> pa.BooleanArray:
        """`inner`'s mask over the lines `query` matches (aligned with `matched(query)`), from its mask over the
        batch: a filter of lines already selected reads no column of theirs."""
        bits = self._masks[query]
        full = self._bits(inner.text, lambda t: inner.mask(t, self._shared))
        return full if bits.false_count == 0 else full.filter(bits)

    def rows(self, lines: pa.Table) -> pa.Array | None:
        """The batch rows of lines taken from `matched` tables (None: not a lean cache's lines)."""
        return lines.column(ROW_COLUMN) if ROW_COLUMN in lines.column_names else None

    def lines_at(self, lines: pa.Table, columns: Sequence[str]) -> pa.Table:
        """`columns` of `lines` (those the batch has), taken from the batch when `lines` are lean."""
        rows = self.rows(lines)
        source = lines if rows is None else self.table
        picked = source.select([c for c in columns if c in source.column_names])
        return picked if rows is None else picked.take(rows)

    def samples(
        self, query: str | None, names: Sequence[str], keys: pa.Array | None, lines: pa.Table, n: int
    ) -> _Sampled:
        """Evidence candidates: of each group's lines (`keys` aligned with `lines`), the last `n` (the newest in
        arrival order; the evidence columns only), and the groups seen. Shared by the rules of one query and
        group_by that keep all their matched lines (`query`; None: not shared)."""
        cache_key = (query, tuple(names), n) if query is not None else None
        found = self._samples.get(cache_key) if cache_key is not None else None
        if found is not None:
            return found
        if query is not None and self._own_bits(query, lines) is not None:
            all_groups, codes = self._codes(query, lines, names, keys)
            present = np.flatnonzero(np.bincount(codes, minlength=len(all_groups)))
            groups = [all_groups[c] for c in present.tolist()]
        else:
            assert keys is not None, "lines that are not a query's matched lines come with their keys"
            all_groups, codes = encode_keys(keys)
            groups = all_groups
        picked: np.ndarray | None = None
        m = len(codes)
        if n <= 0:
            picked = np.zeros(0, dtype=np.int64)
        elif m > n and m > len(groups):
            # The rank of each line among its group's lines, counted from the newest: keep ranks below n.
            backwards = codes[::-1]
            if len(all_groups) <= 1 << 16:
                backwards = backwards.astype(np.uint16)  # a stable sort of 16-bit values is a radix sort
            order = np.argsort(backwards, kind="stable")
            ordered = backwards[order]
            starts = np.zeros(m, dtype=np.int64)
            changed = np.flatnonzero(ordered[1:] != ordered[:-1]) + 1
            starts[changed] = changed
            rank = np.arange(m) - np.maximum.accumulate(starts)
            picked = np.sort(m - 1 - order[rank < n])
        if ROW_COLUMN in lines.column_names:
            lines = lines.select([ROW_COLUMN])  # the evidence columns come from the batch, by row
        if picked is None:
            picked = np.arange(m)
        index = pa.array(picked, pa.int64())
        sample_lines = lines.take(index)
        # The picked lines' keys from their codes: no key text per matched line is needed.
        sample_keys = pa.array(all_groups, pa.string()).take(pa.array(codes[picked]))
        found = (EvidenceLines(sample_keys, self.lines_at(sample_lines, EVIDENCE_COLUMNS)), groups)
        if cache_key is not None:
            self._samples[cache_key] = found
        return found

    def values_at(self, query: str | None, lines: pa.Table, names: Sequence[str]) -> dict[str, pa.Array]:
        """The named fields of `lines` as strings: `query`'s matched lines' (shared), or of any lines of the
        batch (lean ones by their rows; others read from their own columns)."""
        if query is not None:
            return self.fields(query, lines, names)
        rows = self.rows(lines)
        if rows is None:
            return field_values(lines, names)
        unseen = [n for n in names if n not in self._all_fields]
        if unseen:
            self._all_fields.update(self._attr_texts(unseen))
        return {n: self._all_fields[n].take(rows) for n in names}

    def seconds(self, query: str, matched: pa.Table, names: Sequence[str], keys: pa.Array) -> _Grouped:
        """(keys, whole seconds, counts) of the matched lines grouped by key and second, once per query/group_by."""
        cache_key = (query, tuple(names))
        found = self._seconds.get(cache_key)
        if found is None:
            groups, codes, secs, counts = self.second_codes(query, matched, names, keys)
            found = self._seconds[cache_key] = ([groups[c] for c in codes.tolist()], secs.tolist(), counts.tolist())
        return found

    def second_counts(
        self, query: str, matched: pa.Table, names: Sequence[str], keys: pa.Array
    ) -> tuple[pa.Array, np.ndarray, np.ndarray]:
        """Like `seconds`, as arrays (keys, whole seconds, counts), once per query/group_by."""
        groups, codes, secs, counts = self.second_codes(query, matched, names, keys)
        return pa.array(groups, pa.string()).take(pa.array(codes)), secs, counts

    def second_codes(
        self, query: str, matched: pa.Table, names: Sequence[str], keys: pa.Array | None
    ) -> tuple[list[str], np.ndarray, np.ndarray, np.ndarray]:
        """The matched lines grouped by key and whole second: (distinct keys, then per (key, second): the key's
        index in them, the second, the lines) — what a `CountWindow` takes (`add_second_codes`), once per
        query/group_by. Integer work on the batch's key codes (`_codes`), not a group-by of text."""
        cache_key = (query, tuple(names))
        found = self._second_codes.get(cache_key)
        if found is None:
            groups, codes = self._codes(query, matched, names, keys)
            secs = self._seconds_of(query, matched)
            if len(codes) == 0:
                empty = np.zeros(0, dtype=np.int64)
                found = (groups, empty, empty, empty)
            else:
                low = int(secs.min())
                span = int(secs.max()) - low + 1
                combined = codes * span + (secs - low)
                cells = len(groups) * span
                if cells <= max(4 * len(codes), 1 << 16):  # a count per (key, second) cell: no sort
                    every = np.bincount(combined, minlength=cells)
                    pairs = np.flatnonzero(every)
                    counts = every[pairs]
                else:  # seconds far apart: sort the pairs instead
                    pairs, counts = np.unique(combined, return_counts=True)
                found = (groups, pairs // span, pairs % span + low, counts.astype(np.int64))
            self._second_codes[cache_key] = found
        return found

    def _codes(
        self, query: str, matched: pa.Table, names: Sequence[str], keys: pa.Array
    ) -> tuple[list[str], np.ndarray]:
        """The matched lines' group keys as (distinct keys, each line's index in them): the batch's codes for
        `names` (encoded once for every query) where the lines are `query`'s, else `keys` encoded."""
        bits = self._own_bits(query, matched)
        if bits is None:
            return encode_keys(keys)
        groups, codes = self._names_codes(names)
        return groups, codes if bits is True else codes[bits]

    def _names_codes(self, names: Sequence[str]) -> tuple[list[str], np.ndarray]:
        """Every line's group key for `names` as (distinct keys, each line's index in them), once per batch: each
        field's values are encoded once (shared by every grouping that uses it) and combined as integers; key
        text is built per distinct key only."""
        key = tuple(names)
        found = self._all_codes.get(key)
        if found is not None:
            return found
        codes = np.zeros(self.table.num_rows, dtype=np.int64)
        values: list[list[str]] = []
        size = 1
        for name in names:
            distinct, field_codes = self._field_codes(name)
            if size * max(len(distinct), 1) >= 1 << 62:  # too many combinations for one integer: encode the text
                found = self._all_codes[key] = encode_keys(self._names_keys(names))
                return found
            codes = codes * max(len(distinct), 1) + field_codes
            size *= max(len(distinct), 1)
            values.append(distinct)
        if size <= max(4 * len(codes), 1 << 16):
            used = np.flatnonzero(np.bincount(codes, minlength=size))
            index = np.zeros(size, dtype=np.int64)
            index[used] = np.arange(len(used))
            codes = index[codes]
        else:
            used, codes = np.unique(codes, return_inverse=True)
        groups = []
        for combined in used.tolist():
            parts = []
            rest = combined
            for distinct in reversed(values):
                rest, at = divmod(rest, max(len(distinct), 1))
                parts.append(distinct[at] if distinct else "")
            groups.append(SEP.join(reversed(parts)))
        found = self._all_codes[key] = (groups, codes)
        return found

    def _field_codes(self, name: str) -> tuple[list[str], np.ndarray]:
        """A field's text on every line (missing: "") as (distinct values, each line's index in them)."""
        found = self._field_code.get(name)
        if found is None:
            if name not in self._all_fields:
                self._all_fields.update(self._attr_texts([name]))
            found = self._field_code[name] = encode_keys(pc.fill_null(self._all_fields[name], ""))
        return found

    def _names_keys(self, names: Sequence[str]) -> pa.Array:
        """Every line's group key for `names` as text, once per batch (each query takes its lines' from them)."""
        key = tuple(names)
        found = self._all_keys.get(key)
        if found is None:
            coded = self._all_codes.get(key)
            if coded is not None:  # the text of each distinct key, taken per line
                found = pa.array(coded[0], pa.string()).take(pa.array(coded[1]))
            else:
                unseen = [n for n in names if n not in self._all_fields]
                if unseen:
                    self._all_fields.update(self._attr_texts(unseen))
                found = group_keys(pa.table({n: self._all_fields[n] for n in names}), names)
            self._all_keys[key] = found
        return found

    def _own_bits(self, query: str, matched: pa.Table) -> np.ndarray | bool | None:
        """How `matched` (aligned with `query`'s matched lines) sits in the batch: True for every line, a numpy
        mask, or None when `matched` is not this cache's lines of `query`."""
        if self._matched.get(query) is not matched:
            return None
        bits = self._masks[query]
        if bits.false_count == 0:
            return True
        found = self._np_masks.get(query)
        if found is None:
            found = self._np_masks[query] = bits.to_numpy(zero_copy_only=False)
        return found

    def _seconds_of(self, query: str, matched: pa.Table) -> np.ndarray:
        """The matched lines' whole seconds since 1970 (truncated, as Arrow divides)."""
        if self._all_seconds is None:
            self._all_seconds = pc.divide(pc.cast(self.table.column("ts"), pa.int64()), 1_000_000).to_numpy()
        bits = self._own_bits(query, matched)
        if bits is None:
            found: np.ndarray = pc.divide(pc.cast(matched.column("ts"), pa.int64()), 1_000_000).to_numpy()
            return found
        return self._all_seconds if bits is True else self._all_seconds[bits]

    def keys(self, query: str, matched: pa.Table, names: Sequence[str]) -> pa.Array:
        """One group key per matched line (rules/windows.py: group_keys), once per query/group_by."""
        key = (query, tuple(names))
        found = self._keys.get(key)
        if found is None:
            bits = self._own_bits(query, matched)
            if bits is None:
                values = self.fields(query, matched, names)
                found = group_keys(pa.table({n: values[n] for n in names}), names)
            else:
                self._names_codes(names)
                every = self._names_keys(names)
                found = every if bits is True else every.filter(self._masks[query])
            self._keys[key] = found
        return found

    def fields(self, query: str, matched: pa.Table, names: Sequence[str]) -> dict[str, pa.Array]:
        """The named fields of the matched lines as strings (rules/fields.py), once per query and field.

        Attributes are extracted once per batch for every line (one DuckDB pass per set of new names, shared by
        every query) and then filtered by each query's mask."""
        missing = [n for n in names if (query, n) not in self._fields]
        if missing:
            unseen = [n for n in missing if n not in self._all_fields]
            if unseen:
                self._all_fields.update(self._attr_texts(unseen))
            bits = self._masks.get(query)
            for n in missing:
                full = self._all_fields[n]
                if matched.num_rows == self.table.num_rows:
                    self._fields[(query, n)] = full
                elif bits is not None:
                    self._fields[(query, n)] = full.filter(bits)
                else:  # lines this cache did not select: extract from them directly
                    self._fields[(query, n)] = field_values(matched, [n])[n]
        return {n: self._fields[(query, n)] for n in names}


def plain(value: Any) -> Any:
    """A JSON-able value (timestamps as ISO text) for evidence kept in checkpoints."""
    return value.isoformat() if isinstance(value, datetime) else value
