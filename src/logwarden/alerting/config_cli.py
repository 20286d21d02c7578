"""`logwarden alerts config get|set|delete`: a tenant's own alerting config (routing tree, receivers, inhibition
rules, time intervals) on a running server, through `/api/v1/alerting/config`."""

from __future__ import annotations

from typing import Any

import click

from logwarden.alerting.api_calls import call, server_options

_PATH = "/api/v1/alerting/config"


@click.group("config")
def alerting_config() -> None:
    """A tenant's own alerting config (docs/alerting.md, Per-tenant configuration)."""


@alerting_config.command("get")
@server_options
def get(server: str, tenant: str | None) -> None:
    """Print the tenant's effective alerting config as YAML (secrets as **********)."""
    import yaml

    body = call("GET", server, _PATH, tenant)
    origin = "the config file's (fallback)" if body["fallback"] else f"its own, version {body['version']}"
    click.echo(f"# tenant {body['tenant']}: {origin}")
    click.echo(yaml.safe_dump(body["config"], sort_keys=False, allow_unicode=True), nl=False)


@alerting_config.command("set")
@click.argument("file", type=click.File("rb"))
@server_options
def set_(file: Any, server: str, tenant: str | None) -> None:
    """Set the tenant's alerting config from FILE (YAML or JSON; - reads standard input)."""
    body = call("PUT", server, _PATH, tenant, content=file.read(), headers={"Content-Type": "application/yaml"})
    changes = ", ".join(
        f"{what.removeprefix('receivers_')}: {', '.join(body[what])}"
        for what in ("receivers_added", "receivers_removed", "receivers_changed")
        if body[what]
    )
    click.echo(f"tenant {body['tenant']}: alerting config version {body['version']} applied ({changes or 'routes'})")


@alerting_config.command("delete")
@server_options
def delete(server: str, tenant: str | None) -> None:
    """Remove the tenant's alerting config: it uses the config file's again."""
    body = call("DELETE", server, _PATH, tenant)
    click.echo(f"tenant {body['tenant']}: back to the config file's alerting config")
