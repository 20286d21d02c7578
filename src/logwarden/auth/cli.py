"""`logwarden users add|list|disable|enable` and `logwarden keys create|list|revoke`.

They work on the metadata database directly (the data dir's SQLite file, or `meta_url`), whether or not the
server runs; each change is recorded in the audit log with the actor `cli:<login name>`. A key revoked here
stops working on a running server within `auth.credential_cache` (10 s by default).
"""

from __future__ import annotations

import getpass
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, NoReturn, TypeVar

import click

if TYPE_CHECKING:
    from logwarden.auth.store import AuthStore
    from logwarden.meta.db import MetaDB

T = TypeVar("T")
ROLES = ("admin", "editor", "viewer", "ingest")

_options = [
    click.option(
        "--config", "config_path", type=click.Path(dir_okay=False), help="YAML config file (its data_dir, meta_url)."
    ),
    click.option("--data-dir", help="Data directory (its meta.sqlite), overriding the config."),
    click.option("--url", help="SQLAlchemy URL of the metadata database (overrides the config)."),
]


def _db_options(command: Callable[..., Any]) -> Callable[..., Any]:
    for option in reversed(_options):
        command = option(command)
    return command


def _fail(message: str) -> NoReturn:
    click.echo(f"logwarden: {message}", err=True)
    sys.exit(2)


@contextmanager
def _opened(config_path: str | None, data_dir: str | None, url: str | None) -> Iterator[tuple[MetaDB, AuthStore]]:
    """The metadata database (migrated to this logwarden's schema) and the auth repository on it."""
    from sqlalchemy.exc import SQLAlchemyError

    from logwarden.auth.store import AuthStore
    from logwarden.config.loader import ConfigError, load_config
    from logwarden.meta.db import MetaDB, default_url
    from logwarden.meta.migrate import MetaSchemaError

    if not url:
        try:
            config = load_config(config_path, overrides={"data_dir": data_dir} if data_dir else {})
        except ConfigError as exc:
            _fail(str(exc))
        url = config.meta_url or default_url(config.data_dir)
    try:
        db = MetaDB(url)
    except (MetaSchemaError, SQLAlchemyError) as exc:
        _fail(f"cannot use the metadata database: {getattr(exc, 'orig', None) or exc}")
    try:
        yield db, AuthStore(db.engine)
    finally:
        db.close()


def _audit(db: MetaDB, action: str, target: str, tenant: str, **details: Any) -> None:
    from logwarden.auth.audit import AuditLog

    AuditLog(db.engine).append(
        tenant=tenant, actor=f"cli:{getpass.getuser()}", action=action, target=target, client="cli", details=details
    )


def _or_fail(call: Callable[[], T]) -> T:
    from logwarden.auth.store import AuthStoreError

    try:
        return call()
    except (AuthStoreError, ValueError) as exc:
        _fail(str(exc))


def _when(value: datetime | None) -> str:
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ") if value is not None else "-"


@click.group()
def users() -> None:
    """People who log in (console and API sessions): add, list, disable, enable."""


@users.command("add")
@click.argument("name")
@click.option("--role", type=click.Choice(ROLES[:3]), default="viewer", show_default=True)
@click.option("--tenant", default=None, help="The user's tenant (default: ingest.default_tenant).")
@click.option("--password-stdin", is_flag=True, help="Read the password from standard input instead of prompting.")
@_db_options
def add_user(
    name: str,
    role: str,
    tenant: str | None,
    password_stdin: bool,
    config_path: str | None,
    data_dir: str | None,
    url: str | None,
) -> None:
    """Add user NAME (prompts for the password, at least 8 characters)."""
    from logwarden.auth.roles import Role

    if password_stdin:
        password = sys.stdin.readline().rstrip("\r\n")
    else:
        password = click.prompt("Password", hide_input=True, confirmation_prompt=True)
    with _opened(config_path, data_dir, url) as (db, store):
        home = tenant or _default_tenant(config_path, data_dir)
        user = _or_fail(lambda: store.add_user(name, password, tenant=home, role=Role(role)))
        _audit(db, "user.add", user.name, user.tenant, role=role)
    click.echo(f"user {user.name} added: role {user.role.value} in tenant {user.tenant}")


