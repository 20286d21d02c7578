"""The HTTP server around the app: a socket bound before anything is announced, and connections that cannot
be held open for free.

uvicorn closes idle keep-alive connections and answers 503 past `limit_concurrency`, but nothing bounds
how long a client may take to send its headers or its body: one header byte every few seconds holds a
connection (and a file descriptor) forever. `BoundedHttpToolsProtocol` adds those two timeouts and
refuses connections beyond `http.max_connections` as they are accepted.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import resource
import signal
import socket
import ssl
from collections.abc import Callable
from typing import Any

import uvicorn
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from logwarden.auth.tls import tls_scope_extension
from logwarden.config.model import HttpConfig

log = logging.getLogger(__name__)

_REFUSED = (
    b"HTTP/1.1 503 Service Unavailable\r\ncontent-type: text/plain; charset=utf-8\r\nretry-after: 1\r\n"
    b"connection: close\r\ncontent-length: 28\r\n\r\ntoo many connections; retry\n"
)
_TIMED_OUT = (
    b"HTTP/1.1 408 Request Timeout\r\ncontent-type: text/plain; charset=utf-8\r\n"
    b"connection: close\r\ncontent-length: 29\r\n\r\nrequest not received in time\n"
)


class BoundedHttpToolsProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol with a header read timeout, a body read timeout and a connection cap.

    The header timer runs from the connection (or the end of the previous response) until the request's
    headers are complete; the body timer runs while a body is incomplete and restarts at every byte, and
    stands still while uvicorn itself has paused reading (the app is slow, not the client).
    """

    header_timeout: float = 10.0
    body_timeout: float = 30.0
    max_connections: int = 4096

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._read_timer: asyncio.TimerHandle | None = None
        self._request_begun = False  # bytes of a request arrived since the header timer was armed
        self._in_body = False
        self._tls: dict[str, object] | None = None  # the ASGI `tls` extension of an HTTPS connection

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        if len(self.connections) >= self.max_connections:
            # Refused before it costs anything more than the accept: no parser state, no timer.
            transport.write(_REFUSED)
            transport.close()
            self.transport = transport
            return
        super().connection_made(transport)
        ssl_object = transport.get_extra_info("ssl_object")
        if ssl_object is not None:
            self._tls = tls_scope_extension(ssl_object)  # once per connection: the client certificate is fixed
        self._arm_header_timer()

    def connection_lost(self, exc: Exception | None) -> None:
        self._cancel_read_timer()
        super().connection_lost(exc)

    def on_message_begin(self) -> None:
        self._request_begun = True
        super().on_message_begin()

    def on_headers_complete(self) -> None:
        self._cancel_read_timer()
        if self._tls is not None:
            extensions: dict[str, Any] = self.scope.setdefault("extensions", {})
            extensions["tls"] = self._tls
        super().on_headers_complete()
        if self.parser is not None and self.cycle is not None and self.cycle.more_body:
            self._in_body = True
            self._arm_body_timer()

    def on_body(self, body: bytes) -> None:
        super().on_body(body)
        if self._in_body:
            self._arm_body_timer()

    def on_message_complete(self) -> None:
        self._in_body = False
        self._cancel_read_timer()
        super().on_message_complete()
        if self.cycle is not None and self.cycle.response_complete and not self.transport.is_closing():
            self._arm_header_timer()  # answered before the body ended: the next request is due from now

    def on_response_complete(self) -> None:
        super().on_response_complete()
        if not self.transport.is_closing() and not self._in_body:
            self._arm_header_timer()  # the next request's headers are due from now on

    # --- timers -------------------------------------------------------------------------

    def _cancel_read_timer(self) -> None:
        if self._read_timer is not None:
            self._read_timer.cancel()
            self._read_timer = None

    def _arm_header_timer(self) -> None:
        self._cancel_read_timer()
        self._request_begun = False
        self._read_timer = self.loop.call_later(self.header_timeout, self._header_timed_out)

    def _arm_body_timer(self) -> None:
        self._cancel_read_timer()
        self._read_timer = self.loop.call_later(self.body_timeout, self._body_timed_out)

    def _header_timed_out(self) -> None:
        self._read_timer = None
        if self.transport.is_closing():
            return
        if self.cycle is not None and not self.cycle.response_complete:
            return  # a response is still being written: the keep-alive logic takes over after it
        if self._request_begun:
            # Part of a request came: say why it ends. An idle connection is just closed (a 408 there
            # would be read as the answer to the client's next request).
            self.transport.write(_TIMED_OUT)
        self.transport.close()

    def _body_timed_out(self) -> None:
        self._read_timer = None
        if self.transport.is_closing() or not self._in_body:
            return
        if self.flow is not None and self.flow.read_paused:
            self._arm_body_timer()  # uvicorn stopped reading for the app's sake: not the client's fault
            return
        cycle = self.cycle
        if cycle is not None and not cycle.response_started:
            self.transport.write(_TIMED_OUT)
        if cycle is not None:
            # The app sees a disconnect; what it sends after this is dropped.
            cycle.disconnected = True
            cycle.message_event.set()
        self.transport.close()


