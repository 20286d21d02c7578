"""The `sources:` list: type-tagged entries, names, errors that name the field, and the deprecated sections."""

from __future__ import annotations

from pathlib import Path

import pytest

from logwarden.config import ConfigError, load_config
from logwarden.config.sources import KafkaSourceConfig, SyslogSourceConfig


def test_entries_of_each_type_with_default_and_given_names(tmp_path: Path) -> None:
    path = tmp_path / "lw.yaml"
    path.write_text(
        "sources:\n"
        "  - type: syslog\n"
        "    udp: {port: 5514}\n"
        "  - type: kafka\n"
        "    name: edge\n"
        "    topics: [edge-logs]\n"
        "    group_id: edge\n"
        "  - type: syslog\n"
        "    tcp: {port: 6601, tenant: net}\n"
        "    max_frame_bytes: 8KiB\n"
    )
    config = load_config(path, env={})
    first, kafka, second = config.sources
    assert isinstance(first, SyslogSourceConfig) and isinstance(second, SyslogSourceConfig)
    assert isinstance(kafka, KafkaSourceConfig)
    assert [s.name for s in config.all_sources()] == ["syslog-0", "edge", "syslog-2"]
    assert (first.udp.port, second.tcp.port, second.tcp.tenant, second.max_frame_bytes) == (5514, 6601, "net", 8192)
    assert kafka.enabled and kafka.topics == ["edge-logs"] and kafka.group_id == "edge"
    assert config.deprecations == ()


def test_deprecated_sections_and_the_list_add_up() -> None:
    config = load_config(
        None,
        env={},
        overrides={
            "syslog.udp.port": 5514,
            "kafka": {"enabled": True, "topics": ["a"]},
            "sources": [{"type": "kafka", "topics": ["b"], "group_id": "second"}],
        },
    )
    entries = config.all_sources()
    assert [(s.type, s.name) for s in entries] == [("syslog", "syslog"), ("kafka", "kafka"), ("kafka", "kafka-0")]
    assert isinstance(entries[1], KafkaSourceConfig) and entries[1].topics == ["a"]
    assert isinstance(entries[0], SyslogSourceConfig) and entries[0].udp.port == 5514


def test_disabled_deprecated_sections_are_no_sources() -> None:
    assert load_config(None, env={}).all_sources() == []


@pytest.mark.parametrize(
    ("yaml_text", "message"),
    [
        ("sources:\n  - type: nfs\n", r"lw.yaml:2: sources.0: Input tag 'nfs' found using 'type' does not match"),
        ("sources:\n  - {type: syslog}\n", r"lw.yaml:2: sources.0.syslog: .*needs at least one of udp.port, tcp.port"),
        (
            "sources:\n  - type: syslog\n    tcp:\n      port: 99999\n",
            r"lw.yaml:4: sources.0.syslog.tcp.port: Input should be less than or equal to 65535",
        ),
        (
            "sources:\n  - type: kafka\n    group: x\n",
            r"lw.yaml:3: sources.0.kafka.group: Extra inputs are not permitted",
        ),
        ("sources:\n  - type: kafka\n", r"lw.yaml:2: sources.0.kafka: .*needs at least one topic in topics"),
        (
            "sources:\n  - {type: syslog, udp: {port: 1}, name: a}\n  - {type: syslog, tcp: {port: 2}, name: a}\n",
            r"lw.yaml:1: sources: .*two sources are named 'a'",
        ),
        (
            "sources:\n  - {type: syslog, udp: {port: 1}, name: 'a b'}\n",
            r"sources.0.syslog.name: .*invalid source name",
        ),
        (
            "syslog: {udp: {port: 1}}\nsources:\n  - {type: syslog, udp: {port: 2}, name: syslog}\n",
            r"two sources are named 'syslog'.*deprecated",
        ),
        (
            "sources:\n  - {type: syslog, udp: {port: 1, tenant: 'no spaces'}}\n",
            r"sources.0.syslog.udp.tenant: Value error, invalid tenant name 'no spaces'",
        ),
    ],
)
def test_errors_name_file_line_and_field(tmp_path: Path, yaml_text: str, message: str) -> None:
    path = tmp_path / "lw.yaml"
    path.write_text(yaml_text)
    with pytest.raises(ConfigError, match=message):
        load_config(path, env={})


def test_deprecated_sections_in_the_file_are_noted_with_the_file_and_the_replacement(tmp_path: Path) -> None:
    path = tmp_path / "lw.yaml"
    path.write_text("syslog:\n  udp: {port: 5514}\n")
    (notice,) = load_config(path, env={}).deprecations
    assert notice.startswith(f"{path}: the `syslog:` section is deprecated")
    assert "an entry of `sources:` with `type: syslog`" in notice


def test_deprecated_sections_from_the_environment_name_the_variable() -> None:
    (notice,) = load_config(None, env={"LOGWARDEN_KAFKA__TOPICS": "[a]"}).deprecations
    assert notice.startswith("environment variable LOGWARDEN_KAFKA__TOPICS: the `kafka:` section is deprecated")


def test_command_line_flags_are_not_deprecated() -> None:
    # `serve --syslog-udp-port` sets syslog.udp.port as an override: still the quick way to open a listener.
    assert load_config(None, env={}, overrides={"syslog.udp.port": 5514}).deprecations == ()


def test_config_stays_frozen() -> None:
    config = load_config(None, env={}, overrides={"sources": [{"type": "syslog", "udp": {"port": 1}}]})
    with pytest.raises(ValueError, match="frozen"):
        config.sources[0].udp.port = 2  # type: ignore[misc]
