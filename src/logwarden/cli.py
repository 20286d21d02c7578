"""The `logwarden` command: serve, query."""

from __future__ import annotations

import json
import logging
import sys
from pathlib import Path
from typing import Any

import click
import httpx

from logwarden import __version__
from logwarden.config import ConfigError, load_config

DEFAULT_SERVER = "http://127.0.0.1:8080"


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="logwarden")
def main() -> None:
    """logwarden: ship logs from anywhere, search them, be told when something goes wrong."""


@main.command()
@click.option("--config", "config_path", type=click.Path(dir_okay=False), help="YAML config file (docs/config.md).")
@click.option("--data-dir", help="Directory for the store and archive (default ./data).")
@click.option("--http-host", help="Address to bind (default 127.0.0.1).")
@click.option("--http-port", type=int, help="Port to bind (default 8080).")
@click.option("--syslog-udp-port", type=int, help="Receive syslog over UDP on this port (default off).")
@click.option("--syslog-tcp-port", type=int, help="Receive syslog over TCP on this port (default off).")
def serve(
    config_path: str | None,
    data_dir: str | None,
    http_host: str | None,
    http_port: int | None,
    syslog_udp_port: int | None,
    syslog_tcp_port: int | None,
) -> None:
    """Run the server with everything embedded (HTTP ingest, DuckDB store, archive, search)."""
    try:
        config = load_config(
            config_path,
            overrides={
                "data_dir": data_dir,
                "http.host": http_host,
                "http.port": http_port,
                "syslog.udp.port": syslog_udp_port,
                "syslog.tcp.port": syslog_tcp_port,
            },
        )
    except ConfigError as exc:
        click.echo(f"logwarden: {exc}", err=True)
        sys.exit(2)
    import uvicorn

    from logwarden.api.app import create_app

    logging.basicConfig(
        level=config.log_level.upper(),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    try:
        app = create_app(config, config_path=Path(config_path) if config_path else None)
    except ConfigError as exc:
        click.echo(f"logwarden: {exc}", err=True)
        sys.exit(2)

    class _Server(uvicorn.Server):
        # uvicorn re-raises SIGTERM after its graceful shutdown; a clean shutdown should exit 0.
        def handle_exit(self, sig: int, frame: Any) -> None:
            super().handle_exit(sig, frame)
            self._captured_signals.clear()

    click.echo(
        f"logwarden {__version__} listening on http://{config.http.host}:{config.http.port} "
        f"(data in {config.data_dir})",
        err=True,
    )
    server = _Server(
        uvicorn.Config(
            app,
            host=config.http.host,
            port=config.http.port,
            log_level=config.log_level.lower(),
            access_log=False,
            timeout_graceful_shutdown=30,
            lifespan="on",
        )
    )
    server.run()
    if not server.started:
        sys.exit(1)


@main.command()
@click.argument("text", required=False, default="")
@click.option("--server", default=DEFAULT_SERVER, show_default=True, envvar="LOGWARDEN_SERVER")
@click.option("--since", default="1h", show_default=True, help="Start: relative (15m, 2h, 7d) or RFC 3339.")
@click.option("--until", "until", default=None, help="End: relative or RFC 3339 (default now).")
@click.option("--service", help="Only these services (comma-separated).")
@click.option("--level", help="Only these levels (comma-separated).")
@click.option("--host", help="Only these hosts (comma-separated).")
@click.option("--limit", default=100, show_default=True, type=int)
@click.option("--tenant", help="Tenant (sent as X-Scope-OrgID).")
@click.option("--output", "-o", type=click.Choice(["text", "json", "ndjson"]), default="text", show_default=True)
def query(
    text: str,
    server: str,
    since: str,
    until: str | None,
    service: str | None,
    level: str | None,
    host: str | None,
    limit: int,
    tenant: str | None,
    output: str,
) -> None:
    """Search a running server: lines whose message contains every word of TEXT, newest first."""
    params: dict[str, Any] = {"q": text, "start": since, "limit": limit}
    for key, value in (("end", until), ("service", service), ("level", level), ("host", host)):
        if value:
            params[key] = value
    headers = {"X-Scope-OrgID": tenant} if tenant else {}
    try:
        resp = httpx.get(f"{server.rstrip('/')}/api/v1/search", params=params, headers=headers, timeout=60)
    except httpx.HTTPError as exc:
        click.echo(f"logwarden: cannot reach {server}: {exc}", err=True)
        sys.exit(1)
    if resp.status_code != 200:
        try:
            message = resp.json().get("error", resp.text)
        except ValueError:
            message = resp.text
        click.echo(f"logwarden: {resp.status_code}: {message}", err=True)
        sys.exit(1)
    body = resp.json()
    if output == "json":
        click.echo(json.dumps(body, indent=2))
        return
    for hit in reversed(body["hits"]):
        if output == "ndjson":
            click.echo(json.dumps(hit, separators=(",", ":")))
        else:
            click.echo(_format_hit(hit))
    if output == "text":
        click.echo(f"-- {len(body['hits'])} of {body['total']} matching lines", err=True)


def _format_hit(hit: dict[str, Any]) -> str:
    parts = [hit["ts"], f"{hit.get('level') or '-':5}", hit.get("service") or "-"]
    if hit.get("host"):
        parts.append(hit["host"])
    line = " ".join(parts) + " " + (hit.get("message") or "")
    attrs = hit.get("attrs") or {}
    if attrs:
        line += "  " + " ".join(f"{k}={json.dumps(v) if not isinstance(v, str) else v}" for k, v in attrs.items())
    return line


@main.command()
@click.option(
    "--config", "config_path", required=True, type=click.Path(dir_okay=False), help="Agent YAML config (docs/agent.md)."
)
@click.option("--check", is_flag=True, help="Only validate the config file, then exit.")
def agent(config_path: str, check: bool) -> None:
    """Tail log files and ship them to a logwarden server (like Filebeat or Promtail)."""
    from logwarden.agent.config import load_agent_config

    try:
        config = load_agent_config(config_path)
    except ConfigError as exc:
        click.echo(f"logwarden agent: {exc}", err=True)
        sys.exit(2)
    if check:
        click.echo(f"{config_path}: valid ({len(config.inputs)} inputs → {config.output.url})")
        return
    from logwarden.agent.runner import run_agent

    sys.exit(run_agent(config))


from logwarden.pipeline.cli import pipeline  # noqa: E402 - the group is defined beside its code

main.add_command(pipeline)
