"""Settings of a syslog source (`type: syslog` in `sources:`, or the deprecated `syslog:` section).

One source is a set of listeners (UDP, TCP, TLS) sharing limits and batching; list several sources to
listen on several port sets. docs/config.md is generated from these docstrings.
"""

from __future__ import annotations

import zoneinfo
from datetime import timedelta
from pathlib import Path
from typing import Annotated, Literal

from pydantic import AfterValidator, Field, field_validator, model_validator

from logwarden.config.sources.base import FrozenSettings, SourceIdentity
from logwarden.model.tenants import check_optional_tenant
from logwarden.model.units import ByteSize, Duration

TenantName = Annotated[str | None, AfterValidator(check_optional_tenant)]


class SyslogUdpConfig(FrozenSettings):
    port: int | None = Field(None, ge=0, le=65535)
    """UDP port to receive syslog datagrams on (one message per datagram); unset means no UDP listener,
    0 picks a free port. `logwarden serve --syslog-udp-port P` sets it."""
    host: str = "127.0.0.1"
    """Address the UDP listener binds to. Loopback by default; use 0.0.0.0 (or ::) to accept other machines."""
    tenant: TenantName = None
    """Tenant of every message received on this listener; unset means ingest.default_tenant."""


class SyslogTcpConfig(FrozenSettings):
    port: int | None = Field(None, ge=0, le=65535)
    """TCP port of the plain-text syslog listener; unset means none, 0 picks a free port.
    `logwarden serve --syslog-tcp-port P` sets it. Frames are octet-counted (RFC 6587 `LEN SP MSG`) or end
    with LF (or NUL); the framing is recognised from the first byte of each connection, so any sender works
    unconfigured."""
    host: str = "127.0.0.1"
    """Address the TCP listener binds to. Loopback by default; use 0.0.0.0 (or ::) to accept other machines."""
    tenant: TenantName = None
    """Tenant of every message received on this listener; unset means ingest.default_tenant."""


class SyslogTlsConfig(FrozenSettings):
    port: int | None = Field(None, ge=0, le=65535)
    """TCP port of the syslog-over-TLS listener (RFC 5425; the standard port is 6514); unset means none.
    Needs cert_file and key_file. Framing as for the plain TCP listener."""
    host: str = "127.0.0.1"
    """Address the TLS listener binds to. Loopback by default; use 0.0.0.0 (or ::) to accept other machines."""
    tenant: TenantName = None
    """Tenant of every message received on this listener; unset means ingest.default_tenant."""
    cert_file: Path | None = None
    """PEM file with the server certificate (and any intermediate certificates after it)."""
    key_file: Path | None = None
    """PEM file with the private key of cert_file (unencrypted)."""
    client_ca_file: Path | None = None
    """PEM file of the CAs that sign client certificates; when set, clients must present a valid certificate
    (mutual TLS). Unset means any client may connect."""
    min_version: str = "1.2"
    """Oldest TLS version accepted: 1.2 or 1.3."""

    @field_validator("min_version")
    @classmethod
    def _version(cls, v: str) -> str:
        if v not in ("1.2", "1.3"):
            raise ValueError("min_version must be '1.2' or '1.3'")
        return v

    @model_validator(mode="after")
    def _needs_certificate(self) -> SyslogTlsConfig:
        if self.port is None:
            return self
        if self.cert_file is None or self.key_file is None:
            raise ValueError("a syslog TLS listener (syslog.tls.port) needs syslog.tls.cert_file and key_file")
        for name, path in (
            ("cert_file", self.cert_file),
            ("key_file", self.key_file),
            ("client_ca_file", self.client_ca_file),
        ):
            if path is not None and not path.is_file():
                raise ValueError(f"syslog.tls.{name}: {path} is not a readable file")
        return self


class SyslogConfig(FrozenSettings):
    udp: SyslogUdpConfig = SyslogUdpConfig()
    tcp: SyslogTcpConfig = SyslogTcpConfig()
    tls: SyslogTlsConfig = SyslogTlsConfig()
    max_frame_bytes: ByteSize = Field(64 * 1024, ge=480)
    """Largest syslog message accepted (RFC 5424 asks receivers to take at least 480 bytes and should take
    2048). A longer frame is stored truncated to this size as a dead letter with the reason; the connection
    goes on with the next frame."""
    max_connections: int = Field(256, ge=1)
    """Open TCP and TLS connections allowed at once (per listener); beyond it new connections are closed at
    once. Together with max_frame_bytes and batch_max_bytes this bounds the memory syslog can take:
    about max_connections × (2 × batch_max_bytes + max_frame_bytes + 64KiB)."""
    idle_timeout: Duration = timedelta(minutes=10)
    """A TCP or TLS connection that sends nothing for this long is closed (after what it sent is stored)."""
    tls_handshake_timeout: Duration = timedelta(seconds=10)
    """A TLS client that has not completed its handshake after this long is disconnected."""
    batch_max_frames: int = Field(10_000, ge=1)
    """Frames gathered into one batch before it is parsed and stored (per connection; one batch at a time
    for the UDP listener)."""
    batch_max_bytes: ByteSize = Field(1024**2, ge=1024)
    """Bytes gathered into one batch before it is parsed and stored."""
    batch_max_delay: Duration = timedelta(milliseconds=20)
    """Longest a received frame waits for its batch to fill before the batch is stored anyway."""
    busy_retry_delay: Duration = timedelta(milliseconds=500)
    """When the store pushes back, a TCP connection stops reading (so the sender's buffers fill up and it
    slows down) and retries the batch after this delay. UDP has no way to push back: the batch is dropped and
    counted in logwarden_syslog_dropped_frames."""
    rfc3164_timezone: str = "UTC"
    """Time zone (IANA name, e.g. Europe/Berlin) of timestamps that carry no offset, as RFC 3164 senders
    send them (`Nov 21 14:03:07`). The year such stamps also lack is the one that puts them nearest the
    receive time."""

    @property
    def enabled(self) -> bool:
        """True when any listener has a port."""
        return any(listener.port is not None for listener in (self.udp, self.tcp, self.tls))

    @field_validator("rfc3164_timezone")
    @classmethod
    def _zone(cls, v: str) -> str:
        try:
            zoneinfo.ZoneInfo(v)
        except (zoneinfo.ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"unknown time zone {v!r}: use an IANA name such as UTC or Europe/Berlin") from None
        return v


class SyslogSourceConfig(SyslogConfig, SourceIdentity):
    """A set of syslog listeners (`type: syslog`) sharing limits and batching; at least one port is set."""

    type: Literal["syslog"] = "syslog"
    """Selects this kind of source."""

    @model_validator(mode="after")
    def _listens_somewhere(self) -> SyslogSourceConfig:
        if not self.enabled:
            raise ValueError("a syslog source needs at least one of udp.port, tcp.port, tls.port")
        return self
