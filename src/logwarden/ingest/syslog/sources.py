"""The syslog source type: one `type: syslog` entry → one listener per udp, tcp, tls whose port is set."""

from __future__ import annotations

from logwarden.config.model import Config
from logwarden.config.sources.syslog import SyslogSourceConfig
from logwarden.ingest.base import BackgroundSource
from logwarden.ingest.syslog.tcp import SyslogTcpSource, tls_context
from logwarden.ingest.syslog.udp import SyslogUdpSource

CONFIG = SyslogSourceConfig


def build(entry: SyslogSourceConfig, config: Config) -> list[BackgroundSource]:
    """One source per listener of `entry` (named `<entry>-udp`, …), not yet started; an unusable TLS
    certificate fails here."""
    default = config.ingest.default_tenant
    name = entry.name or entry.type
    sources: list[BackgroundSource] = []
    if entry.udp.port is not None:
        sources.append(SyslogUdpSource(entry, entry.udp, entry.udp.tenant or default, name=f"{name}-udp"))
    if entry.tcp.port is not None:
        sources.append(SyslogTcpSource(entry, entry.tcp, entry.tcp.tenant or default, name=f"{name}-tcp"))
    if entry.tls.port is not None:
        sources.append(
            SyslogTcpSource(
                entry, entry.tls, entry.tls.tenant or default, tls=tls_context(entry.tls), name=f"{name}-tls"
            )
        )
    return sources
