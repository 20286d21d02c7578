"""Configuration models. Each field's docstring is its reference documentation (docs/config.md).

`config` depends on nothing that runs (no `ingest`, `api`, `store` imports): the components build
themselves from these shapes. Source settings live in `config.sources`.
"""

from __future__ import annotations

import re
from datetime import timedelta
from pathlib import Path

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    PrivateAttr,
    SecretStr,
    ValidationInfo,
    field_validator,
    model_validator,
)

from logwarden.alerting.config import AlertingConfig
from logwarden.config.bus import BusConfig
from logwarden.config.limits import LimitsConfig
from logwarden.config.logmetrics import MetricDefinition, RemoteWriteConfig, check_unique
from logwarden.config.security import AuthConfig, TlsConfig
from logwarden.config.sources import (
    KafkaConfig,
    SourceSpec,
    SyslogConfig,
    check_unique_source_names,
    legacy_sources,
    named_sources,
)
from logwarden.model.tenants import check_tenant
from logwarden.model.units import ByteSize, Duration
from logwarden.pipeline.config import PipelineConfig, check_unique_names

# Kept for callers not yet on `model.tenants.check_tenant` (api.runtime, store.duckdb.partitions).


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", use_attribute_docstrings=True)


class HttpConfig(_Frozen):
    host: str = "127.0.0.1"
    """Address the HTTP API binds to. Loopback by default; use 0.0.0.0 to accept remote clients."""
    port: int = Field(8080, ge=0, le=65535)
    """TCP port of the HTTP API (0 picks a free port)."""
    header_timeout: Duration = Field(timedelta(seconds=10), gt=timedelta(0))
    """Time a client has to send a request's headers, from the connection (or the end of the previous
    response) until the headers are complete; past it the connection is closed (408 if part of a request came)."""
    body_timeout: Duration = Field(timedelta(seconds=30), gt=timedelta(0))
    """Longest pause between two pieces of a request body; past it the connection is closed (408 if no
    response has started). A pause the server causes itself (the app is busy) does not count."""
    keep_alive_timeout: Duration = Field(timedelta(seconds=5), ge=timedelta(seconds=1))
    """How long an idle keep-alive connection stays open waiting for the next request."""
    max_connections: int = Field(4096, ge=1)
    """Most open HTTP connections; further connections get 503 with Retry-After and are closed. The server
    raises its open files limit to the hard limit at start and warns when that is below this plus 256."""
    tls: TlsConfig = TlsConfig()
    """HTTPS and client certificates (docs/security.md)."""


class IngestConfig(_Frozen):
    max_body_bytes: ByteSize = 16 * 1024**2
    """Largest request body accepted as sent (compressed or not); larger requests get 413."""
    max_decompressed_bytes: ByteSize = 128 * 1024**2
    """Largest body after gzip/zstd decompression; larger bodies get 413 (guards against zip bombs)."""
    max_line_bytes: ByteSize = 1024**2
    """Longest single line (record) accepted, NDJSON line or JSON-array element; a body containing a longer
    line gets 413."""
    max_json_depth: int = Field(64, ge=1, le=512)
    """Deepest nesting of objects and arrays in one line (record); a deeper line goes to the dead letter
    (the rest of the body is stored), and a Loki or OTLP JSON body nested deeper gets 400. 64 is far above
    real logs (Elasticsearch's mapping depth limit is 20) and far below what recursive decoders survive."""
    max_inflight_bytes: ByteSize = 256 * 1024**2
    """Memory budget for requests being decoded or waiting for their commit; beyond it, 429."""
    retry_after_seconds: int = Field(1, ge=1)
    """Value of the Retry-After header sent with 429 responses."""
    default_tenant: str = "default"
    """Tenant used when a request names none (header X-Scope-OrgID)."""
    decode_threads: int = Field(2, ge=1, le=64)
    """Threads that decode and normalize request bodies (pyarrow and polars release the GIL)."""
    future_grace: Duration = timedelta(hours=2)
    """How far ahead of the time it is received a line's timestamp may be (like Loki's creation grace period).
    A line stamped later than that is stored as a dead letter at its receive time, the time it claimed in
    `attrs.error` (a clock running ahead must not hide lines from searches of the last hour); lines older than
    their tenant's retention are refused and reported to the client, never stored and deleted later."""

    @field_validator("default_tenant")
    @classmethod
    def _tenant_name(cls, v: str) -> str:
        return check_tenant(v)


