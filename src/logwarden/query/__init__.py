"""The search language: grammar and parser → AST → planner → DuckDB SQL (sqlglot) → engine; stream filters.

See docs/query.md. `sql.py` (read-only SQL) and `tail.py` (live tail) build on the same store snapshot.
"""
