"""Arrival order: the `seq` column every stored row gets, so lines that share `ts` keep the order they came in.

`seq = (ingest-log batch seq << SEQ_ROW_BITS) + row index`: batch sequence numbers grow with every durable
batch, so the column grows with arrival order across batches and within one. It is computed where a batch
becomes durable and again, identically, when the ingest log is replayed, so the log need not hold it.
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa

from logwarden.model.schema import SEQ_COLUMN, SEQ_ROW_BITS

MAX_BATCH_ROWS = 1 << SEQ_ROW_BITS


def with_seq(batch_seq: int, table: pa.Table) -> pa.Table:
    """A core-schema table with its `seq` column (replaced if it has one)."""
    n = table.num_rows
    if n > MAX_BATCH_ROWS:
        raise ValueError(f"a batch of {n} rows exceeds {MAX_BATCH_ROWS}, the rows one seq block numbers")
    if SEQ_COLUMN in table.column_names:
        table = table.drop_columns([SEQ_COLUMN])
    first = batch_seq << SEQ_ROW_BITS
    # first + 0, first + 1, …: one numpy range, handed to Arrow without a copy.
    seqs = pa.array(np.arange(first, first + n, dtype=np.int64))
    return table.append_column(pa.field(SEQ_COLUMN, pa.int64()), seqs)


def split_rows(table: pa.Table, rows: int = MAX_BATCH_ROWS) -> list[pa.Table]:
    """A table cut into slices of at most `rows` rows (each becomes its own batch with its own seq block)."""
    if table.num_rows <= rows:
        return [table]
    return [table.slice(start, rows) for start in range(0, table.num_rows, rows)]