class TenantOverride(_Frozen):
    retention_days: int | None = Field(None, ge=1)
    """This tenant's retention; unset means the store's retention_days."""
    archive_after_days: int | None = Field(None, ge=0)
    """This tenant's archive age; unset means the archive's archive_after_days."""


class StoreConfig(_Frozen):
    memory_limit: ByteSize = 256 * 1024**2
    """DuckDB memory limit for the hot store (its buffer pool; queries spill to disk beyond it). DuckDB fills it
    during ingest (rows not yet checkpointed, cached blocks), so it bounds much of the server's memory (docs/storage.md,
    Memory)."""
    threads: int | None = Field(None, ge=1)
    """DuckDB worker threads; unset means one per core."""
    block_size: ByteSize = 256 * 1024
    """Block size of hot.duckdb: 16 KiB to 256 KiB, a power of two (DuckDB's default 256 KiB). A text column's
    segment fills a block and is decoded whole when a search reads any of its rows, so 64 KiB makes a needle or a
    trace read about a quarter of the text (bench/query.py: needle 67-75 → 29 ms) for ~10 % more ingest CPU a line
    (DuckDB writes four times the blocks). New files get it; an existing file at its next compaction (a clean stop
    converts it whatever its free space, docs/storage.md)."""
    retention_days: int = Field(7, ge=1)
    """Days of data kept (hot and archive); whole day partitions older than this are dropped."""
    tenants: dict[str, TenantOverride] = Field(default_factory=dict)
    """Per-tenant overrides of retention_days and archive_after_days, keyed by tenant name."""
    retention_classes: dict[str, int] = Field(default_factory=dict)
    """Retention classes: name → days. Lines a pipeline routes to a class (`route` with `retention:`, which
    sets the `retention_class` attribute) are kept that many days instead of their tenant's retention, in
    partitions of their own; an unknown class name means the tenant's retention."""

    @field_validator("block_size")
    @classmethod
    def _block_size(cls, v: ByteSize) -> ByteSize:
        if not 16 * 1024 <= v <= 256 * 1024 or v & (v - 1):
            raise ValueError(f"{int(v)} bytes: a power of two from 16KiB to 256KiB")
        return v

    @field_validator("retention_classes")
    @classmethod
    def _class_names(cls, v: dict[str, int]) -> dict[str, int]:
        for name, days in v.items():
            if not re.fullmatch(r"[a-z0-9_]{1,32}", name):
                raise ValueError(f"retention class {name!r}: use 1-32 lowercase letters, digits and '_'")
            if days < 1:
                raise ValueError(f"retention class {name!r}: days must be at least 1")
        return v

    maintenance_interval: Duration = timedelta(minutes=1)
    """How often retention and archiving run."""
    checkpoint_threshold: ByteSize = 64 * 1024**2
    """WAL size at which DuckDB checkpoints (compacts the WAL into the database file). Large writes go to the
    database file without the WAL, so during ingest the WAL grows slowly and rows not yet
    checkpointed are bounded by memory_limit rather than by this."""
    apply_interval: Duration = timedelta(seconds=1)
    """How long acknowledged batches gather in memory (already durable in the ingest log, and searchable)
    before they are written to DuckDB in one transaction; longer means larger, cheaper writes."""
    apply_max_rows: int = Field(500_000, ge=1)
    """Rows that trigger a write to DuckDB before apply_interval is over; a quarter of memory_limit in batch
    bytes does too (DuckDB holds a write's rows in memory until it commits, so long lines make smaller writes)."""
    max_unapplied_bytes: ByteSize = 256 * 1024**2
    """Memory held by acknowledged batches not yet in DuckDB; beyond it ingest answers 429 until it catches up."""
    wal_segment_bytes: ByteSize = 64 * 1024**2
    """Size at which the ingest log starts a new segment file; applied segments are deleted."""
    indexed_fields: list[str] = Field(default_factory=list)
    """High-cardinality fields whose exact values get a block index like `trace_id`'s, so `request_id:<value>`
    reads only the blocks that may hold it (docs/storage.md): attribute keys (`request_id`, `attrs.<key>` for one
    named like a core field) or id columns (`span_id`, `log_id`, `host`, `service`, `source`, `pattern_id`). Each
    costs index space per distinct value; changing the list rebuilds the index of the hot day tables at start."""

    @field_validator("indexed_fields")
    @classmethod
    def _field_names(cls, v: list[str]) -> list[str]:
        for name in v:
            if not name.strip() or "," in name or "=" in name:
                raise ValueError(f"indexed field {name!r}: a field name, without ',' or '='")
        return v

    @field_validator("tenants")
    @classmethod
    def _tenant_names(cls, v: dict[str, TenantOverride]) -> dict[str, TenantOverride]:
        for name in v:
            check_tenant(name)
        return v


