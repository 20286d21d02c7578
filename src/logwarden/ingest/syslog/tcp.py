"""Syslog over TCP and over TLS (RFC 6587 / RFC 5425): one task per connection, bounded in every way.

Each connection reads into its own frame decoder and batch; at most one of its batches is in the sink
while the next one fills, so a connection whose batches the store is slow to take simply stops being
read (TCP flow control pushes back on that sender) while the others go on. Limits: max_connections
open at once (further ones are closed on accept), max_frame_bytes per frame, batch_max_bytes per
batch, idle_timeout without data, tls_handshake_timeout for the TLS handshake.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
import ssl
import time

from logwarden.config.sources.syslog import SyslogConfig, SyslogTcpConfig, SyslogTlsConfig
from logwarden.ingest.sink import IngestSink
from logwarden.ingest.syslog.batcher import BatchWriter, FrameBatch
from logwarden.ingest.syslog.framing import FrameDecoder

log = logging.getLogger(__name__)

READ_SIZE = 64 * 1024
# How long stop() lets connections store what they already received.
STOP_GRACE_SECONDS = 10.0


def tls_context(listener: SyslogTlsConfig) -> ssl.SSLContext:
    """Server-side TLS context from the listener's certificate, key and optional client CA."""
    if listener.cert_file is None or listener.key_file is None:
        raise ValueError("syslog.tls needs cert_file and key_file")
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.minimum_version = ssl.TLSVersion.TLSv1_3 if listener.min_version == "1.3" else ssl.TLSVersion.TLSv1_2
    try:
        context.load_cert_chain(str(listener.cert_file), str(listener.key_file))
        if listener.client_ca_file is not None:
            context.load_verify_locations(str(listener.client_ca_file))
            context.verify_mode = ssl.CERT_REQUIRED
    except (OSError, ssl.SSLError) as exc:
        raise ValueError(
            f"syslog.tls: cannot load the certificate {listener.cert_file}, key {listener.key_file} or client CA "
            f"{listener.client_ca_file}: {exc}"
        ) from None
    return context


def format_peer(address: object) -> str:
    """'host:port' of a socket address ('[v6]:port' for IPv6); 'unknown' when there is none."""
    if isinstance(address, tuple) and len(address) >= 2:
        host, port = address[0], address[1]
        return f"[{host}]:{port}" if ":" in str(host) else f"{host}:{port}"
    return "unknown"


def peer_host(address: object) -> str:
    """The address alone: what a message that names no host gets as its host."""
    if isinstance(address, tuple) and address:
        return str(address[0])
    return "unknown"


class SyslogTcpSource:
    """A syslog listener on TCP, or on TLS when given an SSL context."""

    def __init__(
        self,
        settings: SyslogConfig,
        listener: SyslogTcpConfig | SyslogTlsConfig,
        tenant: str,
        *,
        tls: ssl.SSLContext | None = None,
        name: str | None = None,
    ) -> None:
        kind = "tls" if tls is not None else "tcp"
        self.name = name or f"syslog-{kind}"
        self.kind = kind
        self.settings = settings
        self.listener = listener
        self.tls = tls
        self.writer = BatchWriter(settings, tenant, kind)
        self._server: asyncio.Server | None = None
        self._connections: set[asyncio.Task[None]] = set()
        self._stopping = False

    @property
    def port(self) -> int:
        """The bound port (useful when the config asked for port 0)."""
        if self._server is None or not self._server.sockets:
            raise RuntimeError(f"{self.name} is not listening")
        return int(self._server.sockets[0].getsockname()[1])

    async def start(self, sink: IngestSink) -> None:
        self.writer.sink = sink
        # Create the series at 0 (not set(0): other listeners of this kind may have connections open).
        sink.metrics.syslog_connections.labels(self.kind)
        self._server = await asyncio.start_server(
            self._accept,
            self.listener.host,
            self.listener.port,
            ssl=self.tls,
            ssl_handshake_timeout=self.settings.tls_handshake_timeout.total_seconds() if self.tls else None,
            limit=READ_SIZE,
            reuse_address=True,
        )
        log.info("%s: syslog %s listening on %s:%d", self.name, self.kind, self.listener.host, self.port)

    async def stop(self) -> None:
        self._stopping = True
        if self._server is not None:
            self._server.close()
        tasks = list(self._connections)
        for task in tasks:
            task.cancel()  # the handler stores what it has before it ends
        if tasks:
            _, pending = await asyncio.wait(tasks, timeout=STOP_GRACE_SECONDS)
            for task in pending:
                task.cancel()
            if pending:
                await asyncio.wait(pending, timeout=1)
        if self._server is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self._server.wait_closed(), 1)
            self._server = None

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        sink = self.writer.sink
        assert sink is not None
        address = writer.get_extra_info("peername")
        if self._stopping or len(self._connections) >= self.settings.max_connections:
            sink.metrics.syslog_refused_connections.labels(self.kind).inc()
            log.warning(
                "syslog %s: refused %s: %d connections open (syslog.max_connections)",
                self.kind,
                format_peer(address),
                len(self._connections),
            )
            writer.close()
            return
        task = asyncio.current_task()
        assert task is not None
        self._connections.add(task)
        gauge = sink.metrics.syslog_connections.labels(self.kind)
        gauge.inc()
        try:
            sock = writer.get_extra_info("socket")
            if sock is not None:
                with contextlib.suppress(OSError):
                    sock.setsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE, 1)
            await _Connection(self, reader, address).run()
        finally:
            gauge.dec()
            self._connections.discard(task)
            writer.close()
            with contextlib.suppress(Exception):
                await asyncio.wait_for(writer.wait_closed(), 1)


