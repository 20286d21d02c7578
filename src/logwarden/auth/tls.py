"""HTTPS for the API: an SSLContext built from `http.tls`, checked at start and reloaded on SIGHUP.

uvicorn hands one SSLContext to the listening socket for its whole life, so a reload cannot replace it. The
context given to uvicorn instead has an SNI callback (OpenSSL calls it for every handshake, with or without
SNI) that moves each new connection onto the newest context: connections made after a reload get the new
certificate, open ones keep theirs. A reload that fails (unreadable file, key not matching the certificate)
keeps the previous context and logs why.
"""

from __future__ import annotations

import logging
import ssl
import threading
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from logwarden.config.loader import ConfigError
from logwarden.config.security import TlsConfig

log = logging.getLogger(__name__)

_VERSIONS = {"1.2": ssl.TLSVersion.TLSv1_2, "1.3": ssl.TLSVersion.TLSv1_3}
_CLIENT_AUTH = {"none": ssl.CERT_NONE, "optional": ssl.CERT_OPTIONAL, "require": ssl.CERT_REQUIRED}


class TlsConfigError(ConfigError):
    """A TLS file that cannot be used; the message names the setting and the file."""


def build_context(tls: TlsConfig, source: str = "the configuration") -> ssl.SSLContext:
    """A server SSLContext from `tls` (which must have `cert_file`); TlsConfigError naming the field and file."""
    if tls.cert_file is None:
        raise TlsConfigError(f"{source}: http.tls.cert_file: not set")
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.minimum_version = _VERSIONS[tls.min_version]
    ctx.set_alpn_protocols(["http/1.1"])
    _readable(tls.cert_file, "http.tls.cert_file", source)
    if tls.key_file is not None:
        _readable(tls.key_file, "http.tls.key_file", source)
    password = tls.key_password.get_secret_value() if tls.key_password is not None else None
    try:
        ctx.load_cert_chain(tls.cert_file, tls.key_file, password=password or None)
    except ssl.SSLError as exc:
        where = f"http.tls.cert_file ({tls.cert_file})"
        if tls.key_file is not None:
            where += f" / http.tls.key_file ({tls.key_file})"
        raise TlsConfigError(f"{source}: {where}: cannot load the certificate and its key: {_reason(exc)}") from None
    ctx.verify_mode = _CLIENT_AUTH[tls.client_auth]
    if tls.client_ca_file is not None:
        _readable(tls.client_ca_file, "http.tls.client_ca_file", source)
        try:
            ctx.load_verify_locations(cafile=tls.client_ca_file)
        except ssl.SSLError as exc:
            raise TlsConfigError(
                f"{source}: http.tls.client_ca_file ({tls.client_ca_file}): not a PEM CA bundle: {_reason(exc)}"
            ) from None
    return ctx


def _readable(path: Path, field: str, source: str) -> None:
    try:
        with path.open("rb") as f:
            f.read(1)
    except OSError as exc:
        raise TlsConfigError(f"{source}: {field} ({path}): cannot read: {exc.strerror or exc}") from None


def _reason(exc: ssl.SSLError) -> str:
    return str(exc.reason or exc.strerror or exc).replace("_", " ").lower()


class ReloadableTls:
    """The server's TLS: `context` goes to uvicorn once; `reload()` (on SIGHUP) swaps the certificate that new
    connections get. Built (and so checked) at start: a bad file raises TlsConfigError then."""

    def __init__(self, tls: TlsConfig, source: str = "the configuration") -> None:
        self.tls = tls
        self.source = source
        self.context = build_context(tls, source)
        self._current = self.context
        self._lock = threading.Lock()
        self.reloads = 0  # successful reloads, for tests and logs
        self.context.sni_callback = self._select

    @property
    def current(self) -> ssl.SSLContext:
        """The context new connections use."""
        return self._current

    def reload(self) -> bool:
        """Read the certificate, key and CA files again; True when new connections now use them. A failure
        keeps the previous context and logs why (a half-written certificate must not take HTTPS down)."""
        try:
            fresh = build_context(self.tls, self.source)
        except TlsConfigError as exc:
            log.error("TLS reload failed, keeping the previous certificate: %s", exc)
            return False
        with self._lock:
            self._current = fresh
            self.reloads += 1
        log.info("TLS certificate reloaded from %s", self.tls.cert_file)
        return True

    def _select(self, conn: ssl.SSLObject, server_name: str | None, _ctx: ssl.SSLContext) -> None:
        current = self._current
        if current is not self.context:
            conn.context = current  # this handshake continues with the newest certificate and CA bundle


def peer_names(cert: Mapping[str, Any]) -> tuple[str, ...]:
    """The names a verified peer certificate (`SSLObject.getpeercert()`) answers to: its subject CN, then its
    DNS, email and URI subject alternative names."""
    names: list[str] = []
    for rdn in cert.get("subject", ()):
        names.extend(str(value) for key, value in rdn if key == "commonName")
    for kind, value in cert.get("subjectAltName", ()):
        if kind in ("DNS", "email", "URI"):
            names.append(str(value))
    return tuple(names)


def tls_scope_extension(ssl_object: ssl.SSLObject) -> dict[str, object]:
    """The ASGI `tls` scope extension of one connection (asgiref's TLS extension), plus `client_cert_names`:
    the names of the client's certificate when it was verified against `http.tls.client_ca_file`."""
    peer = ssl_object.getpeercert()  # a dict only for a certificate that passed verification
    der = ssl_object.getpeercert(binary_form=True)
    return {
        "tls_version": None,
        "cipher_suite": None,
        "server_cert": None,
        "client_cert_chain": [ssl.DER_cert_to_PEM_cert(der)] if der else [],
        "client_cert_name": None,
        "client_cert_error": None,
        "client_cert_names": peer_names(peer) if peer else (),
    }