class ArchiveEncryptionConfig(_Frozen):
    """Parquet modular encryption of new archive files (store/archive_encryption.py; docs/security.md)."""

    keys: dict[str, SecretStr] = Field(default_factory=dict)
    """Master keys by name: `env:VARIABLE` (the variable holds the key) or the key itself, as base64 of 16, 24 or
    32 bytes (`openssl rand -base64 32`). Keep every key that encrypted a file still in the archive."""
    current: str | None = None
    """The key that encrypts new files (default: the only one in `keys`). Rotation: add a key, make it current."""

    @field_validator("keys")
    @classmethod
    def _key_names(cls, value: dict[str, SecretStr]) -> dict[str, SecretStr]:
        for name in value:
            if not re.fullmatch(r"[A-Za-z0-9_.-]{1,64}", name):
                raise ValueError(f"key name {name!r}: 1-64 letters, digits, '_', '.', '-'")
        return value

    @model_validator(mode="after")
    def _current_is_a_key(self) -> ArchiveEncryptionConfig:
        if self.current is not None and self.current not in self.keys:
            raise ValueError(f"current: {self.current!r} is not one of keys ({', '.join(sorted(self.keys)) or 'none'})")
        if self.current is None and len(self.keys) > 1:
            raise ValueError("current: required when keys has more than one key (the one that encrypts new files)")
        return self

    @property
    def enabled(self) -> bool:
        return bool(self.keys)

    @property
    def current_key(self) -> str | None:
        return self.current or next(iter(self.keys), None)


class ArchiveConfig(_Frozen):
    enabled: bool = True
    """Write day partitions older than archive_after_days to Parquet and drop them from the hot store."""
    root: str | None = None
    """Local path or fsspec URL (s3://bucket/prefix, memory://x) of the archive; default <data_dir>/archive."""
    archive_after_days: int = Field(2, ge=0)
    """Age in days after which a whole day partition moves to the archive."""
    compression: str = "zstd"
    """Parquet compression codec (zstd, snappy, gzip, none)."""
    storage_options: dict[str, str] = Field(default_factory=dict)
    """Options passed to the fsspec filesystem (e.g. endpoint_url, key, secret for S3)."""
    encryption: ArchiveEncryptionConfig = Field(default_factory=ArchiveEncryptionConfig)
    """Encrypt new archive files with Parquet modular encryption (off while `keys` is empty)."""


