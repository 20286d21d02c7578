"""`logwarden rules check DIR` (validate a directory of rule files and list what it defines), `rules test FILE...`
(run rule unit tests: rules/testing.py) and `rules backtest RULE` (replay a rule on a running server's lines:
rules/backtest.py)."""

from __future__ import annotations

import json
import sys
from datetime import timedelta
from pathlib import Path
from typing import Any, NoReturn

import click

from logwarden.client_credentials import credential_options, httpx_options

# The rule models (pydantic, lark, jinja2) are imported when the command runs, so `logwarden --help` stays fast.


@click.group()
def rules() -> None:
    """Check, test and backtest alert rule files (docs/rules.md)."""


@rules.command()
@click.argument("directory", type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.option("--output", "-o", type=click.Choice(["text", "json"]), default="text", show_default=True)
def check(directory: Path, output: str) -> None:
    """Validate every *.yaml / *.yml rule file in DIRECTORY and print its groups and rules.

    Exit status: 0 when every file is valid, 1 with the errors (one per line, file:line first) otherwise.
    """
    from logwarden.rules.loader import RulesError, load_rules_dir
    from logwarden.rules.templates import format_duration

    try:
        ruleset = load_rules_dir(directory)
    except RulesError as exc:
        if output == "json":
            click.echo(json.dumps({"valid": False, "errors": list(exc.problems), "rules": []}, indent=2))
        else:
            for problem in exc.problems:
                click.echo(problem, err=True)
            click.echo(f"{len(exc.problems)} error(s) in {directory}", err=True)
        sys.exit(1)
    rows = [
        {
            "file": entry.file,
            "line": entry.line,
            "group": entry.group,
            "name": entry.rule.name,
            "type": entry.rule.type,
            "severity": entry.rule.severity,
            "window": format_duration(entry.rule.window),
            "for": format_duration(entry.rule.for_),
            "enabled": entry.rule.enabled,
        }
        for entry in ruleset.entries
    ]
    if output == "json":
        click.echo(json.dumps({"valid": True, "errors": [], "rules": rows}, indent=2))
        return
    headers = ("FILE", "GROUP", "RULE", "TYPE", "SEVERITY", "WINDOW", "FOR", "ENABLED")
    table = [headers] + [
        (
            f"{r['file']}:{r['line']}",
            str(r["group"]),
            str(r["name"]),
            str(r["type"]),
            str(r["severity"]),
            str(r["window"]),
            str(r["for"]),
            "yes" if r["enabled"] else "no",
        )
        for r in rows
    ]
    widths = [max(len(row[i]) for row in table) for i in range(len(headers))]
    for row in table:
        click.echo("  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip())
    files, groups = len(ruleset.files), sum(len(f.file.groups) for f in ruleset.files)
    click.echo(f"{directory}: valid ({files} files, {groups} groups, {len(rows)} rules)", err=True)


@rules.command("test")
@click.argument("files", nargs=-1, required=True, type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--output", "-o", type=click.Choice(["text", "json"]), default="text", show_default=True)
def test_rules(files: tuple[Path, ...], output: str) -> None:
    """Run the rule unit tests in each FILE (docs/rules.md, "Testing rules").

    Exit status: 0 when every case passes, 1 when one fails or a test file has errors.
    """
    from logwarden.rules.testing import format_results, run_test_file

    results = [run_test_file(path) for path in files]
    if output == "json":
        doc = {"passed": all(r.passed for r in results), "files": [r.to_json() for r in results]}
        click.echo(json.dumps(doc, indent=2))
    else:
        click.echo(format_results(results))
    if not all(r.passed for r in results):
        sys.exit(1)


@rules.command()
@click.argument("rule")
@click.option(
    "--rules",
    "rules_dir",
    required=True,
    type=click.Path(exists=True, file_okay=False, path_type=Path),
    help="The directory of rule files that holds RULE.",
)
@click.option("--since", default="1d", show_default=True, help="Start: relative (15m, 2h, 7d) or RFC 3339.")
@click.option("--until", "until", default="now", show_default=True, help="End: relative or RFC 3339.")
@click.option("--server", default="http://127.0.0.1:8080", show_default=True, envvar="LOGWARDEN_SERVER")
@click.option("--tenant", help="Tenant (sent as X-Scope-OrgID).")
@click.option("--max-lines", type=click.IntRange(1, 5_000_000), help="Read at most this many lines (default 5M).")
@click.option("--output", "-o", type=click.Choice(["table", "json"]), default="table", show_default=True)
@credential_options
def backtest(
    rule: str,
    rules_dir: Path,
    since: str,
    until: str,
    server: str,
    tenant: str | None,
    max_lines: int | None,
    output: str,
) -> None:
    """Replay RULE (a rule of --rules DIR) over the stored lines of a running server: the alerts it would have
    raised, when, for how long and how high (docs/rules.md, "Backtesting")."""
    from logwarden.rules.backtest import rule_mapping
    from logwarden.rules.loader import RulesError, load_rules_dir

    try:
        entries = load_rules_dir(rules_dir).by_name()
    except RulesError as exc:
        for problem in exc.problems:
            click.echo(problem, err=True)
        click.echo(f"{len(exc.problems)} error(s) in {rules_dir}", err=True)
        sys.exit(1)
    entry = entries.get(rule)
    if entry is None:
        known = ", ".join(sorted(entries)) or "none"
        click.echo(f"logwarden: no rule '{rule}' in {rules_dir} (rules: {known})", err=True)
        sys.exit(1)
    body: dict[str, object] = {"rule": rule_mapping(entry.rule), "since": since, "until": until}
    if max_lines is not None:
        body["max_lines"] = max_lines
    result = _post_backtest(server, body, tenant, progress=sys.stderr.isatty())
    if output == "json":
        click.echo(json.dumps(result, indent=2))
        return
    table, summary = _format_backtest(result)
    if table:
        click.echo(table)
    click.echo(summary, err=True)


def _post_backtest(server: str, body: dict[str, object], tenant: str | None, *, progress: bool) -> dict[str, Any]:
    """POST the backtest; on a terminal, stream its progress. Exits 1 with the server's message on failure."""
    import httpx

    url = f"{server.rstrip('/')}/api/v1/rules/backtest"
    headers = {"X-Scope-OrgID": tenant} if tenant else {}
    try:
        if not progress:
            resp = httpx.post(url, json=body, timeout=None, **httpx_options(headers))
            if resp.status_code != 200:
                _backtest_failed(resp.status_code, _error_text(resp))
            answer: dict[str, Any] = resp.json()
            return answer
        headers["Accept"] = "application/x-ndjson"
        with _Progress() as shown, httpx.stream("POST", url, json=body, timeout=None, **httpx_options(headers)) as resp:
            if resp.status_code != 200:
                resp.read()
                _backtest_failed(resp.status_code, _error_text(resp))
            for raw in resp.iter_lines():
                if not raw.strip():
                    continue
                line = json.loads(raw)
                if "progress" in line:
                    shown.update(line["progress"])
                elif "result" in line:
                    result: dict[str, Any] = line["result"]
                    return result
                elif "error" in line:
                    _backtest_failed(int(line.get("status", 500)), str(line["error"]))
        _backtest_failed(0, "the server ended the answer without a result")
    except httpx.HTTPError as exc:
        click.echo(f"logwarden: cannot reach {server}: {exc}", err=True)
        sys.exit(1)


def _error_text(resp: Any) -> str:
    try:
        return str(resp.json().get("error", resp.text))
    except ValueError:
        return str(resp.text)


def _backtest_failed(status: int, message: str) -> NoReturn:
    click.echo(f"logwarden: {status}: {message}" if status else f"logwarden: {message}", err=True)
    sys.exit(1)


class _Progress:
    """A progress bar on stderr while the server replays (rich when installed, else one rewritten line)."""

    def __init__(self) -> None:
        self._bar: Any = None
        self._task: Any = None
        try:
            from rich.console import Console
            from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn
        except ImportError:
            return
        self._bar = Progress(
            TextColumn("backtest"),
            BarColumn(),
            TextColumn("{task.percentage:>3.0f}%  {task.fields[lines]} lines  up to {task.fields[at]}"),
            TimeElapsedColumn(),
            console=Console(stderr=True),
            transient=True,
        )
        self._task = self._bar.add_task("backtest", total=1.0, lines=0, at="…")

    def __enter__(self) -> _Progress:
        if self._bar is not None:
            self._bar.start()
        return self

    def update(self, progress: dict[str, Any]) -> None:
        lines, at, done = progress.get("lines", 0), progress.get("at", ""), float(progress.get("done", 0.0))
        if self._bar is not None:
            self._bar.update(self._task, completed=done, lines=f"{lines:,}", at=at)
        else:
            click.echo(f"\rbacktest {done:4.0%}  {lines:,} lines  up to {at}", err=True, nl=False)

    def __exit__(self, *exc: object) -> None:
        if self._bar is not None:
            self._bar.stop()
        else:
            click.echo("\r\033[K", err=True, nl=False)


def _format_backtest(result: dict[str, Any]) -> tuple[str, str]:
    """(the alerts as a table — labels, fired, resolved, duration, peak — or "", the summary line)."""
    from logwarden.rules.templates import format_duration

    rows = []
    for alert in result["alerts"]:
        labels = ",".join(f"{k}={v}" for k, v in alert["labels"].items() if k != "tenant") or "-"
        duration = format_duration(timedelta(seconds=alert["duration_seconds"]))
        rows.append(
            (
                labels,
                alert["fired_at"],
                alert["resolved_at"] or "(still firing)",
                duration + ("+" if alert["still_firing"] else ""),
                f"{alert['peak']:g}",
            )
        )
    table = ""
    if rows:
        headers = ("LABELS", "FIRED", "RESOLVED", "DURATION", "PEAK")
        cells = [headers, *rows]
        widths = [max(len(row[i]) for row in cells) for i in range(len(headers))]
        table = "\n".join(
            "  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip() for row in cells
        )
    resolution = format_duration(timedelta(seconds=result["resolution_seconds"]))
    listed = "" if result["alerts_listed"] == result["alerts_total"] else f" ({result['alerts_listed']} listed)"
    summary = (
        f"{result['rule']}: {result['alerts_total']} alert(s){listed} from {result['since']} to "
        f"{result['replayed_until']}; {result['lines_scanned']:,} lines read, {result['lines_matched']:,} matched, "
        f"in {result['took_seconds']:.2f}s (resolution {resolution})"
    )
    if result["capped"]:
        summary += f"; stopped at {result['lines_scanned']:,} lines (--max-lines): later lines were not replayed"
    return table, summary
