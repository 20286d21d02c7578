"""`logwarden alerts list|ack|unack|history|silence|config …`, through a running server's API. (`logwarden notify test`
starts from a config file, so it lives in the config layer: config/notify_cli.py.)"""

from __future__ import annotations

import sys
from typing import Any

import click

from logwarden.alerting.api_calls import call, server_options
from logwarden.alerting.config_cli import alerting_config
from logwarden.alerting.silence_cli import silence

_output_option = click.option(
    "--output", "-o", type=click.Choice(["table", "json"]), default="table", show_default=True
)


def print_table(title: str, columns: list[str], rows: list[list[Any]]) -> None:
    if not sys.stdout.isatty():
        click.echo("\t".join(columns))
        for row in rows:
            click.echo("\t".join("" if v is None else str(v) for v in row))
        return
    from rich.console import Console
    from rich.table import Table

    table = Table(title=title)
    for c in columns:
        table.add_column(c)
    for row in rows:
        table.add_row(*("" if v is None else str(v) for v in row))
    Console().print(table)


def print_json(value: Any) -> None:
    import orjson

    click.echo(orjson.dumps(value, option=orjson.OPT_INDENT_2).decode())


@click.group()
def alerts() -> None:
    """Alerts on a running server: list, acknowledge, history, silences."""


@alerts.command("list")
@click.option("--rule", help="Only this rule's alerts.")
@server_options
@_output_option
def list_alerts(rule: str | None, server: str, tenant: str | None, output: str) -> None:
    """Pending and firing alerts, with acknowledgement and what mutes them."""
    found = call("GET", server, "/api/v1/alerts", tenant, params={"rule": rule} if rule else None)["alerts"]
    if output == "json":
        print_json(found)
        return
    rows = []
    for a in found:
        labels = " ".join(f"{k}={v}" for k, v in sorted((a.get("labels") or {}).items()) if k != "tenant")
        acked = a.get("acked") or {}
        state = a["status"] + (" (acked)" if acked else "") + (" (muted)" if a.get("muted_by") else "")
        rows.append(
            [a["rule"], state, labels, a.get("value"), a.get("fired_at") or a.get("active_at"), a["fingerprint"]]
        )
    print_table("alerts", ["rule", "state", "labels", "value", "since", "fingerprint"], rows)


@alerts.command()
@click.argument("fingerprint")
@click.option("--by", envvar="USER", required=True, help="Who acknowledges (default $USER).")
@click.option("--comment", default="", help="Why, or what is being done.")
@server_options
def ack(fingerprint: str, by: str, comment: str, server: str, tenant: str | None) -> None:
    """Acknowledge a firing alert: no repeat notifications about it until it resolves."""
    call("POST", server, f"/api/v1/alerts/{fingerprint}/ack", tenant, json={"by": by, "comment": comment})
    click.echo(f"acknowledged {fingerprint}")


@alerts.command()
@click.argument("fingerprint")
@click.option("--by", envvar="USER", default="", help="Who withdraws it (default $USER).")
@server_options
def unack(fingerprint: str, by: str, server: str, tenant: str | None) -> None:
    """Withdraw an acknowledgement: repeat notifications resume."""
    call("DELETE", server, f"/api/v1/alerts/{fingerprint}/ack", tenant, params={"by": by})
    click.echo(f"unacknowledged {fingerprint}")


@alerts.command()
@click.option("--kind", type=click.Choice(["all", "transitions", "deliveries"]), default="all", show_default=True)
@click.option("--rule")
@click.option("--receiver")
@click.option("--since", help="RFC 3339, epoch or now-1h.")
@click.option("--limit", type=click.IntRange(1, 1000), default=50, show_default=True)
@server_options
@_output_option
def history(
    kind: str, rule: str | None, receiver: str | None, since: str | None, limit: int, server: str,
    tenant: str | None, output: str,
) -> None:  # fmt: skip
    """State changes and delivery attempts, newest first."""
    params = {"kind": kind, "limit": limit, "rule": rule, "receiver": receiver, "since": since}
    found = call("GET", server, "/api/v1/alerts/history", tenant, params={k: v for k, v in params.items() if v})
    if output == "json":
        print_json(found)
        return
    if "transitions" in found:
        rows = [[t["at"], t["rule"], t["status"], t["fingerprint"]] for t in found["transitions"]]
        print_table("state changes", ["at", "rule", "status", "fingerprint"], rows)
    if "deliveries" in found:
        rows = [
            [
                d["at"],
                d["receiver"],
                d["integration"],
                d["outcome"],
                d["status_code"],
                d["latency_ms"],
                d["answer"][:60],
            ]
            for d in found["deliveries"]
        ]
        print_table("deliveries", ["at", "receiver", "integration", "outcome", "status", "ms", "answer"], rows)


alerts.add_command(silence)
alerts.add_command(alerting_config)
