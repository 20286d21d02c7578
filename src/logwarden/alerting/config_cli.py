"""`logwarden alerts config get|set|delete`: a tenant's own alerting config (routing tree, receivers, inhibition
rules, time intervals) on a running server, through `/api/v1/alerting/config`."""

from __future__ import annotations

import sys
from typing import Any

import click

from logwarden.client_credentials import credential_options, httpx_options


def _call(method: str, server: str, tenant: str | None, **kwargs: Any) -> Any:
    import httpx  # when a command runs: `logwarden --help` does not pay for the HTTP stack

    headers = {"X-Scope-OrgID": tenant} if tenant else {}
    headers |= kwargs.pop("headers", {})
    url = f"{server.rstrip('/')}/api/v1/alerting/config"
    try:
        response = httpx.request(method, url, timeout=30, **httpx_options(headers), **kwargs)
    except httpx.HTTPError as exc:
        _fail(f"cannot reach {server}: {exc}")
    if response.status_code >= 400:
        try:
            message = response.json().get("error", response.text)
        except ValueError:
            message = response.text
        _fail(f"{response.status_code}: {message}")
    return response.json()


def _fail(message: str) -> Any:
    click.echo(f"logwarden: {message}", err=True)
    sys.exit(1)


def _options(command: Any) -> Any:
    command = click.option("--tenant", help="Tenant (sent as X-Scope-OrgID).")(command)
    command = click.option(
        "--server", default="http://127.0.0.1:8080", show_default=True, envvar="LOGWARDEN_SERVER", help="Server URL."
    )(command)
    return credential_options(command)


@click.group("config")
def alerting_config() -> None:
    """A tenant's own alerting config (docs/alerting.md, Per-tenant configuration)."""


@alerting_config.command("get")
@_options
def get(server: str, tenant: str | None) -> None:
    """Print the tenant's effective alerting config as YAML (secrets as **********)."""
    import yaml

    body = _call("GET", server, tenant)
    origin = "the config file's (fallback)" if body["fallback"] else f"its own, version {body['version']}"
    click.echo(f"# tenant {body['tenant']}: {origin}")
    click.echo(yaml.safe_dump(body["config"], sort_keys=False, allow_unicode=True), nl=False)


@alerting_config.command("set")
@click.argument("file", type=click.File("rb"))
@_options
def set_(file: Any, server: str, tenant: str | None) -> None:
    """Set the tenant's alerting config from FILE (YAML or JSON; - reads standard input)."""
    body = _call("PUT", server, tenant, content=file.read(), headers={"Content-Type": "application/yaml"})
    changes = ", ".join(
        f"{what.removeprefix('receivers_')}: {', '.join(body[what])}"
        for what in ("receivers_added", "receivers_removed", "receivers_changed")
        if body[what]
    )
    click.echo(f"tenant {body['tenant']}: alerting config version {body['version']} applied ({changes or 'routes'})")


@alerting_config.command("delete")
@_options
def delete(server: str, tenant: str | None) -> None:
    """Remove the tenant's alerting config: it uses the config file's again."""
    body = _call("DELETE", server, tenant)
    click.echo(f"tenant {body['tenant']}: back to the config file's alerting config")
