"""What the `logwarden alerts …` commands share: their --server/--tenant options and one call to a running server's
API, with its failures as one line on stderr (exit status 1)."""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import Any, NoReturn, TypeVar

import click

from logwarden.client_credentials import credential_options, httpx_options

F = TypeVar("F", bound=Callable[..., Any])


def server_options(command: F) -> F:
    """Click options --server and --tenant, and the credentials to send (--api-key, --ca-cert)."""
    command = click.option("--tenant", help="Tenant (sent as X-Scope-OrgID).")(command)
    command = click.option(
        "--server", default="http://127.0.0.1:8080", show_default=True, envvar="LOGWARDEN_SERVER", help="Server URL."
    )(command)
    return credential_options(command)


def fail(message: str) -> NoReturn:
    """One line on stderr, exit status 1."""
    click.echo(f"logwarden: {message}", err=True)
    sys.exit(1)


class ApiAnswerError(Exception):
    """The server answered 4xx/5xx: `str()` is `<status>: <its error message>`."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(f"{status}: {message}")


def request(method: str, server: str, path: str, tenant: str | None, **kwargs: Any) -> Any:
    """The answer's JSON; ApiAnswerError for a 4xx/5xx answer; exits 1 when the server cannot be reached.
    `headers` in `kwargs` are sent beside the tenant's and the credential's."""
    import httpx  # when a command runs: `logwarden --help` does not pay for the HTTP stack

    headers = {"X-Scope-OrgID": tenant} if tenant else {}
    headers |= kwargs.pop("headers", None) or {}
    try:
        response = httpx.request(method, f"{server.rstrip('/')}{path}", timeout=30, **httpx_options(headers), **kwargs)
    except httpx.HTTPError as exc:
        fail(f"cannot reach {server}: {exc}")
    if response.status_code >= 400:
        try:
            message = str(response.json().get("error", response.text))
        except ValueError:
            message = response.text
        raise ApiAnswerError(response.status_code, message)
    return response.json()


def call(method: str, server: str, path: str, tenant: str | None, **kwargs: Any) -> Any:
    """`request`, exiting 1 with the server's answer when it is 4xx/5xx."""
    try:
        return request(method, server, path, tenant, **kwargs)
    except ApiAnswerError as exc:
        fail(str(exc))
