"""Credentials of the client commands (`query`, `tail`, `alerts`, `silence`, `rules backtest`): an API key sent as
a bearer token and the CA that signs an HTTPS server's certificate.

`@credential_options` adds `--api-key` (env `LOGWARDEN_API_KEY`) and `--ca-cert` (env `LOGWARDEN_CA_CERT`) to a
command without changing its function's parameters; the code that makes the request asks `httpx_options()`.
"""

from __future__ import annotations

import functools
import os
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TypeVar

import click

if TYPE_CHECKING:
    import ssl

F = TypeVar("F", bound=Callable[..., Any])
_META_KEY = "logwarden.client_credentials"


@dataclass(frozen=True, slots=True)
class ClientCredentials:
    """What a client command sends: `api_key` as `Authorization: Bearer`, and `ca_cert` to verify HTTPS."""

    api_key: str | None = None
    ca_cert: str | None = None


def credential_options(command: F) -> F:
    """Click options `--api-key` and `--ca-cert` for a command that talks to a server (put it under the
    command decorator); their values are kept in the click context for `httpx_options()`."""

    @functools.wraps(command)
    def with_credentials(*args: Any, api_key: str | None, ca_cert: str | None, **kwargs: Any) -> Any:
        click.get_current_context().meta[_META_KEY] = ClientCredentials(api_key or None, ca_cert or None)
        return command(*args, **kwargs)

    decorated = click.option(
        "--ca-cert",
        envvar="LOGWARDEN_CA_CERT",
        type=click.Path(dir_okay=False),
        help="PEM CA bundle that signs an https:// server's certificate (default: the system's CAs).",
    )(with_credentials)
    decorated = click.option(
        "--api-key",
        envvar="LOGWARDEN_API_KEY",
        help="API key sent as 'Authorization: Bearer' (env LOGWARDEN_API_KEY; `logwarden keys create`).",
    )(decorated)
    return decorated  # type: ignore[return-value]


def current_credentials() -> ClientCredentials:
    """The running command's credentials; outside a command, the environment's."""
    ctx = click.get_current_context(silent=True)
    found = ctx.meta.get(_META_KEY) if ctx is not None else None
    if isinstance(found, ClientCredentials):
        return found
    return ClientCredentials(os.environ.get("LOGWARDEN_API_KEY") or None, os.environ.get("LOGWARDEN_CA_CERT") or None)


def auth_headers(credentials: ClientCredentials | None = None) -> dict[str, str]:
    """`Authorization: Bearer <key>` when an API key was given, else nothing."""
    creds = credentials or current_credentials()
    return {"Authorization": f"Bearer {creds.api_key}"} if creds.api_key else {}


def tls_verify(credentials: ClientCredentials | None = None) -> ssl.SSLContext | bool:
    """httpx's `verify`: a context trusting `--ca-cert` when given, else the default (system CAs).
    A CA file that cannot be read is a usage error (click.UsageError names the option and the file)."""
    creds = credentials or current_credentials()
    if not creds.ca_cert:
        return True
    import ssl  # here: `logwarden --help` must not pay for it

    try:
        return ssl.create_default_context(cafile=creds.ca_cert)
    except (OSError, ValueError) as exc:  # ssl.SSLError is an OSError
        raise click.UsageError(f"--ca-cert {creds.ca_cert}: cannot use it as a CA bundle: {exc}") from None


def httpx_options(headers: dict[str, str] | None = None) -> dict[str, Any]:
    """Keyword arguments for `httpx.request`/`httpx.stream`: `headers` plus the credential, and `verify`."""
    return {"headers": {**(headers or {}), **auth_headers()}, "verify": tls_verify()}
