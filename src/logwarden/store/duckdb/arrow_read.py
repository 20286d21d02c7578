"""One SELECT's rows as an Arrow table, its statement bound once (every read path of the store uses it)."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

import duckdb
import pyarrow as pa

log = logging.getLogger(__name__)

# DuckDB 2's Python layer runs a statement once, straight to Arrow (see `fetch_arrow`); DuckDB 1.x has none. The
# private call is used while it works: dropped (for good) the first time it does not take our arguments.
_SUBMIT: list[Callable[..., Any]] = []
try:
    from duckdb._seam import submit as _seam_submit

    _SUBMIT.append(_seam_submit)
except ImportError:  # pragma: no cover - DuckDB 1.x
    pass


def fetch_arrow(cur: duckdb.DuckDBPyConnection, sql: str, params: dict[str, Any]) -> pa.Table:
    """One SELECT's rows as an Arrow table, the statement bound once.

    A relation (`cur.sql(...)`) binds the statement to describe it and again to run it (~0.7 ms per bind on a
    compiled aggregation, more with term regexes); `execute(...).to_arrow_table()` binds once but warns and reads
    the rows back through a second statement. DuckDB 2's `_seam.submit` is what a relation's `to_arrow_table` runs,
    without the describing bind; DuckDB 1.x has no such layer and takes the relation path.
    """
    if _SUBMIT:
        try:
            return _SUBMIT[0](cur, sql, params or None, "arrow").arrow_table()
        except (TypeError, AttributeError):  # a private call: if another DuckDB changed its shape, stop using it
            log.warning("duckdb._seam.submit has another shape in duckdb %s: binding twice", duckdb.__version__)
            _SUBMIT.clear()
    return cur.sql(sql, params=params).to_arrow_table()
