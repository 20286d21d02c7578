"""The `logwarden` command: serve, query, tail, agent, pipeline, meta.

Only click is imported at module load: `--version` and `--help` must answer at once, so each command
imports what it needs (httpx, the config models, the server) when it runs.
"""

from __future__ import annotations

import json
import queue
import signal
import sys
import threading
from collections.abc import Callable, Iterable, Iterator
from typing import TYPE_CHECKING, Any, TypeVar

import click

from logwarden import __version__
from logwarden.cli_support import fail as _fail
from logwarden.cli_support import load_server_config as _load_server_config
from logwarden.client_credentials import credential_options, httpx_options

if TYPE_CHECKING:
    from logwarden.config.model import Config

DEFAULT_SERVER = "http://127.0.0.1:8080"
T = TypeVar("T")


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="logwarden")
def main() -> None:
    """logwarden: ship logs from anywhere, search them, be told when something goes wrong."""


class _EarlySignals:
    """SIGTERM and SIGINT that come while the server starts, before uvicorn installs its own handlers:
    remembered, so that they stop the server cleanly (exit 0) instead of killing the process half-way."""

    def __init__(self) -> None:
        self.received: list[int] = []
        for sig in (signal.SIGINT, signal.SIGTERM):
            signal.signal(sig, self._record)

    def _record(self, sig: int, frame: Any) -> None:
        self.received.append(sig)


@main.command()
@click.option("--config", "config_path", type=click.Path(), help="YAML config file (docs/config.md).")
@click.option("--data-dir", help="Directory for the store and archive (default ./data).")
@click.option("--http-host", help="Address to bind (default 127.0.0.1).")
@click.option("--http-port", type=int, help="Port to bind (default 8080).")
@click.option("--syslog-udp-port", type=int, help="Receive syslog over UDP on this port (default off).")
@click.option("--syslog-tcp-port", type=int, help="Receive syslog over TCP on this port (default off).")
@click.option("--rules", "rules_dir", type=click.Path(), help="Directory of alert rule files (docs/rules.md).")
def serve(
    config_path: str | None,
    data_dir: str | None,
    http_host: str | None,
    http_port: int | None,
    syslog_udp_port: int | None,
    syslog_tcp_port: int | None,
    rules_dir: str | None,
) -> None:
    """Run the server with everything embedded (HTTP ingest, DuckDB store, archive, search).

    Exit status 2 when it cannot start (invalid or unreadable config, data dir in use, port taken).
    """
    early = _EarlySignals()  # a SIGTERM while starting stops the server cleanly, exit 0
    from logwarden.memory import tune_allocators

    tune_allocators()  # before any thread starts: threads each take a glibc arena that keeps its freed pages
    config = _load_server_config(
        config_path,
        {
            "data_dir": data_dir,
            "http.host": http_host,
            "http.port": http_port,
            "syslog.udp.port": syslog_udp_port,
            "syslog.tcp.port": syslog_tcp_port,
            "rules.dir": rules_dir,
        },
    )
    from logwarden.store.datadir_lock import DataDirLock, DataDirLockedError

    lock = DataDirLock(config.data_dir)
    try:
        lock.acquire()
    except DataDirLockedError as exc:
        _fail(f"{exc}; stop it first or use another --data-dir")
    except OSError as exc:
        _fail(f"cannot use data dir {config.data_dir}: {exc.strerror or exc}")
    try:
        _serve_locked(config, config_path, early)
    finally:
        lock.release()


