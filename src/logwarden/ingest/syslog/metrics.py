"""Metrics of the syslog listeners, by listener kind (udp, tcp, tls), summed over every syslog source."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge


class SyslogMetrics:
    """Registered on the registry passed in. The `listener` label is the kind, not the source name: the
    names existed before sources had names, and dashboards group by them."""

    def __init__(self, registry: CollectorRegistry) -> None:
        r = registry
        self.syslog_connections = Gauge(
            "logwarden_syslog_connections", "Open syslog connections, by listener (tcp, tls).", ["listener"], registry=r
        )
        self.syslog_refused_connections = Counter(
            "logwarden_syslog_refused_connections",
            "Syslog connections closed at once because syslog.max_connections were open, by listener.",
            ["listener"],
            registry=r,
        )
        self.syslog_oversize_frames = Counter(
            "logwarden_syslog_oversize_frames",
            "Syslog frames longer than syslog.max_frame_bytes (stored truncated as dead letters), by listener.",
            ["listener"],
            registry=r,
        )
        self.syslog_store_waits = Counter(
            "logwarden_syslog_store_waits",
            "Times a syslog TCP/TLS connection stopped reading because the store pushed back, by listener.",
            ["listener"],
            registry=r,
        )
        self.syslog_dropped_frames = Counter(
            "logwarden_syslog_dropped_frames",
            "Syslog frames lost: UDP batches the store refused (busy or failing), or frames left when shutdown "
            "timed out; by listener and reason.",
            ["listener", "reason"],
            registry=r,
        )