class _Connection:
    """Reads one connection: frames → batches → the sink, one batch in flight at a time."""

    def __init__(self, source: SyslogTcpSource, reader: asyncio.StreamReader, address: object) -> None:
        self.source = source
        self.settings = source.settings
        self.reader = reader
        self.peer = format_peer(address)
        self.host = peer_host(address)
        self.decoder = FrameDecoder(self.settings.max_frame_bytes)
        self.batch = FrameBatch(peer=self.host)
        self.inflight: asyncio.Task[bool] | None = None
        self.inflight_frames = 0

    async def run(self) -> None:
        idle = self.settings.idle_timeout.total_seconds()
        last_data = time.monotonic()
        try:
            while True:
                now = time.monotonic()
                if len(self.batch):
                    wait = self.batch.due_in(self.settings, now)
                else:
                    wait = last_data + idle - now
                    if wait <= 0:
                        log.info("syslog %s: closing %s, idle for %ss", self.source.kind, self.peer, idle)
                        return
                try:
                    async with asyncio.timeout(wait):
                        data = await self.reader.read(READ_SIZE)
                except TimeoutError:
                    if len(self.batch):
                        await self._cut()
                    continue
                if not data:
                    return
                last_data = time.monotonic()
                self._add(data)
                if self.batch.full(self.settings):
                    await self._cut()
        except (ConnectionError, ssl.SSLError, OSError) as exc:
            log.info("syslog %s: connection from %s failed: %s", self.source.kind, self.peer, exc)
        except asyncio.CancelledError:
            # stop(): store what was received, then end quietly.
            pass
        finally:
            await self._finish()

    def _add(self, data: bytes) -> None:
        decoded = self.decoder.feed(data)
        self._take(decoded.frames, decoded.rejected, len(data))

    def _take(self, frames: list[bytes], rejected: list[tuple[bytes, str]], nbytes: int) -> None:
        batch = self.batch
        if frames or rejected:
            batch.mark_started()
        batch.frames.extend(frames)
        if rejected:
            sink = self.source.writer.sink
            assert sink is not None
            sink.metrics.syslog_oversize_frames.labels(self.source.kind).inc(len(rejected))
            batch.rejected.extend((raw, reason, self.peer) for raw, reason in rejected)
        batch.nbytes += nbytes

    async def _cut(self) -> None:
        """Hand the filled batch to the sink; first wait for the previous one (this is where reading pauses)."""
        if self.inflight is not None:
            # Shielded: cancelling this connection (stop) must not cancel the batch being stored.
            await asyncio.shield(self.inflight)
            self.inflight = None
        batch, self.batch = self.batch, FrameBatch(peer=self.host)
        if len(batch):
            self.inflight = asyncio.create_task(self.source.writer.write(batch, wait_when_busy=True))
            self.inflight_frames = len(batch)

    async def _finish(self) -> None:
        leftover = self.decoder.finish()
        self._take(leftover.frames, leftover.rejected, 0)
        try:
            await self._cut()
            if self.inflight is not None:
                await asyncio.shield(self.inflight)
        except asyncio.CancelledError:
            # stop() ran out of patience: what is still unstored is lost, and counted.
            lost = len(self.batch)
            if self.inflight is not None and not self.inflight.done():
                self.inflight.cancel()
                lost += self.inflight_frames
            sink = self.source.writer.sink
            if lost and sink is not None:
                sink.metrics.syslog_dropped_frames.labels(self.source.kind, "shutdown").inc(lost)
            raise
