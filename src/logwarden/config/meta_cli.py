"""`logwarden meta current|upgrade`: the schema revision of the metadata database, and migrating it by hand.

The server migrates at start anyway; these let an operator look first, or migrate before a rolling restart.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, NoReturn, TypeVar

import click

if TYPE_CHECKING:
    from sqlalchemy import Engine

T = TypeVar("T")

# SQLAlchemy and Alembic are imported when a command runs, so that `logwarden --help` does not pay for them.

_config_option = click.option(
    "--config", "config_path", type=click.Path(dir_okay=False), help="YAML config file (its meta_url, data_dir)."
)
_data_dir_option = click.option("--data-dir", help="Data directory, for the default SQLite database.")
_url_option = click.option("--url", help="SQLAlchemy URL of the database (overrides the config).")


@click.group()
def meta() -> None:
    """The metadata database (saved searches, API rules, alert state and history; silences later): its schema."""


@meta.command()
@_config_option
@_data_dir_option
@_url_option
def current(config_path: str | None, data_dir: str | None, url: str | None) -> None:
    """Print the database's schema revision and the newest this logwarden knows.

    Exit status: 0 at the newest revision, 1 behind it (the server migrates it at start), 2 on error.
    """
    from logwarden.meta.migrate import current_revision, head_revision

    target = _resolve_url(config_path, data_dir, url)
    if _missing_sqlite_file(target):
        click.echo(f"{_shown(target)}: no database yet (it is created at revision {head_revision()} on start)")
        sys.exit(1)
    engine = _open(target)
    try:
        revision = _or_fail(lambda: current_revision(engine))
    finally:
        engine.dispose()
    head = head_revision()
    where = " (newest)" if revision == head else f", newest {head}"
    click.echo(f"{_shown(target)}: revision {revision or 'none'}{where}")
    sys.exit(0 if revision == head else 1)


@meta.command()
@_config_option
@_data_dir_option
@_url_option
def upgrade(config_path: str | None, data_dir: str | None, url: str | None) -> None:
    """Migrate the database to the newest revision (what the server does at start)."""
    from logwarden.meta.migrate import upgrade as upgrade_schema

    target = _resolve_url(config_path, data_dir, url)
    engine = _open(target)
    try:
        result = _or_fail(lambda: upgrade_schema(engine))
    finally:
        engine.dispose()
    if result.before == result.after:
        click.echo(f"{_shown(target)}: already at revision {result.after}")
    else:
        stamped = " (tables from before migrations, stamped at the baseline first)" if result.stamped else ""
        click.echo(f"{_shown(target)}: revision {result.before or 'none'} → {result.after}{stamped}")


def _resolve_url(config_path: str | None, data_dir: str | None, url: str | None) -> str:
    if url:
        return url
    from logwarden.config.loader import ConfigError, load_config
    from logwarden.meta.db import default_url

    try:
        config = load_config(config_path, overrides={"data_dir": data_dir} if data_dir else {})
    except ConfigError as exc:
        _fail(str(exc))
    return config.meta_url or default_url(config.data_dir)


def _missing_sqlite_file(url: str) -> bool:
    from sqlalchemy.engine import make_url

    parsed = make_url(url)
    if parsed.get_backend_name() != "sqlite" or parsed.database in (None, "", ":memory:"):
        return False
    return not Path(str(parsed.database)).exists()


def _open(url: str) -> Engine:
    from sqlalchemy.exc import ArgumentError, NoSuchModuleError

    from logwarden.meta.db import open_engine

    try:
        return open_engine(url)
    except (ArgumentError, NoSuchModuleError, ModuleNotFoundError) as exc:
        _fail(f"{_shown(url)}: {exc}")


def _or_fail(call: Callable[[], T]) -> T:
    from sqlalchemy.exc import SQLAlchemyError

    from logwarden.meta.migrate import MetaSchemaError

    try:
        return call()
    except MetaSchemaError as exc:
        _fail(str(exc))
    except SQLAlchemyError as exc:
        _fail(f"cannot use the metadata database: {getattr(exc, 'orig', None) or exc}")


def _shown(url: str) -> str:
    from sqlalchemy.engine import make_url

    return make_url(url).render_as_string(hide_password=True)


def _fail(message: str) -> NoReturn:
    click.echo(f"logwarden: {message}", err=True)
    sys.exit(2)
