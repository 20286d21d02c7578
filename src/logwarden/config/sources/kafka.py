"""Settings of a Kafka source (`type: kafka` in `sources:`, or the deprecated `kafka:` section).

Importable without confluent-kafka. The settings live in `config` (not beside the consumer in
`ingest.kafka`) so that `config` never imports `ingest`: ingest builds sources from these shapes.
"""

from __future__ import annotations

import importlib.util
from datetime import timedelta
from typing import ClassVar, Literal

from pydantic import Field, SecretStr, field_validator, model_validator

from logwarden.config.sources.base import FrozenSettings, SourceIdentity
from logwarden.model.tenants import check_optional_tenant
from logwarden.model.units import Duration

# librdkafka settings the source sets itself; letting `consumer` override them would break the
# commit-after-store guarantee or contradict a dedicated setting.
_OWNED_SETTINGS = {
    "bootstrap.servers": "kafka.bootstrap_servers",
    "group.id": "kafka.group_id",
    "enable.auto.commit": "nothing: logwarden commits offsets itself, after the batch is stored",
    "enable.auto.offset.store": "nothing: logwarden commits offsets itself, after the batch is stored",
    "sasl.password": "kafka.sasl_password (kept secret in logs and errors)",
}


def kafka_client_installed() -> bool:
    """True when confluent-kafka (the `kafka` extra) can be imported."""
    return importlib.util.find_spec("confluent_kafka") is not None


class KafkaConfig(FrozenSettings):
    """Consume log lines from Kafka topics (the deprecated `kafka:` section; off unless enabled)."""

    # How errors name this model's settings: `kafka.topics` in the old section, `topics` in a source entry.
    _where: ClassVar[str] = "kafka."

    enabled: bool = False
    """Run the Kafka consumer. Needs the `kafka` extra: `pip install 'logwarden[kafka]'`."""
    bootstrap_servers: str = "127.0.0.1:9092"
    """Comma-separated host:port list of brokers to bootstrap from (librdkafka `bootstrap.servers`)."""
    topics: list[str] = Field(default_factory=list)
    """Topics to consume. A name starting with `^` is a regular expression: every matching topic,
    including ones created later, is consumed."""
    group_id: str = "logwarden"
    """Consumer group. Servers in one group share the partitions; the group's committed offsets say
    where a restarted server resumes."""
    format: Literal["json", "raw"] = "json"
    """`json`: each message is one JSON object or NDJSON (one object per line), mapped like the HTTP
    API's records. `raw`: each message value is one log line, stored as the message."""
    tenant: str | None = None
    """Tenant of the consumed lines; unset means ingest.default_tenant."""
    tenant_header: str | None = None
    """Message header whose value names the tenant of that message (else `tenant` applies). A message
    naming an invalid tenant goes to the dead-letter stream of `tenant`."""
    default_service: str | None = None
    """Service of lines that name none."""
    default_host: str | None = None
    """Host of lines that name none."""
    metadata: bool = True
    """Add `kafka.topic`, `kafka.partition`, `kafka.offset`, `kafka.key` and `kafka.header.<name>` to
    each line's attrs."""
    batch_max_messages: int = Field(5000, ge=1, le=1_000_000)
    """Most messages consumed, stored and committed together. After a crash at most one batch per
    consumer is read again (it may have been stored but not committed)."""
    batch_wait: Duration = timedelta(milliseconds=200)
    """Longest wait for a batch to fill before the messages already there are stored."""
    retry_backoff: Duration = timedelta(seconds=1)
    """Pause before storing a batch again when the store is behind or failing (the batch is kept and
    its partitions paused; nothing is committed meanwhile)."""
    sasl_password: SecretStr | None = None
    """SASL password (librdkafka `sasl.password`); set it here or with LOGWARDEN_KAFKA__SASL_PASSWORD."""
    consumer: dict[str, str | int | float | bool] = Field(default_factory=dict)
    """Other librdkafka consumer settings, passed through: `security.protocol`, `sasl.mechanism`,
    `sasl.username`, `ssl.ca.location`, `session.timeout.ms`, `partition.assignment.strategy`,
    `client.id`… `auto.offset.reset` defaults to `earliest` (a new group reads what the topics hold)."""

    @field_validator("tenant")
    @classmethod
    def _tenant_name(cls, v: str | None) -> str | None:
        return check_optional_tenant(v)

    @field_validator("consumer")
    @classmethod
    def _not_owned(cls, v: dict[str, str | int | float | bool]) -> dict[str, str | int | float | bool]:
        for key in v:
            if key in _OWNED_SETTINGS:
                raise ValueError(f"{key!r} cannot be set in {cls._where}consumer; use {_OWNED_SETTINGS[key]}")
        return v

    @model_validator(mode="after")
    def _usable_when_enabled(self) -> KafkaConfig:
        if not self.enabled:
            return self
        where = self._where
        if not self.topics:
            raise ValueError(f"a Kafka source needs at least one topic in {where}topics")
        if not self.bootstrap_servers.strip():
            raise ValueError(f"a Kafka source needs {where}bootstrap_servers")
        if not kafka_client_installed():
            raise ValueError("the Kafka source needs the confluent-kafka package: pip install 'logwarden[kafka]'")
        return self

    def librdkafka_settings(self) -> dict[str, str]:
        """The consumer configuration handed to librdkafka (values as strings, booleans lower case)."""
        settings: dict[str, str | int | float | bool] = {"auto.offset.reset": "earliest", **self.consumer}
        settings.update(
            {
                "bootstrap.servers": self.bootstrap_servers,
                "group.id": self.group_id,
                "enable.auto.commit": False,
                "enable.auto.offset.store": False,
            }
        )
        if self.sasl_password is not None:
            settings["sasl.password"] = self.sasl_password.get_secret_value()
        return {k: (str(v).lower() if isinstance(v, bool) else str(v)) for k, v in settings.items()}


class KafkaSourceConfig(KafkaConfig, SourceIdentity):
    """A Kafka consumer (`type: kafka`): one consumer group member reading its own topics."""

    _where: ClassVar[str] = ""

    type: Literal["kafka"] = "kafka"
    """Selects this kind of source."""
    enabled: bool = True
    """Run this consumer; false keeps the entry without consuming. Needs the `kafka` extra:
    `pip install 'logwarden[kafka]'`."""
