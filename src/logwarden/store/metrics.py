"""Metrics of the store: ingest-log commits, applies to the hot store, its size and maintenance."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

_COMMIT_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)


class StoreMetrics:
    """Registered on the registry passed in; `observe_commit` / `observe_apply` are the store's callbacks."""

    def __init__(self, registry: CollectorRegistry) -> None:
        r = registry
        self.commit_seconds = Histogram(
            "logwarden_batch_commit_seconds",
            "Duration of one group commit (write + fdatasync) to the ingest log; requests are acknowledged after it.",
            buckets=_COMMIT_BUCKETS,
            registry=r,
        )
        self.commit_rows = Histogram(
            "logwarden_batch_commit_rows",
            "Rows written by one group commit.",
            buckets=(10, 100, 1000, 10_000, 50_000, 100_000, 500_000),
            registry=r,
        )
        self.apply_seconds = Histogram(
            "logwarden_store_apply_seconds",
            "Duration of one transaction moving acknowledged batches into the DuckDB hot store.",
            buckets=_COMMIT_BUCKETS,
            registry=r,
        )
        self.apply_rows = Histogram(
            "logwarden_store_apply_rows",
            "Rows moved into the hot store by one transaction.",
            buckets=(100, 1000, 10_000, 100_000, 250_000, 500_000, 1_000_000),
            registry=r,
        )
        self.unapplied_bytes = Gauge(
            "logwarden_store_unapplied_bytes",
            "Bytes of acknowledged batches (durable in the ingest log) not yet written to DuckDB.",
            registry=r,
        )
        self.quarantined_lines = Gauge(
            "logwarden_quarantined_lines",
            "Acknowledged lines the hot store could not take, set aside in <data_dir>/quarantine (each one is "
            "also a source:dead_letter line saying why).",
            registry=r,
        )
        self.store_size = Gauge(
            "logwarden_store_size_bytes", "Bytes on disk of the hot store and the local archive.", registry=r
        )
        self.partitions = Gauge(
            "logwarden_store_partitions", "Day partitions, by tier (hot or archive).", ["tier"], registry=r
        )
        self.maintenance_runs = Counter(
            "logwarden_maintenance_runs", "Retention/archive passes, by outcome.", ["outcome"], registry=r
        )

    def observe_commit(self, seconds: float, rows: int) -> None:
        """One group commit to the ingest log."""
        self.commit_seconds.observe(seconds)
        self.commit_rows.observe(rows)

    def observe_apply(self, seconds: float, rows: int) -> None:
        """One transaction into the hot store."""
        self.apply_seconds.observe(seconds)
        self.apply_rows.observe(rows)
