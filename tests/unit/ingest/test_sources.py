"""The source registry: one builder per `sources:` type, names, and the deprecation notice at start."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from logwarden.config import load_config
from logwarden.config.sources import SOURCE_CONFIGS
from logwarden.ingest.kafka.source import KafkaSource
from logwarden.ingest.sources import SOURCE_KINDS, build_sources
from logwarden.ingest.syslog.tcp import SyslogTcpSource
from logwarden.ingest.syslog.udp import SyslogUdpSource


def test_every_source_type_has_exactly_one_builder() -> None:
    assert sorted(k.config.__name__ for k in SOURCE_KINDS) == sorted(c.__name__ for c in SOURCE_CONFIGS)


def test_each_entry_builds_its_sources_under_its_name() -> None:
    config = load_config(
        None,
        env={},
        overrides={
            "ingest.default_tenant": "main",
            "syslog.udp.port": 5514,
            "sources": [
                {"type": "syslog", "name": "edge", "udp": {"port": 0}, "tcp": {"port": 0, "tenant": "net"}},
                {"type": "syslog", "tcp": {"port": 0}},
                {"type": "kafka", "name": "billing", "topics": ["billing"], "tenant": "billing"},
                {"type": "kafka", "topics": ["off"], "enabled": False},
            ],
        },
    )
    sources = build_sources(config)
    assert [(type(s), s.name) for s in sources] == [
        (SyslogUdpSource, "syslog-udp"),
        (SyslogUdpSource, "edge-udp"),
        (SyslogTcpSource, "edge-tcp"),
        (SyslogTcpSource, "syslog-1-tcp"),
        (KafkaSource, "billing"),
    ]
    tenants = [s.writer.tenant if not isinstance(s, KafkaSource) else s.tenant for s in sources]  # type: ignore[attr-defined]
    assert tenants == ["main", "main", "net", "main", "billing"]


def test_deprecated_section_is_logged_when_sources_are_built(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    path = tmp_path / "logwarden.yaml"
    path.write_text("syslog:\n  tcp: {port: 0}\n")
    config = load_config(path, env={})
    with caplog.at_level(logging.WARNING, logger="logwarden.ingest.sources"):
        sources = build_sources(config)
    assert [s.name for s in sources] == ["syslog-tcp"]
    (record,) = [r for r in caplog.records if r.name == "logwarden.ingest.sources"]
    assert record.levelno == logging.WARNING
    assert record.getMessage().startswith(f"{path}: the `syslog:` section is deprecated")
    assert "`sources:` with `type: syslog`" in record.getMessage()
