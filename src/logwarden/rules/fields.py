"""Field values of stored lines for rules: core columns as they are, anything else from the `attrs` JSON.

One DuckDB query per batch extracts every attribute a rule groups by (vectorized `json_extract_string`), on the
thread's scratch connection; core columns are taken straight from the Arrow table.
"""

from __future__ import annotations

from collections.abc import Sequence

import pyarrow as pa
import pyarrow.compute as pc

from logwarden.model.schema import CORE_COLUMNS
from logwarden.model.scratch_db import thread_scratch_connection
from logwarden.plan.duckdb_filter import attr_path

_TABLE = "__lw_rule_fields"


def _attr_key(name: str) -> str:
    return name[len("attrs.") :] if name.startswith("attrs.") else name


def field_values(table: pa.Table, names: Sequence[str]) -> dict[str, pa.Array]:
    """Each named field as a string array, one value per row (null where a line lacks it)."""
    out: dict[str, pa.Array] = {}
    wanted: list[str] = []
    for name in names:
        if name in CORE_COLUMNS and name in table.column_names:
            col = pc.cast(table.column(name), pa.string())
            out[name] = col.combine_chunks() if isinstance(col, pa.ChunkedArray) else col
        else:
            wanted.append(name)
    if not wanted:
        return out
    if table.num_rows == 0 or "attrs" not in table.column_names:
        for name in wanted:
            out[name] = pa.nulls(table.num_rows, pa.string())
        return out
    con = thread_scratch_connection()
    selects = ", ".join(f"json_extract_string(attrs, ?) AS c{i}" for i in range(len(wanted)))
    params = [attr_path(_attr_key(name)) for name in wanted]
    con.register(_TABLE, table.select(["attrs"]))
    try:
        result = con.sql(f"SELECT {selects} FROM {_TABLE}", params=params).to_arrow_table()
    finally:
        con.unregister(_TABLE)
    for i, name in enumerate(wanted):
        out[name] = result.column(f"c{i}").combine_chunks()
    return out
