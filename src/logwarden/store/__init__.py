"""Log storage: the Store protocol, the embedded DuckDB hot store and the Parquet archive."""
