"""`logwarden meta current|upgrade` on a real SQLite file, through the top-level command."""

from __future__ import annotations

from pathlib import Path

from click.testing import CliRunner

from logwarden.cli import main
from logwarden.meta.db import default_url, open_engine
from logwarden.meta.migrate import head_revision
from tests.unit.meta.pre_migration_schema import create_pre_migration_schema


def test_current_then_upgrade_then_current(tmp_path: Path) -> None:
    url = default_url(tmp_path)
    runner = CliRunner()
    missing = runner.invoke(main, ["meta", "current", "--url", url])
    assert missing.exit_code == 1 and "no database yet" in missing.output
    assert not (tmp_path / "meta.sqlite").exists()  # looking does not create it

    done = runner.invoke(main, ["meta", "upgrade", "--url", url])
    assert done.exit_code == 0, done.output
    assert f"revision none → {head_revision()}" in done.output

    again = runner.invoke(main, ["meta", "upgrade", "--url", url])
    assert again.exit_code == 0 and f"already at revision {head_revision()}" in again.output
    now = runner.invoke(main, ["meta", "current", "--url", url])
    assert now.exit_code == 0 and f"revision {head_revision()} (newest)" in now.output


def test_a_database_from_before_migrations_is_shown_behind_and_stamped(tmp_path: Path) -> None:
    url = default_url(tmp_path)
    engine = open_engine(url)
    create_pre_migration_schema(engine)
    engine.dispose()
    runner = CliRunner()
    behind = runner.invoke(main, ["meta", "current", "--url", url])
    assert behind.exit_code == 1 and f"revision none, newest {head_revision()}" in behind.output
    done = runner.invoke(main, ["meta", "upgrade", "--url", url])
    assert done.exit_code == 0 and "stamped at the baseline first" in done.output


def test_an_unusable_url_is_one_line_and_exit_2(tmp_path: Path) -> None:
    result = CliRunner().invoke(main, ["meta", "upgrade", "--url", "nosuchdb://x/y"])
    assert result.exit_code == 2
    assert result.output.startswith("logwarden: nosuchdb://x/y: ") and "Traceback" not in result.output


def test_the_default_database_comes_from_the_data_dir(tmp_path: Path) -> None:
    result = CliRunner().invoke(main, ["meta", "upgrade", "--data-dir", str(tmp_path / "d")])
    assert result.exit_code == 0, result.output
    assert (tmp_path / "d" / "meta.sqlite").exists()
