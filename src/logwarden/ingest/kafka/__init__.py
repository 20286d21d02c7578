"""Kafka source: consume JSON or raw log lines from topics, commit offsets only once stored.

`config` (the settings, importable without confluent-kafka), `decode` (a fetched batch → record
table, vectorized), `offsets` (which offsets may be committed across rebalances) and `source` (the
consumer thread and the consume → store → commit loop). confluent-kafka is the optional extra
`logwarden[kafka]`; nothing here imports it until a source is built.
"""
