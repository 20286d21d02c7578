"""What the CLI's commands share: a one-line failure, and loading the server's config."""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING, Any, NoReturn

import click

if TYPE_CHECKING:
    from logwarden.config.model import Config


def fail(message: str) -> NoReturn:
    """A problem the user can fix: one line on stderr, exit status 2, no traceback."""
    click.echo(f"logwarden: {message}", err=True)
    sys.exit(2)


def load_server_config(config_path: str | None, overrides: dict[str, Any]) -> Config:
    from logwarden.config.loader import ConfigError, load_config

    try:
        config = load_config(config_path, overrides=overrides)
    except ConfigError as exc:
        fail(str(exc))
    except UnicodeDecodeError as exc:
        fail(f"{config_path}: cannot read config file: not UTF-8 text (byte {exc.start})")
    # Absolute from here on: the banner, the lock and every log line name the same directory.
    return config.model_copy(update={"data_dir": config.data_dir.resolve()})