def bounded_protocol(http: HttpConfig) -> type[BoundedHttpToolsProtocol]:
    """The protocol class uvicorn instantiates per connection, with `http`'s limits."""
    return type(
        "ConfiguredHttpToolsProtocol",
        (BoundedHttpToolsProtocol,),
        {
            "header_timeout": http.header_timeout.total_seconds(),
            "body_timeout": http.body_timeout.total_seconds(),
            "max_connections": http.max_connections,
        },
    )


def bind_socket(host: str, port: int, backlog: int = 2048) -> socket.socket:
    """A listening TCP socket on host:port (OSError when the address is taken or cannot be resolved)."""
    addresses = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
    family, kind, proto, _, address = addresses[0]
    sock = socket.socket(family, kind, proto)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        if family == socket.AF_INET6:
            sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)
        sock.bind(address)
        sock.listen(backlog)
        sock.set_inheritable(True)
    except BaseException:
        sock.close()
        raise
    return sock


def raise_open_files_limit(wanted: int) -> int:
    """Lift the soft RLIMIT_NOFILE to the hard limit (each connection is a file descriptor); the new soft
    limit. A warning when even the hard limit leaves less than `wanted`."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    target = hard if hard != resource.RLIM_INFINITY else max(soft, wanted)
    if soft != resource.RLIM_INFINITY and soft < target:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
            soft = target
        except (ValueError, OSError) as exc:
            log.warning("cannot raise the open files limit from %d to %d: %s", soft, target, exc)
    if soft != resource.RLIM_INFINITY and soft < wanted:
        log.warning(
            "open files limit %d is below http.max_connections + 256 (%d): connections past it fail to be "
            "accepted; raise the hard limit (ulimit -Hn, LimitNOFILE=) or lower http.max_connections",
            soft,
            wanted,
        )
    return int(soft)


class LogwardenServer(uvicorn.Server):
    """uvicorn's server, with SIGTERM/SIGINT ending in exit 0 after a graceful shutdown."""

    def __init__(
        self,
        config: uvicorn.Config,
        *,
        on_exit: list[Callable[[], object]] | None = None,
        stop_requested: Callable[[], bool] | None = None,
        on_hangup: list[Callable[[], object]] | None = None,
    ) -> None:
        super().__init__(config)
        self.on_exit = on_exit or []
        self.stop_requested = stop_requested
        self.on_hangup = on_hangup or []

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        if self.stop_requested is not None and self.stop_requested():
            self.should_exit = True  # a signal came before uvicorn's handlers: start, then shut down at once
        await super().startup(sockets)
        if self.on_hangup:
            # After the lifespan, which may have taken SIGHUP for the config reload: `on_hangup` chains to it.
            with contextlib.suppress(NotImplementedError, RuntimeError, ValueError):
                asyncio.get_running_loop().add_signal_handler(signal.SIGHUP, self._hangup)

    def _hangup(self) -> None:
        for callback in self.on_hangup:
            try:
                callback()
            except Exception:  # one failing reload must not stop the others (or the server)
                log.exception("SIGHUP handler %r failed", callback)

    def handle_exit(self, sig: int, frame: Any) -> None:
        super().handle_exit(sig, frame)
        # uvicorn re-raises the signal after its graceful shutdown; a clean shutdown should exit 0.
        self._captured_signals.clear()
        for callback in self.on_exit:
            callback()


def build_server(
    app: Any,
    http: HttpConfig,
    *,
    log_level: str,
    on_exit: list[Callable[[], object]] | None = None,
    stop_requested: Callable[[], bool] | None = None,
    ssl_context: ssl.SSLContext | None = None,
    on_hangup: list[Callable[[], object]] | None = None,
) -> LogwardenServer:
    """A server for `app` with `http`'s timeouts and connection limit; run it with `run(sockets=[sock])`.
    With `ssl_context` it speaks HTTPS only (auth.tls.ReloadableTls builds one that SIGHUP can reload)."""
    config = uvicorn.Config(
        app,
        http=bounded_protocol(http),
        log_level=log_level,
        access_log=False,
        timeout_keep_alive=max(1, round(http.keep_alive_timeout.total_seconds())),
        # uvicorn counts the connection asking, so +1: max_connections connections can all be served.
        limit_concurrency=http.max_connections + 1,
        timeout_graceful_shutdown=30,
        lifespan="on",
    )
    if ssl_context is not None:
        config.load()  # loaded once here (the server skips it then), so the context given is the one used
        config.ssl = ssl_context
    return LogwardenServer(config, on_exit=on_exit, stop_requested=stop_requested, on_hangup=on_hangup)
