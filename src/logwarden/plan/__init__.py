"""The logical plan: what a query asks of the store, in terms every backend can compile.

`query/` parses the query language into these nodes; a backend (store/duckdb/ today, OpenSearch later)
compiles and runs them. The package sits beside both rather than in either so that neither imports the
other: the store never imports the query language, and the query language never imports a backend.

- `filter.py`: the row-filter tree (field references, terms, comparisons, boolean operators).
- `table.py`: aggregations (stats, top, rare, timechart) and the table pipes after them.
- `nodes.py`: the plan nodes (search, count, histogram, fields, aggregate, context, trace).
- `duckdb_filter.py` and `words.py`: the filter tree as a DuckDB expression, shared by the DuckDB store
  and the stream filter (live tail, pipeline conditions) so a line matches live exactly when it does stored.
- `errors.py`: the error a query the user has to fix raises, at parse, plan or compile time.
"""