class SqlConfig(_Frozen):
    workers: int = Field(2, ge=1, le=64)
    """User SQL statements (`POST /api/v1/sql`) run at once, each in its own sandboxed worker process;
    beyond it, 503 with Retry-After."""
    max_memory: ByteSize = Field(1024**3, ge=64 * 1024**2)
    """Memory one SQL statement may use: its worker's DuckDB memory_limit and its operating-system memory cap.
    A statement that needs more is refused with 400."""
    threads: int = Field(1, ge=1, le=64)
    """DuckDB threads of each SQL worker."""
    max_result_bytes: ByteSize = Field(64 * 1024**2, ge=1024**2)
    """Largest answer (its rows as JSON) a statement may return; a larger one is refused with 400."""
    default_timeout: Duration = Field(timedelta(seconds=30), gt=timedelta(0))
    """Time limit of a statement that sets no `timeout`; its worker is killed after it (408)."""
    max_timeout: Duration = Field(timedelta(minutes=5), gt=timedelta(0))
    """Largest `timeout` a statement may ask for."""

    @model_validator(mode="after")
    def _default_within_max(self) -> SqlConfig:
        if self.default_timeout > self.max_timeout:
            raise ValueError("sql.default_timeout must not be longer than sql.max_timeout")
        return self


class RulesConfig(_Frozen):
    dir: Path | None = None
    """Directory of alert rule files (`*.yaml`, docs/rules.md); rules are evaluated on every stored batch.
    Unset: no rule files (rules created through `/api/v1/rules` still run). Changes to the files take effect
    without a restart (checked every `reload_interval`); a file that fails to load keeps its previous rules."""
    reload_interval: Duration = timedelta(seconds=2)
    """How often the rule files are checked for changes."""


# The pattern miner's mask kinds in the order it applies them (logwarden.patterns.masking.MASK_KINDS; a test
# keeps the two equal, since config imports nothing that runs).
MASK_KINDS = ("quoted", "email", "url", "uuid", "ip", "timestamp", "path", "duration", "hex", "kv", "number")


class PatternsConfig(_Frozen):
    enabled: bool = False
    """Mine log patterns: every stored line gets a `pattern_id`, the template of its kind of line (docs/patterns.md),
    per tenant and service. Dead letters get none. Off by default for now: mining costs about as much CPU as the
    rest of ingest, on ordinary logs too (docs/patterns.md#cost)."""
    masks: list[str] = Field(default_factory=lambda: list(MASK_KINDS))
    """Kinds of variable masked before lines are grouped, applied in this order whatever the list's order:
    `quoted` ("…" and '…' strings), `email`, `url`, `uuid`, `ip` (v4 with port, v6), `timestamp` (ISO 8601),
    `path` (two or more components), `duration` (12ms, 1.5s), `hex` (0x…, hex words with digits and letters),
    `kv` (the value of key=value), `number`."""
    similarity: float = Field(0.5, gt=0.0, le=1.0)
    """Share of a line's tokens that must equal a template's for the line to join it (and the template to
    generalize where they differ); higher makes more, narrower patterns."""
    max_templates_per_service: int = Field(2000, ge=10)
    """Most patterns kept in memory per tenant and service; beyond it the least recently seen is forgotten (its
    kind of line gets its id back when it returns in the form that made it)."""
    max_forms: int = Field(100_000, ge=100)
    """Size of the cache from a masked line to its pattern, and of the one from a line with its digits made alike
    to its pattern (each holds at most twice this many entries)."""
    max_new_forms_per_batch: int = Field(256, ge=0)
    """Masked forms never seen before that go through the similarity search per ingested batch (the most
    frequent first); the rest each start a pattern of their own at once, so a burst of new text costs little.
    Their ids are as stable as any; a kind of line split that way stays split."""

    @field_validator("masks")
    @classmethod
    def _known_masks(cls, v: list[str]) -> list[str]:
        unknown = [m for m in v if m not in MASK_KINDS]
        if unknown:
            raise ValueError(f"unknown mask kinds {unknown}; known: {', '.join(MASK_KINDS)}")
        return v


