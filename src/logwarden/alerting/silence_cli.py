"""`logwarden alerts silence add|list|expire`: silences on a running server, through its API (/api/v1/silences).

    logwarden alerts silence add service=api severity=warning --duration 2h --comment "deploying 1.4"
    logwarden alerts silence list --state active
    logwarden alerts silence expire 3f2a…

A bare word among the matchers is an alert name (`add error-burst …` is `alertname="error-burst"`), as in amtool.
"""

from __future__ import annotations

import re
import sys
from typing import Any

import click

from logwarden.alerting.api_calls import ApiAnswerError, call, request, server_options

_BARE_NAME = re.compile(r"^[A-Za-z0-9_.:-]+$")
_COLUMNS = ["ID", "STATE", "MATCHERS", "STARTS", "ENDS", "CREATED BY", "COMMENT"]


def matcher_texts(args: tuple[str, ...]) -> list[str]:
    """The matchers of `add` as texts (a bare word is `alertname="word"`); click.BadParameter for a wrong one."""
    from logwarden.alerting.matchers import parse_matchers, split_matchers

    texts = []
    for arg in args:
        parts = split_matchers(arg) if arg.strip().startswith("{") else [arg]
        for part in parts:
            texts.append(f'alertname="{part}"' if _BARE_NAME.match(part) else part)
    try:
        parse_matchers(texts)
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="MATCHER") from None
    return texts


@click.group("silence")
def silence() -> None:
    """Silences on a running server: mute the alerts that match label matchers for a while."""


@silence.command("add")
@click.argument("matchers", nargs=-1, required=True)
@click.option("--duration", "-d", help="How long it lasts: 2h, 30m, 1d12h (default 1h unless --until is given).")
@click.option("--until", help="When it ends instead: RFC 3339 (2026-03-02T18:00:00Z) or now+2h.")
@click.option("--start", help="When it starts (default now): RFC 3339 or now+30m.")
@click.option("--comment", "-c", required=True, help="Why the alerts are silenced.")
@click.option("--author", "-a", envvar="USER", default="", help="Who makes the silence (default $USER).")
@server_options
def add(
    matchers: tuple[str, ...],
    duration: str | None,
    until: str | None,
    start: str | None,
    comment: str,
    author: str,
    server: str,
    tenant: str | None,
) -> None:
    """Silence the alerts matching every MATCHER (`service=api`, `severity=~"warning|info"`, `host!=web-1`, or
    an alert name). Prints the new silence's id."""
    if duration is not None and until is not None:
        raise click.UsageError("give --duration or --until, not both")
    if not author.strip():
        raise click.UsageError("--author: say who makes the silence ($USER is not set)")
    body: dict[str, Any] = {"matchers": matcher_texts(matchers), "created_by": author, "comment": comment}
    if start is not None:
        body["starts_at"] = start
    if until is not None:
        body["ends_at"] = until
    else:
        body["duration"] = duration or "1h"
    made = call("POST", server, "/api/v1/silences", tenant, json=body)
    click.echo(made["id"])
    click.echo(f"silenced {_matchers(made)} until {made['ends_at']} ({made['state']})", err=True)


@silence.command("list")
@click.option("--state", type=click.Choice(["active", "pending", "expired"]), help="Only silences in this state.")
@click.option("--output", "-o", type=click.Choice(["table", "json"]), default="table", show_default=True)
@click.option("--quiet", "-q", is_flag=True, help="Only the ids, one a line.")
@server_options
def list_silences(state: str | None, output: str, quiet: bool, server: str, tenant: str | None) -> None:
    """The tenant's silences: active ones (by end), pending ones (by start), expired ones (latest first)."""
    found = call("GET", server, "/api/v1/silences", tenant, params={"state": state} if state else None)
    silences: list[dict[str, Any]] = found["silences"]
    if quiet:
        for s in silences:
            click.echo(s["id"])
    elif output == "json":
        import orjson

        click.echo(orjson.dumps(silences, option=orjson.OPT_INDENT_2).decode())
    else:
        render_table(silences, terminal=sys.stdout.isatty())


@silence.command("expire")
@click.argument("ids", nargs=-1, required=True)
@server_options
def expire(ids: tuple[str, ...], server: str, tenant: str | None) -> None:
    """End the silences with these IDS now (they stay listed as expired for a while)."""
    failed = False
    for silence_id in ids:
        try:
            request("DELETE", server, f"/api/v1/silences/{silence_id}", tenant)
        except ApiAnswerError as exc:
            click.echo(f"logwarden: {silence_id}: {exc}", err=True)
            failed = True
            continue
        click.echo(f"expired {silence_id}")
    if failed:
        sys.exit(1)


def _matchers(silence: dict[str, Any]) -> str:
    from logwarden.alerting.matchers import Matcher

    return ", ".join(str(Matcher.create(m["name"], m["type"], m["value"])) for m in silence["matchers"])


def _rows(silences: list[dict[str, Any]]) -> list[list[str]]:
    return [
        [
            s["id"],
            s.get("state", ""),
            _matchers(s),
            s["starts_at"],
            s["ends_at"],
            s["created_by"],
            " ".join(s["comment"].split()),  # one line per silence
        ]
        for s in silences
    ]


def render_table(silences: list[dict[str, Any]], *, terminal: bool) -> None:
    """The silences as a rich table on a terminal, else tab-separated lines under a header (for scripts)."""
    rows = _rows(silences)
    if not terminal:
        for row in [_COLUMNS, *rows]:
            click.echo("\t".join(row))
        return
    from rich.console import Console
    from rich.table import Table

    table = Table(title="silences")
    for column in _COLUMNS:
        table.add_column(column, overflow="fold")
    for row in rows:
        table.add_row(*row)
    Console().print(table)
