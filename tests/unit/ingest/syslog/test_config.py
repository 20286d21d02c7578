"""Syslog settings: off by default, validated at load time with the field named, mapped from `serve` flags."""

from __future__ import annotations

from pathlib import Path

import pytest

from logwarden.config import ConfigError, load_config
from logwarden.ingest.sources import build_sources
from logwarden.ingest.syslog.tcp import SyslogTcpSource
from logwarden.ingest.syslog.udp import SyslogUdpSource


def test_off_unless_a_port_is_set() -> None:
    config = load_config(None, env={})
    assert not config.syslog.enabled
    assert [s for s in build_sources(config) if s.name.startswith("syslog")] == []


def test_each_listener_with_its_tenant() -> None:
    config = load_config(
        None,
        env={"LOGWARDEN_SYSLOG__UDP__PORT": "5514"},
        overrides={"syslog.tcp.port": 5515, "syslog.tcp.tenant": "net", "ingest.default_tenant": "main"},
    )
    sources = [s for s in build_sources(config) if s.name.startswith("syslog")]
    assert [type(s) for s in sources] == [SyslogUdpSource, SyslogTcpSource]
    assert [s.writer.tenant for s in sources] == ["main", "net"]  # type: ignore[attr-defined]


def test_tls_needs_certificate_files(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"syslog\.tls: .*needs syslog\.tls\.cert_file and key_file"):
        load_config(None, env={}, overrides={"syslog.tls.port": 6514})
    with pytest.raises(ConfigError, match=r"syslog.tls.cert_file: .*missing.pem is not a readable file"):
        load_config(
            None,
            env={},
            overrides={
                "syslog.tls.port": 6514,
                "syslog.tls.cert_file": str(tmp_path / "missing.pem"),
                "syslog.tls.key_file": str(tmp_path / "missing.pem"),
            },
        )


def test_unusable_certificate_fails_with_a_message(tmp_path: Path) -> None:
    cert = tmp_path / "cert.pem"
    cert.write_text("not a certificate")
    config = load_config(
        None,
        env={},
        overrides={"syslog.tls.port": 6514, "syslog.tls.cert_file": str(cert), "syslog.tls.key_file": str(cert)},
    )
    with pytest.raises(ValueError, match=r"syslog\.tls: cannot load the certificate"):
        build_sources(config)


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"syslog.tcp.tenant": "bad tenant!"}, "syslog.tcp.tenant: Value error, invalid tenant name 'bad tenant!'"),
        ({"syslog.rfc3164_timezone": "Mars/Olympus"}, "unknown time zone 'Mars/Olympus'"),
        ({"syslog.max_frame_bytes": "100"}, "syslog.max_frame_bytes: Input should be greater than or equal to 480"),
        ({"syslog.udp.port": 70000}, "syslog.udp.port: Input should be less than or equal to 65535"),
        ({"syslog.tcp.framing": "octet"}, "syslog.tcp.framing: Extra inputs are not permitted"),
    ],
)
def test_invalid_settings_name_the_field(overrides: dict[str, object], message: str) -> None:
    with pytest.raises(ConfigError, match=message.replace("(", r"\(").replace(")", r"\)")):
        load_config(None, env={}, overrides=overrides)


def test_yaml_settings_and_units(tmp_path: Path) -> None:
    path = tmp_path / "logwarden.yaml"
    path.write_text(
        "syslog:\n  tcp: {port: 601, host: 0.0.0.0}\n  max_frame_bytes: 8KiB\n  idle_timeout: 90s\n"
        "  batch_max_delay: 5ms\n  rfc3164_timezone: Europe/Berlin\n"
    )
    syslog = load_config(path, env={}).syslog
    assert (syslog.tcp.port, syslog.tcp.host, syslog.max_frame_bytes) == (601, "0.0.0.0", 8192)
    assert syslog.idle_timeout.total_seconds() == 90
    assert syslog.batch_max_delay.total_seconds() == 0.005
    assert syslog.rfc3164_timezone == "Europe/Berlin"