class LogMetricsConfig(_Frozen):
    """Log-derived metrics (docs/metrics.md): time series computed from the stored lines, kept in tiers."""

    enabled: bool = True
    """Compute log metrics (the built-in series and every definition) on each stored batch."""
    dir: Path | None = None
    """Directory of metric definition files (`*.yaml`: a list of metrics, or `metrics:` with one), read at start."""
    definitions: list[MetricDefinition] = Field(default_factory=list)
    """Metric definitions written in the config itself (added to those of `dir`)."""
    builtin: bool = True
    """The built-in series of every tenant: `logs_total` (lines) and `log_bytes_total` (message bytes) by service
    and level."""
    retention_10s: Duration = timedelta(days=15)
    """How long the 10 s points are kept."""
    retention_1m: Duration = timedelta(days=90)
    """How long the 1 m roll-ups are kept."""
    retention_5m: Duration = timedelta(days=730)
    """How long the 5 m roll-ups are kept."""
    retention_1h: Duration = timedelta(days=730)
    """How long the 1 h roll-ups are kept."""
    commit_interval: Duration = Field(timedelta(seconds=1), gt=timedelta(0))
    """Longest time points wait in memory before they are committed with the bus cursor (what a crash replays)."""
    compact_interval: Duration = Field(timedelta(minutes=1), gt=timedelta(0))
    """How often finished buckets are rolled up into the coarser tiers and old points deleted."""
    remote_write: RemoteWriteConfig | None = None
    """Push the series to a Prometheus remote-write receiver (docs/metrics.md)."""
    memory_limit: ByteSize = Field(64 * 1024**2, ge=16 * 1024**2)
    """DuckDB memory limit of the series store (`metrics/`): the blocks its commits write stay cached up to it, so
    on a busy server it is that much of the server's memory (docs/storage.md, Memory); roll-ups and queries spill
    to disk beyond it."""

    @field_validator("definitions")
    @classmethod
    def _unique_definitions(cls, v: list[MetricDefinition]) -> list[MetricDefinition]:
        return check_unique(v, "metrics.definitions")

    @property
    def retention(self) -> list[timedelta]:
        """Each tier's retention, finest first."""
        return [self.retention_10s, self.retention_1m, self.retention_5m, self.retention_1h]


