"""Syslog over UDP (RFC 5426): one message per datagram, gathered into batches.

UDP cannot push back on a sender. While a batch is being stored the next one fills; when that one is
full too, the socket stops being read, so datagrams wait in the kernel's receive buffer (enlarged at
start) instead of in memory. A batch the store refuses (busy or failing) is dropped and counted in
logwarden_syslog_dropped_frames.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
import time

from logwarden.config.sources.syslog import SyslogConfig, SyslogUdpConfig
from logwarden.ingest.sink import IngestSink
from logwarden.ingest.syslog.batcher import BatchWriter, FrameBatch
from logwarden.ingest.syslog.tcp import STOP_GRACE_SECONDS, format_peer

log = logging.getLogger(__name__)

# Asked of the kernel for the receive buffer (it caps the value at net.core.rmem_max).
RECEIVE_BUFFER_BYTES = 8 * 1024**2


class SyslogUdpSource:
    """The UDP syslog listener."""

    def __init__(
        self, settings: SyslogConfig, listener: SyslogUdpConfig, tenant: str, *, name: str = "syslog-udp"
    ) -> None:
        self.name = name
        self.settings = settings
        self.listener = listener
        self.writer = BatchWriter(settings, tenant, "udp")
        self.batch = FrameBatch()
        self._transport: asyncio.DatagramTransport | None = None
        self._task: asyncio.Task[None] | None = None
        self._wake = asyncio.Event()
        self._stopping = False
        self._paused = False

    @property
    def port(self) -> int:
        """The bound port (useful when the config asked for port 0)."""
        if self._transport is None:
            raise RuntimeError(f"{self.name} is not listening")
        return int(self._transport.get_extra_info("sockname")[1])

    async def start(self, sink: IngestSink) -> None:
        self.writer.sink = sink
        loop = asyncio.get_running_loop()
        family = socket.AF_INET6 if ":" in self.listener.host else socket.AF_INET
        transport, _ = await loop.create_datagram_endpoint(
            lambda: _UdpProtocol(self), local_addr=(self.listener.host, self.listener.port or 0), family=family
        )
        self._transport = transport
        sock = transport.get_extra_info("socket")
        if sock is not None:
            with contextlib.suppress(OSError):
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, RECEIVE_BUFFER_BYTES)
        self._task = asyncio.create_task(self._flush_loop(), name=f"{self.name}-flush")
        log.info("%s: syslog udp listening on %s:%d", self.name, self.listener.host, self.port)

    async def stop(self) -> None:
        self._stopping = True
        if self._transport is not None:
            self._transport.close()
        self._wake.set()
        if self._task is not None:
            try:
                await asyncio.wait_for(asyncio.shield(self._task), STOP_GRACE_SECONDS)
            except TimeoutError:
                self._task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await self._task
            self._task = None

    def received(self, data: bytes, address: object) -> None:
        if self._stopping:
            return
        batch = self.batch
        batch.mark_started()
        if len(data) > self.settings.max_frame_bytes:
            sink = self.writer.sink
            if sink is not None:
                sink.metrics.syslog_oversize_frames.labels("udp").inc()
            batch.rejected.append(
                (
                    data[: self.settings.max_frame_bytes],
                    f"syslog datagram of {len(data)} bytes exceeds syslog.max_frame_bytes "
                    f"({self.settings.max_frame_bytes}); stored truncated",
                    format_peer(address),
                )
            )
        else:
            batch.frames.append(data)
            batch.peers.append(str(address[0]) if isinstance(address, tuple) else "unknown")
        batch.nbytes += len(data)
        if batch.full(self.settings):
            self._pause()
            self._wake.set()
        elif len(batch) == 1:
            self._wake.set()

    def _pause(self) -> None:
        pause = getattr(self._transport, "pause_reading", None)
        if pause is not None and not self._paused:
            pause()
            self._paused = True

    def _resume(self) -> None:
        resume = getattr(self._transport, "resume_reading", None)
        if resume is not None and self._paused and not self._stopping:
            resume()
        self._paused = False

    async def _flush_loop(self) -> None:
        while True:
            await self._wake.wait()
            self._wake.clear()
            while len(self.batch) and not self.batch.full(self.settings) and not self._stopping:
                wait = self.batch.due_in(self.settings, time.monotonic())
                if wait <= 0:
                    break
                try:
                    async with asyncio.timeout(wait):
                        await self._wake.wait()
                    self._wake.clear()
                except TimeoutError:
                    break
            batch, self.batch = self.batch, FrameBatch()
            self._resume()
            if len(batch):
                await self.writer.write(batch, wait_when_busy=False)
            if self._stopping and not len(self.batch):
                return


class _UdpProtocol(asyncio.DatagramProtocol):
    def __init__(self, source: SyslogUdpSource) -> None:
        self.source = source

    def datagram_received(self, data: bytes, addr: tuple[str | object, int]) -> None:
        self.source.received(data, addr)

    def error_received(self, exc: Exception) -> None:
        log.debug("syslog udp: %s", exc)
