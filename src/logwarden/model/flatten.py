"""Nested record fields → dotted names: the one flattener of every decode path, with one duplicate-key rule.

`{"http": {"status": 200}}` becomes the field `http.status`. Two spellings of one dotted name can meet in a
record — `{"a": {"b": 1}, "a.b": 2}` — and the rule that picks between them must not depend on anything
but the record's own key structure, so the column-wise fast path (where column order is that of the whole
body, not of one record) and the record-by-record paths agree:

1. A value that is null (or absent) never wins over one that is not.
2. The spelling with fewer levels of nesting wins: the explicit dotted key beats the nested object
   (`"a.b": 2` above wins, like a literal key in Elasticsearch's `subobjects: false` or a Vector path).
3. At equal depth, the longer outer key wins, level by level (`{"a.b": {"c": 1}}` beats `{"a": {"b.c": 2}}`).

Two different spellings always differ in 2 or 3, so the rule is total. Empty objects carry nothing and
vanish; lists are values (never flattened). The same key twice in one object is the JSON parser's
business (orjson and most parsers keep the last).
"""

from __future__ import annotations

from typing import Any, TypeAlias

import pyarrow as pa
import pyarrow.compute as pc

from logwarden.model.attrs_json import json_values

# Sorts the spellings of one dotted name, winner first: (levels of nesting, longer outer keys first).
_Rank: TypeAlias = tuple[int, tuple[int, ...]]


def _rank(path: tuple[str, ...]) -> _Rank:
    return len(path), tuple(-len(key) for key in path)


def flatten_record(obj: dict[str, Any], prefix: str = "", out: dict[str, Any] | None = None) -> dict[str, Any]:
    """A decoded JSON object's leaves under dotted names (into `out`, returned), nulls left out; where two
    spellings meet, the module's rule picks the value. `prefix` goes before every name."""
    result: dict[str, Any] = {} if out is None else out
    ranks: dict[str, _Rank] = {}
    # An explicit stack rather than recursion: records may nest as deep as the decoders allow.
    stack: list[tuple[tuple[str, ...], dict[str, Any]]] = [((), obj)]
    while stack:
        path, node = stack.pop()
        for key, value in node.items():
            here = (*path, key)
            if isinstance(value, dict):
                stack.append((here, value))
            elif value is not None:
                name = prefix + ".".join(here)
                rank = _rank(here)
                if name not in ranks or rank < ranks[name]:
                    ranks[name] = rank
                    result[name] = value
    return result


def flatten_structs(table: pa.Table) -> pa.Table:
    """Struct columns flattened into dotted names (`http.status`), column-wise; where two spellings meet,
    the module's rule picks each row's value. Names keep the place of their first spelling."""
    if not any(pa.types.is_struct(f.type) for f in table.schema) and len(set(table.column_names)) == table.num_columns:
        return table
    spellings: dict[str, list[tuple[_Rank, pa.ChunkedArray]]] = {}
    stack: list[tuple[tuple[str, ...], pa.ChunkedArray]] = [
        ((name,), table.column(i)) for i, name in reversed(list(enumerate(table.column_names)))
    ]
    while stack:
        path, column = stack.pop()
        if pa.types.is_struct(column.type):
            # ChunkedArray.flatten folds the struct's own nulls into its children, as Table.flatten does.
            children = column.flatten()
            names = [column.type.field(i).name for i in range(column.type.num_fields)]
            stack.extend(((*path, name), child) for name, child in reversed(list(zip(names, children, strict=True))))
        else:
            spellings.setdefault(".".join(path), []).append((_rank(path), column))
    names = list(spellings)
    columns = [_pick(candidates) for candidates in spellings.values()]
    return pa.Table.from_arrays(columns, names=names)


def _pick(candidates: list[tuple[_Rank, pa.ChunkedArray]]) -> pa.ChunkedArray | pa.Array:
    """One column from the spellings of a name: per row, the first non-null value in rank order."""
    if len(candidates) == 1:
        return candidates[0][1]
    ordered = [column.combine_chunks() for _, column in sorted(candidates, key=lambda c: c[0])]
    types = {column.type for column in ordered if not pa.types.is_null(column.type)}
    if not types:
        return ordered[0]
    if len(types) == 1:
        (common,) = types
    elif all(pa.types.is_integer(t) or pa.types.is_floating(t) for t in types):
        common = pa.float64()
    else:
        # Values of different kinds under one name: text (JSON for non-strings), as in records_table.
        common = pa.string()
        ordered = [c if _is_text(c.type) else json_values(c) for c in ordered]
    return pc.coalesce(*(column.cast(common) for column in ordered))


def _is_text(t: pa.DataType) -> bool:
    return bool(pa.types.is_string(t) or pa.types.is_large_string(t))