@users.command("list")
@_db_options
def list_users(config_path: str | None, data_dir: str | None, url: str | None) -> None:
    """List the users."""
    with _opened(config_path, data_dir, url) as (_db, store):
        found = store.users()
    for user in found:
        state = "disabled" if user.disabled else "active"
        click.echo(f"{user.name}\t{user.role.value}\t{user.tenant}\t{state}\tcreated {_when(user.created)}")


def _set_disabled(name: str, disabled: bool, config_path: str | None, data_dir: str | None, url: str | None) -> None:
    with _opened(config_path, data_dir, url) as (db, store):
        user = _or_fail(lambda: store.set_disabled(name, disabled))
        _audit(db, "user.disable" if disabled else "user.enable", user.name, user.tenant)
    click.echo(f"user {user.name} {'disabled (its sessions ended)' if disabled else 'enabled'}")


@users.command("disable")
@click.argument("name")
@_db_options
def disable_user(name: str, config_path: str | None, data_dir: str | None, url: str | None) -> None:
    """Disable user NAME: it cannot log in and its sessions end at once."""
    _set_disabled(name, True, config_path, data_dir, url)


@users.command("enable")
@click.argument("name")
@_db_options
def enable_user(name: str, config_path: str | None, data_dir: str | None, url: str | None) -> None:
    """Enable user NAME again."""
    _set_disabled(name, False, config_path, data_dir, url)


@click.group()
def keys() -> None:
    """API keys for shippers, scripts and the agent: create, list, revoke."""


@keys.command("create")
@click.option("--tenant", required=True, help="The only tenant the key reaches.")
@click.option("--role", type=click.Choice(ROLES), required=True, help="ingest for shippers; viewer/editor/admin.")
@click.option("--expires", default=None, help="Lifetime like 90d or 12h (default: never expires).")
@click.option("--name", default="", help="A label (what the key is for).")
@_db_options
def create_key(
    tenant: str,
    role: str,
    expires: str | None,
    name: str,
    config_path: str | None,
    data_dir: str | None,
    url: str | None,
) -> None:
    """Create a key; it is printed once, on the last line (only a hash of it is kept)."""
    from logwarden.auth.roles import Role
    from logwarden.model.units import parse_duration

    lifetime = _or_fail(lambda: parse_duration(expires)) if expires else None
    with _opened(config_path, data_dir, url) as (db, store):
        until = store.clock() + lifetime if lifetime is not None else None
        key, text = _or_fail(
            lambda: store.create_key(
                tenant=tenant, role=Role(role), name=name, created_by=f"cli:{getpass.getuser()}", expires=until
            )
        )
        _audit(db, "key.create", key.id, key.tenant, role=role, expires=_when(until), name=name)
    click.echo(f"key {key.id}: role {key.role.value} in tenant {key.tenant}, expires {_when(until)}", err=True)
    click.echo("store it now: it is not shown again", err=True)
    click.echo(text)


@keys.command("list")
@click.option("--tenant", default=None, help="Only this tenant's keys.")
@_db_options
def list_keys(tenant: str | None, config_path: str | None, data_dir: str | None, url: str | None) -> None:
    """List keys (ids only; the secrets are not kept)."""
    with _opened(config_path, data_dir, url) as (_db, store):
        found = store.keys(tenant)
        now = store.clock()
    for key in found:
        state = "revoked" if key.revoked else ("expired" if not key.usable(now) else "active")
        click.echo(
            f"{key.id}\t{key.role.value}\t{key.tenant}\t{state}\texpires {_when(key.expires)}\t{key.name or '-'}"
        )


@keys.command("revoke")
@click.argument("key_id")
@_db_options
def revoke_key(key_id: str, config_path: str | None, data_dir: str | None, url: str | None) -> None:
    """Revoke key KEY_ID (`lw_<prefix>` as `keys list` shows it)."""
    with _opened(config_path, data_dir, url) as (db, store):
        key = _or_fail(lambda: store.revoke_key(key_id))
        _audit(db, "key.revoke", key.id, key.tenant)
    click.echo(f"key {key.id} revoked")


def _default_tenant(config_path: str | None, data_dir: str | None) -> str:
    from logwarden.config.loader import ConfigError, load_config

    try:
        return load_config(config_path, overrides={"data_dir": data_dir} if data_dir else {}).ingest.default_tenant
    except ConfigError as exc:
        _fail(str(exc))
