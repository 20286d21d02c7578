"""Regenerate `sql_functions.py`, the allow-list of functions user SQL may call, from DuckDB's catalog.

Run `python -m logwarden.store.duckdb.sql_functions_gen > src/logwarden/store/duckdb/sql_functions.py` after a DuckDB
upgrade, then review the diff: the list is committed so that whatever a new DuckDB adds stays refused
until a person has looked at it. Only functions over values are kept; anything that reads files, the
catalog, settings, the environment, sequences, query plans or SQL text is left out by the rules below.
"""

from __future__ import annotations

import re
import sys

import duckdb

# Kinds of functions that only compute from their arguments (macros are SQL over other functions).
_KINDS = ("scalar", "aggregate", "window", "macro")
# Table functions: rows from values only.
TABLE_FUNCTIONS = ("range", "generate_series", "unnest")
_DENIED_PATTERN = re.compile(
    r"^(?:read_|parquet_|duckdb_|pragma_|pg_|has_|inet_|icu_|enum_|__|"  # files, catalog, privileges, internals
    r"json_serialize|json_deserialize|json_execute|"  # SQL text and plans
    r"current_(?!date$|time$|timestamp$|localtime$|localtimestamp$))"  # session and catalog, not the clock
)
_DENIED = frozenset(
    {
        "getenv",
        "getvariable",
        "current_setting",
        "nextval",
        "currval",
        "setval",
        "setseed",
        "write_log",
        "glob",
        "query",
        "query_table",
        "sniff_csv",
        "which_secret",
        "col_description",
        "obj_description",
        "shobj_description",
        "format_pg_type",
        "format_type",
        "map_to_pg_oid",
        "map_type_id_to_pg_oid",
        "in_search_path",
        "txid_current",
        "user",
        "session_user",
        "version",
        "platform",
        "user_agent",
        "get_block_size",
        "stats",  # the planner's statistics of an expression
        "checkpoint",
        "force_checkpoint",
        "make_type",
        "sleep_ms",  # holds a worker without computing anything
    }
)


def allowed(name: str) -> bool:
    """Whether a function of one of the pure kinds may be called by user SQL."""
    return name not in _DENIED and not _DENIED_PATTERN.match(name)


def generate() -> str:
    """The text of sql_functions.py for the DuckDB installed here."""
    con = duckdb.connect(":memory:")
    rows = con.execute(
        "SELECT DISTINCT lower(function_name) FROM duckdb_functions() "
        "WHERE function_type IN (SELECT unnest($kinds)) AND schema_name = 'main' ORDER BY 1",
        {"kinds": list(_KINDS)},
    ).fetchall()
    names = [str(name) for (name,) in rows if allowed(str(name))]
    body = "".join(f"        {_quoted(name)},\n" for name in names)
    tables = "".join(f"        {_quoted(name)},\n" for name in TABLE_FUNCTIONS)
    return (
        f'"""Functions user SQL may call: from DuckDB {duckdb.__version__} by sql_functions_gen.py, then reviewed.\n\n'
        "Anything not listed (a function a newer DuckDB adds, a file reader, a catalog or settings function) is\n"
        'refused. Regenerate with `python -m logwarden.store.duckdb.sql_functions_gen` and review the diff."""\n\n'
        "from __future__ import annotations\n\n"
        "# Scalar, aggregate, window functions and macros over values (operators such as + and ~~ included).\n"
        f"ALLOWED_FUNCTIONS = frozenset(\n    {{\n{body}    }}\n)\n\n"
        "# Table functions that generate rows from values.\n"
        f"ALLOWED_TABLE_FUNCTIONS = frozenset(\n    {{\n{tables}    }}\n)\n"
    )


def _quoted(name: str) -> str:
    """A Python string literal in double quotes, as ruff format writes it."""
    return '"' + name.replace("\\", "\\\\").replace('"', '\\"') + '"'


if __name__ == "__main__":
    sys.stdout.write(generate())