class Config(_Frozen):
    """The whole server configuration."""

    data_dir: Path = Path("./data")
    """Directory of the hot store (DuckDB file) and, by default, the archive."""
    meta_url: str | None = None
    """SQLAlchemy URL of the metadata database (saved searches); default a SQLite file <data_dir>/meta.sqlite.
    A PostgreSQL URL (postgresql+psycopg://user:password@host/db) works when a driver is installed."""
    http: HttpConfig = HttpConfig()
    ingest: IngestConfig = IngestConfig()
    store: StoreConfig = StoreConfig()
    archive: ArchiveConfig = ArchiveConfig()
    kafka: KafkaConfig = KafkaConfig()
    """Deprecated: one Kafka consumer, run as the source named `kafka`; use an entry of `sources` with
    `type: kafka` instead. Both may be used at once: the sources add up."""
    syslog: SyslogConfig = SyslogConfig()
    """Deprecated: one set of syslog listeners, run as the source named `syslog`; use an entry of `sources`
    with `type: syslog` instead. Both may be used at once: the sources add up."""
    sources: list[SourceSpec] = Field(default_factory=list)
    """Background sources, each selected by `type` (`syslog`, `kafka`) with a unique `name`; several of
    each kind may run at once (two Kafka consumers on different topics, syslog on two port sets). Each type's
    settings are listed below under `sources[syslog]` and `sources[kafka]`; see also docs/ingest.md."""
    sql: SqlConfig = SqlConfig()
    bus: BusConfig = BusConfig()
    rules: RulesConfig = RulesConfig()
    patterns: PatternsConfig = PatternsConfig()
    """Log pattern mining (docs/patterns.md)."""
    metrics: LogMetricsConfig = LogMetricsConfig()
    """Log-derived metrics: definitions, tiers and their retention (docs/metrics.md)."""
    auth: AuthConfig = AuthConfig()
    """Authentication, roles and sessions (docs/security.md)."""
    limits: LimitsConfig = LimitsConfig()
    """Ingest rate limits per credential and per tenant, query limits per role, attribute limits per record and per
    tenant (docs/security.md)."""
    alerting: AlertingConfig = AlertingConfig()
    """Routing and notification of alerts: routing tree, receivers, inhibition rules, time intervals, silences'
    retention and delivery (docs/alerting.md). Changes take effect without a restart (checked every
    `reload_interval`, or at once on SIGHUP), except turning routing on or off and `delivery.workers`."""
    log_level: str = "info"
    """logwarden's own log level (debug, info, warning, error)."""
    pipelines: list[PipelineConfig] = Field(default_factory=list)
    """Ingest pipelines: named lists of processors (parse, transform, enrich, redact, route) applied in order
    to the lines they match; see docs/pipeline.md. Changes to this section of the config file take effect
    without a restart (checked every `reload_interval`, or at once on SIGHUP); an invalid change is refused
    and the running pipelines stay."""
    reload_interval: Duration = timedelta(seconds=2)
    """How often the config file is checked for changes to the sections that reload without a restart
    (`pipelines`, `alerting`)."""

    _deprecations: tuple[str, ...] = PrivateAttr(default=())

    @field_validator("sources")
    @classmethod
    def _named_sources(cls, v: list[SourceSpec], info: ValidationInfo) -> list[SourceSpec]:
        named = named_sources(v)
        kafka, syslog = info.data.get("kafka"), info.data.get("syslog")
        if isinstance(kafka, KafkaConfig) and isinstance(syslog, SyslogConfig):
            check_unique_source_names([*legacy_sources(kafka, syslog), *named])
        return named

    def all_sources(self) -> list[SourceSpec]:
        """Every source to run: the deprecated `syslog:` and `kafka:` sections (when they enable anything)
        as the sources named `syslog` and `kafka`, then the entries of `sources`, all named."""
        return [*legacy_sources(self.kafka, self.syslog), *self.sources]

    @property
    def deprecations(self) -> tuple[str, ...]:
        """Deprecated settings the loaded file or environment uses, each with its replacement (logged at start)."""
        return self._deprecations

    def with_deprecations(self, notices: tuple[str, ...]) -> Config:
        """This config carrying `notices` (set by the loader, which knows where each setting came from)."""
        copy = self.model_copy()
        copy._deprecations = notices
        return copy

    @field_validator("pipelines")
    @classmethod
    def _unique_pipelines(cls, v: list[PipelineConfig]) -> list[PipelineConfig]:
        return check_unique_names(v)

    @model_validator(mode="after")
    def _archive_before_retention(self) -> Config:
        if self.archive.enabled and self.archive.archive_after_days >= self.store.retention_days:
            raise ValueError(
                f"archive.archive_after_days ({self.archive.archive_after_days}) must be less than "
                f"store.retention_days ({self.store.retention_days}), or nothing would be archived"
            )
        return self

    @property
    def archive_root(self) -> str:
        return self.archive.root or str(self.data_dir / "archive")

    def retention_days_for(self, tenant: str, retention_class: str = "") -> int:
        if retention_class in self.store.retention_classes:
            return self.store.retention_classes[retention_class]
        override = self.store.tenants.get(tenant)
        if override and override.retention_days is not None:
            return override.retention_days
        return self.store.retention_days

    def archive_after_days_for(self, tenant: str) -> int:
        override = self.store.tenants.get(tenant)
        if override and override.archive_after_days is not None:
            return override.archive_after_days
        return self.archive.archive_after_days
