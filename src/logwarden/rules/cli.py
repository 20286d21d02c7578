"""`logwarden rules check DIR`: validate a directory of rule files and list what it defines."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import click

# The rule models (pydantic, lark, jinja2) are imported when the command runs, so `logwarden --help` stays fast.


@click.group()
def rules() -> None:
    """Check alert rule files (docs/rules.md)."""


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
