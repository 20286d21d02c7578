"""Kafka source: consume JSON or raw log lines from topics, commit offsets only once stored.

The settings are `config.sources.kafka` (importable without confluent-kafka). `decode` (a fetched batch →
record table, vectorized), `offsets` (which offsets may be committed across rebalances), `source` (the
consumer thread and the consume → store → commit loop), `sources` (a `type: kafka` entry → a source) and
`metrics` (every source's counters, read at scrape time). confluent-kafka is the optional extra
`logwarden[kafka]`; nothing here imports it until a source is built.
"""
