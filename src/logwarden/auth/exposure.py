"""Secure defaults: without authentication the server listens on loopback only, as one implicit local admin.

Binding anywhere else with `auth.enabled` off refuses to start and says what to set; on loopback a warning
says that every local process can read and change everything.
"""

from __future__ import annotations

import ipaddress
import logging

from logwarden.config.loader import ConfigError
from logwarden.config.model import Config

log = logging.getLogger(__name__)


class ExposedWithoutAuthError(ConfigError):
    """The server would accept remote clients without authentication."""


def is_loopback(host: str) -> bool:
    """Whether `host` only accepts connections from this machine (127.0.0.0/8, ::1, localhost)."""
    name = host.strip("[]").lower()
    if name == "localhost":
        return True
    try:
        return ipaddress.ip_address(name).is_loopback
    except ValueError:
        return False  # a host name (or 0.0.0.0 / ::, which are addresses): may be reachable from elsewhere


def refuse_exposure(config: Config) -> None:
    """ExposedWithoutAuthError when `http.host` is not loopback and `auth.enabled` is off (`serve` asks before it
    opens the socket)."""
    host = config.http.host
    if not config.auth.enabled and not is_loopback(host):
        raise ExposedWithoutAuthError(
            f"refusing to listen on {host} without authentication: anyone who reaches the port could read and "
            "change everything. Set auth.enabled: true (env LOGWARDEN_AUTH__ENABLED=true), create an admin with "
            "`logwarden users add NAME --role admin` and keys with `logwarden keys create`; or bind to loopback "
            "(http.host: 127.0.0.1, --http-host 127.0.0.1). See docs/security.md"
        )


def check_exposure(config: Config) -> None:
    """ExposedWithoutAuthError when `http.host` is not loopback and `auth.enabled` is off; else the warning."""
    if config.auth.enabled:
        return
    refuse_exposure(config)
    host = config.http.host
    log.warning(
        "authentication is off (auth.enabled: false): listening on loopback %s only, every request acts as the "
        "single implicit local admin; see docs/security.md to turn it on",
        host,
    )
