"""What a background source (syslog listener, Kafka consumer, …) looks like to the server."""

from __future__ import annotations

from typing import Protocol

from logwarden.ingest.sink import IngestSink


class BackgroundSource(Protocol):
    """A source that runs beside the HTTP API for the server's lifetime."""

    name: str

    async def start(self, sink: IngestSink) -> None:
        """Begin receiving (bind sockets, join groups); return once it is receiving."""
        ...

    async def stop(self) -> None:
        """Stop receiving, finish what was received (it goes through the sink), release resources."""
        ...
