"""`logwarden pipeline test`: run sample input or the inline tests through the configured pipelines.

It lives in the config layer (like Vector's `config/unit_test`) because it starts from a config file;
the running of records and inline tests is the pipeline layer's (`pipeline.testing`).
"""

from __future__ import annotations

import sys
from pathlib import Path

import click

# The pipeline machinery (pyarrow, polars, every processor) is imported when the command runs, so that
# `logwarden --help` does not pay for it.


@click.group()
def pipeline() -> None:
    """Check and try ingest pipelines."""


@pipeline.command()
@click.option("--config", "config_path", required=True, type=click.Path(dir_okay=False), help="Config with pipelines:.")
@click.option(
    "--input",
    "input_path",
    type=click.Path(dir_okay=False, allow_dash=True),
    help="Sample lines to process ('-' for stdin): JSON object lines are records, other lines are messages. "
    "Without it, the pipelines' inline tests run.",
)
@click.option("--set", "defaults", multiple=True, metavar="FIELD=VALUE", help="Field every input line gets (repeat).")
@click.option("--source", default="http", show_default=True, help="Source the lines appear to come from.")
@click.option("--tenant", default="default", show_default=True, help="Tenant the lines appear to come from.")
def test(config_path: str, input_path: str | None, defaults: tuple[str, ...], source: str, tenant: str) -> None:
    """Print the records the pipelines make of --input as JSON lines, or run the inline tests.

    Exit status: 0 when every test passes, 1 when one fails, 2 for an invalid config.
    """
    from logwarden.config.loader import ConfigError
    from logwarden.config.pipelines import load_pipelines
    from logwarden.pipeline.testing import hit_json, records_from_lines, run_cases, run_records

    try:
        config, pipelines = load_pipelines(Path(config_path))
    except ConfigError as exc:
        click.echo(f"logwarden: {exc}", err=True)
        sys.exit(2)
    try:
        if input_path is not None:
            fields = {}
            for item in defaults:
                name, sep, value = item.partition("=")
                if not sep or not name:
                    raise click.BadParameter(f"{item!r}: use FIELD=VALUE", param_hint="--set")
                fields[name] = value
            stream = click.open_file(input_path, encoding="utf-8", errors="replace")
            with stream:
                records = records_from_lines(stream, fields)
            result = run_records(pipelines, records, tenant=tenant, source=source)
            out = sys.stdout.buffer
            for hit in result.records:
                out.write(hit_json(hit) + b"\n")
            errors = sum(1 for hit in result.records if "pipeline_error" in hit.get("attrs", {}))
            click.echo(
                f"{result.lines_in} lines in, {len(result.records)} out, {result.dropped} dropped, "
                f"{errors} with pipeline_error, {result.dead_letters} dead letters",
                err=True,
            )
            return
        results = run_cases(config.pipelines, pipelines)
        if not results:
            click.echo("no inline tests in the config (add tests: to a pipeline, or pass --input)", err=True)
            return
        for r in results:
            click.echo(f"{'PASS' if r.passed else 'FAIL'}  {r.pipeline}: {r.name}")
            for problem in r.problems:
                click.echo(f"      {problem}")
        failed = sum(not r.passed for r in results)
        click.echo(f"{len(results) - failed} passed, {failed} failed", err=True)
        if failed:
            sys.exit(1)
    finally:
        pipelines.close()
