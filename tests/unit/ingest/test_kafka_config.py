"""The `kafka:` settings: validation at load time, and what is handed to librdkafka."""

from __future__ import annotations

from pathlib import Path

import pytest

from logwarden.config import ConfigError, load_config
from logwarden.config.sources import kafka as kafka_config
from logwarden.config.sources.kafka import KafkaConfig


def test_off_by_default_and_needs_nothing_then() -> None:
    config = load_config(None, env={})
    assert config.kafka.enabled is False
    assert config.kafka.topics == []


def test_enabled_without_topics_is_an_error_naming_the_setting() -> None:
    with pytest.raises(ConfigError, match=r"kafka: .*at least one topic in kafka.topics"):
        load_config(None, env={}, overrides={"kafka.enabled": True})


def test_enabled_without_the_extra_tells_how_to_install_it(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(kafka_config, "kafka_client_installed", lambda: False)
    with pytest.raises(ConfigError, match=r"pip install 'logwarden\[kafka\]'"):
        load_config(None, env={}, overrides={"kafka": {"enabled": True, "topics": ["logs"]}})
    # Disabled, the missing client does not matter.
    load_config(None, env={}, overrides={"kafka": {"topics": ["logs"]}})


@pytest.mark.parametrize(
    ("key", "hint"),
    [
        ("enable.auto.commit", "logwarden commits offsets itself"),
        ("group.id", "kafka.group_id"),
        ("bootstrap.servers", "kafka.bootstrap_servers"),
        ("sasl.password", "kafka.sasl_password"),
    ],
)
def test_settings_the_source_owns_cannot_be_passed_through(key: str, hint: str) -> None:
    with pytest.raises(ConfigError, match=hint):
        load_config(None, env={}, overrides={"kafka": {"topics": ["logs"], "consumer": {key: "x"}}})


def test_yaml_errors_name_file_line_and_field(tmp_path: Path) -> None:
    path = tmp_path / "logwarden.yaml"
    path.write_text("kafka:\n  enabled: true\n  topics: [logs]\n  format: xml\n")
    with pytest.raises(ConfigError, match=r"logwarden.yaml:4: kafka.format: Input should be 'json' or 'raw'"):
        load_config(path, env={})


def test_environment_variables_reach_nested_kafka_settings() -> None:
    config = load_config(
        None,
        env={
            "LOGWARDEN_KAFKA__ENABLED": "true",
            "LOGWARDEN_KAFKA__TOPICS": "[app-logs, '^edge-.*']",
            "LOGWARDEN_KAFKA__SASL_PASSWORD": "s3cret",
        },
    )
    assert config.kafka.enabled and config.kafka.topics == ["app-logs", "^edge-.*"]
    assert "s3cret" not in repr(config.kafka)


def test_invalid_tenant_is_refused() -> None:
    with pytest.raises(ConfigError, match=r"kafka\.tenant"):
        load_config(None, env={}, overrides={"kafka": {"tenant": "no spaces please"}})


def test_librdkafka_settings_pass_through_and_keep_commits_manual() -> None:
    cfg = KafkaConfig(
        bootstrap_servers="k1:9092,k2:9092",
        group_id="lw",
        sasl_password="s3cret",  # type: ignore[arg-type]
        consumer={"security.protocol": "SASL_SSL", "session.timeout.ms": 10000, "check.crcs": True},
    )
    assert cfg.librdkafka_settings() == {
        "auto.offset.reset": "earliest",
        "security.protocol": "SASL_SSL",
        "session.timeout.ms": "10000",
        "check.crcs": "true",
        "bootstrap.servers": "k1:9092,k2:9092",
        "group.id": "lw",
        "enable.auto.commit": "false",
        "enable.auto.offset.store": "false",
        "sasl.password": "s3cret",
    }
    latest = KafkaConfig(consumer={"auto.offset.reset": "latest"})
    assert latest.librdkafka_settings()["auto.offset.reset"] == "latest"
