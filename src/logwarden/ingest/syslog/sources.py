"""The syslog listeners a config asks for (each of udp, tcp, tls whose port is set)."""

from __future__ import annotations

from logwarden.config.model import Config
from logwarden.ingest.base import BackgroundSource
from logwarden.ingest.syslog.tcp import SyslogTcpSource, tls_context
from logwarden.ingest.syslog.udp import SyslogUdpSource


def syslog_sources(config: Config) -> list[BackgroundSource]:
    """One source per configured listener, not yet started; an unusable TLS certificate fails here."""
    settings = config.syslog
    default = config.ingest.default_tenant
    sources: list[BackgroundSource] = []
    if settings.udp.port is not None:
        sources.append(SyslogUdpSource(settings, settings.udp, settings.udp.tenant or default))
    if settings.tcp.port is not None:
        sources.append(SyslogTcpSource(settings, settings.tcp, settings.tcp.tenant or default))
    if settings.tls.port is not None:
        sources.append(
            SyslogTcpSource(settings, settings.tls, settings.tls.tenant or default, tls=tls_context(settings.tls))
        )
    return sources
