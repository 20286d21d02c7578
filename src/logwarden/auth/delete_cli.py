"""What `logwarden delete` shows and asks, and its calls to a running server's admin API.

The command itself (cli.py) decides where the delete runs: on the data dir directly when no server holds it
(the store is opened in the command, the delete recorded in the audit log as `cli:<login name>`), else through
`POST /api/v1/admin/delete` of the server (`--server`, `--api-key`), which records it under the key's name.
Both paths first count (a dry run), show what matches, and ask before deleting unless `--yes`.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, NoReturn

import click

from logwarden.client_credentials import httpx_options

ProgressFn = Callable[[str, int, int], None]


class DeleteCliError(Exception):
    """A failure to report in one line (exit status 2), such as a filter the server refused."""


def fail(message: str) -> NoReturn:
    click.echo(f"logwarden: {message}", err=True)
    sys.exit(2)


def summary(report: dict[str, Any]) -> str:
    """One paragraph for people: how many lines, where."""
    verb = "match" if report["dry_run"] else "deleted"
    hot_tables, files = report["hot_tables"], report["archive_files"]
    lines = [
        f"tenant {report['tenant']}, filter {report['where']!r}: {report['lines']} lines {verb} — "
        f"{report['hot_lines']} in the hot store ({len(hot_tables)} day tables), "
        f"{report['archive_lines']} in {len(files)} archive files"
    ]
    lines += [f"  {f['path']}  {f['lines']} lines" for f in files]
    return "\n".join(lines)


def show(report: dict[str, Any], output: str) -> None:
    """The report on stdout: JSON, or the summary."""
    if output == "json":
        click.echo(json.dumps(report))
    else:
        click.echo(summary(report))


def confirm(report: dict[str, Any], yes: bool) -> bool:
    """Whether to go on with the delete the dry run `report` describes (asks on a terminal, unless `yes`)."""
    if yes:
        return True
    if not sys.stdin.isatty():
        fail("not on a terminal: add --yes to delete without being asked (or --dry-run to only count)")
    return click.confirm(f"Delete these {report['lines']} lines? This cannot be undone", default=False, err=True)


@contextmanager
def progress_bar() -> Iterator[ProgressFn | None]:
    """A rich progress bar on stderr when it is a terminal; nothing when piped."""
    if not sys.stderr.isatty():
        yield None
        return
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    with Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=Console(stderr=True),
        transient=True,
    ) as bar:
        task = bar.add_task("deleting", total=None)

        def advance(step: str, done: int, total: int) -> None:
            bar.update(task, completed=done, total=total, description=step[-60:])

        yield advance


def call_server(server: str, tenant: str, where: str, *, dry_run: bool, compact: bool = False) -> dict[str, Any]:
    """`POST /api/v1/admin/delete` on a running server; DeleteCliError with its message when it refuses."""
    import httpx

    body = {"tenant": tenant, "where": where, "dry_run": dry_run, "compact": compact}
    try:
        # No read timeout for the delete itself: it answers when every table and file is rewritten.
        answer = httpx.post(
            server.rstrip("/") + "/api/v1/admin/delete",
            json=body,
            timeout=httpx.Timeout(30.0, read=None),
            **httpx_options(),
        )
    except httpx.HTTPError as exc:
        raise DeleteCliError(f"cannot reach the server at {server}: {exc}") from None
    if answer.status_code != 200:
        try:
            payload = answer.json()
        except ValueError:
            payload = {"error": answer.text[:200]}
        where_at = f" (column {payload['column']})" if isinstance(payload, dict) and "column" in payload else ""
        message = payload.get("error", answer.text[:200]) if isinstance(payload, dict) else answer.text[:200]
        raise DeleteCliError(f"the server answered {answer.status_code}: {message}{where_at}")
    result = answer.json()
    assert isinstance(result, dict)
    return result
