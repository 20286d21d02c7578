"""The search language: grammar and parser → AST → logical plan (logwarden.plan) → `store.execute`; stream filters.

See docs/query.md. The DuckDB backend compiles plans (store/duckdb/plan_sql.py) and owns read-only SQL
(store/duckdb/sql*.py); `tail.py` is the live tail.
"""
