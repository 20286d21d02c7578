"""The Unicode word-boundary test as a DuckDB function, so a query does not compile its Unicode pattern per table.

DuckDB compiles a constant regex pattern when it binds each table scan: a term's `\\pL\\pM\\pN` boundary pattern
cost ~7 ms of CPU per day table in a union (plan/words.py). Terms test pure-ASCII messages with ASCII classes
(compiled in well under a millisecond) and pass the rest — lines with non-ASCII text that the substring
prefilter let through — to `lw_unicode_match(lowered_message, pattern)`: Arrow's RE2 (the engine DuckDB uses)
over that batch only, so a query whose candidate lines are all ASCII never compiles the Unicode pattern.
"""

from __future__ import annotations

import duckdb
import pyarrow as pa
import pyarrow.compute as pc
from duckdb.func import ARROW
from duckdb.sqltypes import BOOLEAN, VARCHAR

from logwarden.plan.duckdb_filter import UNICODE_MATCH_UDF


def _unicode_match(messages: pa.Array, patterns: pa.Array) -> pa.Array:
    """Whether each lowered message matches the (constant) RE2 pattern."""
    if len(messages) == 0:
        return pa.array([], pa.bool_())
    return pc.match_substring_regex(messages, patterns[0].as_py())


def register(db: duckdb.DuckDBPyConnection) -> None:
    """Make `lw_unicode_match` callable by every cursor of `db` (the store's connection)."""
    db.create_function(UNICODE_MATCH_UDF, _unicode_match, [VARCHAR, VARCHAR], BOOLEAN, type=ARROW)