def _serve_locked(config: Config, config_path: str | None, early: _EarlySignals) -> None:
    import errno
    import logging
    from pathlib import Path

    from logwarden.api.server import bind_socket, build_server, raise_open_files_limit
    from logwarden.config.loader import ConfigError

    logging.basicConfig(
        level=config.log_level.upper(),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    kafka_entries = [e for e in config.all_sources() if e.type == "kafka" and e.enabled]
    for index, entry in enumerate(kafka_entries):
        from logwarden.ingest.kafka.source import KafkaSourceError, check_consumer_settings

        try:
            check_consumer_settings(entry)
        except KafkaSourceError as exc:
            # The deprecated `kafka:` section, when set, is the first Kafka entry of all_sources().
            legacy = config.kafka.enabled and index == 0
            where = "kafka.consumer" if legacy else f"sources[{entry.name}].consumer"
            _fail(f"{exc} ({where} in {config_path or 'the configuration'})")
    from logwarden.auth.exposure import refuse_exposure
    from logwarden.auth.tls import ReloadableTls

    try:
        refuse_exposure(config)  # before the socket opens: a refused start never listened anywhere
        # Checked (every file read) before the socket opens too; SIGHUP reloads it.
        tls = ReloadableTls(config.http.tls, config_path or "the configuration") if config.http.tls.enabled else None
    except ConfigError as exc:
        _fail(str(exc))
    raise_open_files_limit(config.http.max_connections + 256)
    host, port = config.http.host, config.http.port
    try:
        sock = bind_socket(host, port)
    except OSError as exc:
        hint = "; another process listens there: stop it or choose --http-port" if exc.errno == errno.EADDRINUSE else ""
        _fail(f"cannot listen on {host}:{port}: {exc.strerror or exc}{hint}")
    with sock:
        from logwarden.api.app import create_app  # the whole server stack: imported once the port is ours

        try:
            app = create_app(config, config_path=Path(config_path) if config_path else None)
        except ConfigError as exc:
            _fail(str(exc))
        bound_port = sock.getsockname()[1]
        shown = f"[{host}]" if ":" in host else host
        scheme = "https" if tls is not None else "http"
        click.echo(
            f"logwarden {__version__} listening on {scheme}://{shown}:{bound_port} (data in {config.data_dir})",
            err=True,
        )
        hangup: list[Callable[[], object]] = []
        if tls is not None:

            def reload_config() -> None:
                trigger = getattr(app.state, "reload_config", None)  # set by the lifespan (with a config file)
                if trigger is not None:
                    trigger()

            hangup = [tls.reload, reload_config]  # SIGHUP: new certificates, and the config reload
        server = build_server(
            app,
            config.http,
            log_level=config.log_level.lower(),
            # Open live-tail streams would otherwise hold the graceful shutdown for its whole timeout.
            on_exit=[app.state.runtime.tail.close_threadsafe],
            # A signal that came while starting: start (the lifespan opens and closes the store), then stop.
            stop_requested=lambda: bool(early.received),
            ssl_context=tls.context if tls is not None else None,
            on_hangup=hangup,
        )
        server.run(sockets=[sock])
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
@click.option(
    "--output", "-o", type=click.Choice(["table", "text", "json", "ndjson"]), default="table", show_default=True
)
@credential_options
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
    """Run a search-language query on a running server (docs/query.md).

    Example: logwarden query 'level:error | stats count() by service' --since 24h
    """
    clauses = []
    for name, value in (("service", service), ("level", level), ("host", host)):
        if value:
            values = [v.strip() for v in value.split(",") if v.strip()]
            clauses.append(f"{name}:(" + " OR ".join(json.dumps(v) for v in values) + ")")
    search, pipes = _split_pipes(text)
    q = " ".join([*clauses, f"({search.strip()})" if search.strip() and clauses else search.strip()]).strip()
    if pipes:
        q += " " + pipes
    body: dict[str, Any] = {"q": q, "start": since, "limit": limit}
    if until:
        body["end"] = until
    headers = {"X-Scope-OrgID": tenant} if tenant else {}
    import httpx

    try:
        resp = httpx.post(f"{server.rstrip('/')}/api/v1/query", json=body, timeout=60, **httpx_options(headers))
    except httpx.HTTPError as exc:
        click.echo(f"logwarden: cannot reach {server}: {exc}", err=True)
        sys.exit(1)
    if resp.status_code != 200:
        try:
            error = resp.json()
            message = error.get("error", resp.text)
            if "column" in error:
                message = f"{message}\n  {q}\n  {' ' * (int(error['column']) - 1)}^"
        except ValueError:
            message = resp.text
        click.echo(f"logwarden: {resp.status_code}: {message}", err=True)
        sys.exit(1)
    result = resp.json()
    if output == "json":
        click.echo(json.dumps(result, indent=2))
        return
    if result.get("kind") == "table":
        names = [c["name"] for c in result["columns"]]
        if output == "ndjson":
            for row in result["rows"]:
                click.echo(json.dumps(dict(zip(names, row, strict=True)), separators=(",", ":")))
            return
        click.echo(_format_table(names, result["rows"]))
        return
    for hit in reversed(result["hits"]):
        if output == "ndjson":
            click.echo(json.dumps(hit, separators=(",", ":")))
        else:
            click.echo(_format_hit(hit) if "ts" in hit and "message" in hit else json.dumps(hit))
    if output in ("table", "text"):
        click.echo(f"-- {len(result['hits'])} of {result['total']} matching lines", err=True)


@main.command()
@click.option("--server", default=DEFAULT_SERVER, show_default=True, envvar="LOGWARDEN_SERVER")
@click.option("--since", default="1h", show_default=True, help="The window before now (15m, 2h, 7d).")
@click.option("--until", "until", default=None, help="End of the window: relative or RFC 3339 (default now).")
@click.option("--tenant", help="Tenant (sent as X-Scope-OrgID).")
@click.option("--output", "-o", type=click.Choice(["markdown", "json"]), default="markdown", show_default=True)
@credential_options
def report(server: str, since: str, until: str | None, tenant: str | None, output: str) -> None:
    """Summarize a running server's recent logs as markdown (docs/patterns.md, "Reports").

    Example: logwarden report --since 1h
    """
    import httpx

    params = {"since": since, **({"end": until} if until else {})}
    headers = {"X-Scope-OrgID": tenant} if tenant else {}
    try:
        resp = httpx.get(f"{server.rstrip('/')}/api/v1/report", params=params, timeout=120, **httpx_options(headers))
    except httpx.HTTPError as exc:
        _fail(f"cannot reach {server}: {exc}")
    if resp.status_code != 200:
        try:
            message = resp.json().get("error", resp.text)
        except ValueError:
            message = resp.text
        _fail(f"{resp.status_code}: {message}")
    body = resp.json()
    click.echo(json.dumps(body, indent=2) if output == "json" else body["markdown"].rstrip("\n"))


def _split_pipes(text: str) -> tuple[str, str]:
    """(filter, "| pipes…") at the first `|` outside a quoted phrase."""
    quoted = escaped = False
    for i, ch in enumerate(text):
        if escaped:
            escaped = False
        elif ch == "\\":
            escaped = True
        elif ch == '"':
            quoted = not quoted
        elif ch == "|" and not quoted:
            return text[:i], text[i:]
    return text, ""


def _format_table(names: list[str], rows: list[list[Any]]) -> str:
    cells = [names, *[["" if v is None else str(v) for v in row] for row in rows]]
    widths = [max(len(r[i]) for r in cells) for i in range(len(names))]
    lines = ["  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip() for r in cells]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)


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
@click.argument("text", required=False, default="")
@click.option("--server", default=DEFAULT_SERVER, show_default=True, envvar="LOGWARDEN_SERVER")
@click.option("--tenant", help="Tenant (sent as X-Scope-OrgID).")
@click.option("--output", "-o", type=click.Choice(["text", "json"]), default="text", show_default=True)
@credential_options
def tail(text: str, server: str, tenant: str | None, output: str) -> None:
    """Follow new lines that match the query TEXT as they arrive (live tail), until Ctrl-C."""
    import httpx

    headers = {"Accept": "text/event-stream", **({"X-Scope-OrgID": tenant} if tenant else {})}
    url = f"{server.rstrip('/')}/api/v1/tail"
    try:
        with httpx.stream(
            "GET", url, params={"q": text}, timeout=httpx.Timeout(10, read=None), **httpx_options(headers)
        ) as resp:
            if resp.status_code != 200:
                resp.read()
                try:
                    message = resp.json().get("error", resp.text)
                except ValueError:
                    message = resp.text
                click.echo(f"logwarden: {resp.status_code}: {message}", err=True)
                sys.exit(1)
            click.echo(f"-- following {text or 'all lines'} on {server} (Ctrl-C to stop)", err=True)
            for event, data in _in_background(_sse_events(resp.iter_lines())):
                if event == "dropped":
                    click.echo(f"-- {json.loads(data)['dropped']} lines dropped so far (reading too slowly)", err=True)
                elif output == "json":
                    click.echo(data)
                else:
                    click.echo(_format_hit(json.loads(data)))
    except KeyboardInterrupt:
        return
    except httpx.HTTPError as exc:
        click.echo(f"logwarden: connection to {server} failed: {exc}", err=True)
        sys.exit(1)
    click.echo("logwarden: the server ended the stream (shutting down?)", err=True)
    sys.exit(1)


def _in_background(items: Iterator[T]) -> Iterator[T]:
    """Iterate in a daemon thread. Native library threads may take SIGINT; a main thread blocked forever in a
    socket read would then never see Ctrl-C, so it waits on a queue with a timeout instead."""
    out: queue.Queue[tuple[T] | BaseException | None] = queue.Queue(maxsize=1024)

    def pump() -> None:
        try:
            for item in items:
                out.put((item,))
            out.put(None)
        except BaseException as exc:
            out.put(exc)

    threading.Thread(target=pump, name="logwarden-tail", daemon=True).start()
    while True:
        try:
            got = out.get(timeout=0.25)
        except queue.Empty:
            continue
        if got is None:
            return
        if isinstance(got, BaseException):
            raise got
        yield got[0]


def _sse_events(lines: Iterable[str]) -> Iterator[tuple[str, str]]:
    """(event, data) pairs from Server-Sent Events lines; comments (heartbeats) are skipped."""
    event, data = "message", list[str]()
    for line in lines:
        if line == "":
            if data:
                yield event, "\n".join(data)
            event, data = "message", list[str]()
        elif line.startswith(":"):
            continue
        else:
            name, _, value = line.partition(":")
            value = value[1:] if value.startswith(" ") else value
            if name == "event":
                event = value
            elif name == "data":
                data.append(value)


@main.command()
@click.option(
    "--config", "config_path", required=True, type=click.Path(dir_okay=False), help="Agent YAML config (docs/agent.md)."
)
@click.option("--check", is_flag=True, help="Only validate the config file, then exit.")
def agent(config_path: str, check: bool) -> None:
    """Tail log files and ship them to a logwarden server (like Filebeat or Promtail)."""
    from logwarden.agent.config import load_agent_config
    from logwarden.config.loader import ConfigError

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


@main.command()
@click.option("--port", default=8080, show_default=True, type=int, help="HTTP port of the demo server (0: any free).")
@click.option(
    "--schedule",
    type=click.Choice(["standard", "short"]),
    default="standard",
    show_default=True,
    help="Incidents every 4 minutes with 30 s rule windows, or every 40 s with 10 s windows.",
)
@click.option("--history", "history_minutes", default=30, show_default=True, type=int, help="Minutes of past traffic.")
@click.option("--no-browser", is_flag=True, help="Only print the console's URL.")
@click.option("--keep", is_flag=True, help="Keep the temporary data dir when stopping (its path is printed).")
@click.option("--duration", type=float, help="Stop after this many seconds (default: at Ctrl-C).")
def demo(port: int, schedule: str, history_minutes: int, no_browser: bool, keep: bool, duration: float | None) -> None:
    """Try logwarden: a server on a temporary data dir, realistic traffic with incidents, sample rules, and the
    notifications printed here. Opens the console when a display exists."""
    from logwarden.demo.generator import DemoSchedule
    from logwarden.demo.runner import DemoOptions, run_demo

    options = DemoOptions(
        port=port,
        schedule=DemoSchedule.short() if schedule == "short" else DemoSchedule(),
        history_minutes=history_minutes,
        open_browser=not no_browser,
        keep=keep,
        duration=duration,
    )
    sys.exit(run_demo(options, click.echo))


from logwarden.alerting.cli import alerts  # noqa: E402 - the group is defined beside its code
from logwarden.auth.cli import keys, users  # noqa: E402 - the groups are defined beside their code
from logwarden.config.meta_cli import meta  # noqa: E402 - it starts from a config file
from logwarden.config.notify_cli import notify  # noqa: E402 - it starts from a config file
from logwarden.config.pipeline_cli import pipeline  # noqa: E402 - the group is defined beside its code
from logwarden.delete_command import delete_command  # noqa: E402 - defined beside its code
from logwarden.rules.cli import rules  # noqa: E402 - the group is defined beside its code

main.add_command(meta)
main.add_command(alerts)
main.add_command(notify)
main.add_command(rules)
main.add_command(pipeline)
main.add_command(users)
main.add_command(keys)
main.add_command(delete_command)
