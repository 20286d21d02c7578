"""The agent's Prometheus metrics, on a registry of its own, served on /metrics."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from wsgiref.simple_server import WSGIServer

from prometheus_client import CollectorRegistry, Counter, Gauge, disable_created_metrics, start_http_server
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

# `*_created` series double the exposition size and no dashboard uses them.
disable_created_metrics()  # type: ignore[no-untyped-call]


class FileLagCollector(Collector):
    """logwarden_agent_file_lag_bytes{path}: bytes of each open file the server does not have yet."""

    def __init__(self, lags: Callable[[], list[tuple[str, int]]]) -> None:
        self._lags = lags

    def collect(self) -> Iterator[Metric]:
        family = GaugeMetricFamily(
            "logwarden_agent_file_lag_bytes",
            "Bytes of an open file not yet acknowledged by the server or spooled (file size - checkpoint).",
            labels=["path"],
        )
        for path, lag in self._lags():
            family.add_metric([path], lag)
        yield family


class AgentMetrics:
    """Every metric the agent exports."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        r = self.registry
        self.lines_read = Counter("logwarden_agent_lines_read", "Complete lines read from files.", registry=r)
        self.bytes_read = Counter("logwarden_agent_bytes_read", "Bytes read from files.", registry=r)
        self.lines_shipped = Counter(
            "logwarden_agent_lines_shipped", "Records the server acknowledged (duplicates included).", registry=r
        )
        self.bytes_shipped = Counter(
            "logwarden_agent_bytes_shipped", "NDJSON bytes (before gzip) the server acknowledged.", registry=r
        )
        self.duplicates = Counter(
            "logwarden_agent_duplicate_lines", "Re-sent records the server reported as already stored.", registry=r
        )
        self.server_rejected = Counter(
            "logwarden_agent_server_rejected_lines",
            "Records the server could not decode (it stores them in its dead-letter stream).",
            registry=r,
        )
        self.retries = Counter(
            "logwarden_agent_retries", "Failed sends that will be retried, by reason.", ["reason"], registry=r
        )
        self.spool_bytes = Gauge("logwarden_agent_spool_bytes", "Bytes of batches in the spool.", registry=r)
        self.spool_batches = Gauge("logwarden_agent_spool_batches", "Batches in the spool.", registry=r)
        self.dropped_lines = Counter(
            "logwarden_agent_dropped_lines",
            "Records discarded, by reason (spool_full: only with spool.when_full: drop).",
            ["reason"],
            registry=r,
        )
        self.lost_bytes = Counter(
            "logwarden_agent_unread_bytes_lost",
            "Bytes a file lost before they could be read (truncated by copytruncate ahead of the reader).",
            registry=r,
        )
        self.dead_letter_batches = Counter(
            "logwarden_agent_dead_letter_batches",
            "Batches (or parts of batches) the server refused for good, written to the dead-letter directory.",
            registry=r,
        )
        self.dead_letter_lines = Counter(
            "logwarden_agent_dead_letter_lines", "Records in dead-lettered batches.", registry=r
        )
        self.files_open = Gauge("logwarden_agent_files_open", "Files being read.", registry=r)
        self.rotations = Counter(
            "logwarden_agent_file_events", "Renames, truncations and removals seen, by kind.", ["kind"], registry=r
        )
        self.backpressure = Gauge(
            "logwarden_agent_backpressure",
            "1 while reading is paused because the sender queue and the spool are full.",
            registry=r,
        )

    def watch_file_lags(self, lags: Callable[[], list[tuple[str, int]]]) -> None:
        self.registry.register(FileLagCollector(lags))

    def serve(self, host: str, port: int) -> WSGIServer:
        """Serve /metrics in a daemon thread; the returned server's `server_port` is the bound port."""
        server, _thread = start_http_server(port, addr=host, registry=self.registry)
        return server
