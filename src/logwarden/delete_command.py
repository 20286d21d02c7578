"""`logwarden delete`: the GDPR delete from a terminal (docs/security.md, "Data protection").

On a data dir no server holds, it opens the store itself; while `logwarden serve` holds it, it asks the server's
`POST /api/v1/admin/delete`. Counts first, asks before deleting, and records the delete in the audit log.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import click

from logwarden.cli_support import fail, load_server_config
from logwarden.client_credentials import credential_options

if TYPE_CHECKING:
    from logwarden.config.model import Config


@click.command("delete")
@click.option("--tenant", required=True, help="Whose lines to delete.")
@click.option("--where", "where", required=True, help="Filter in the search language, like 'user_id:42'.")
@click.option("--dry-run", is_flag=True, help="Only count what matches; change nothing.")
@click.option("--yes", is_flag=True, help="Do not ask before deleting (needed when not on a terminal).")
@click.option("--compact", is_flag=True, help="Then rewrite hot.duckdb without free blocks (old bytes gone too).")
@click.option("--output", type=click.Choice(["text", "json"]), default="text", show_default=True)
@click.option("--config", "config_path", type=click.Path(dir_okay=False), help="YAML config file (its data_dir).")
@click.option("--data-dir", help="Data directory, overriding the config.")
@click.option("--server", envvar="LOGWARDEN_SERVER", help="Server to ask when one runs (default: from the config).")
@credential_options
def delete_command(
    tenant: str,
    where: str,
    dry_run: bool,
    yes: bool,
    compact: bool,
    output: str,
    config_path: str | None,
    data_dir: str | None,
    server: str | None,
) -> None:
    """GDPR delete: remove a tenant's lines matching a filter from the hot store and the archive.

    Counts first and asks before deleting (unless --yes). With no server on the data dir, it works on the data
    dir directly; while `logwarden serve` holds it, it calls the server's POST /api/v1/admin/delete (an admin
    key with --api-key when authentication is on). Recorded in the audit log either way.
    """
    from logwarden.auth import delete_cli
    from logwarden.model.tenants import TENANT_RULE, is_tenant
    from logwarden.store.datadir_lock import DataDirLock, DataDirLockedError

    if not is_tenant(tenant):
        fail(f"--tenant: {TENANT_RULE}")
    config = load_server_config(config_path, {"data_dir": data_dir})
    lock = DataDirLock(config.data_dir)
    try:
        lock.acquire()
    except DataDirLockedError:
        url = server or _server_url(config)
        try:
            found = delete_cli.call_server(url, tenant, where, dry_run=True)
            if dry_run or not found["lines"]:
                delete_cli.show(found, output)
                return
            if output == "text" or not yes:
                click.echo(delete_cli.summary(found), err=True)
            if not delete_cli.confirm(found, yes):
                fail("nothing deleted")
            delete_cli.show(delete_cli.call_server(url, tenant, where, dry_run=False, compact=compact), output)
        except delete_cli.DeleteCliError as exc:
            fail(str(exc))
        return
    except OSError as exc:
        fail(f"cannot use data dir {config.data_dir}: {exc.strerror or exc}")
    try:
        _delete_locally(config, tenant, where, dry_run=dry_run, yes=yes, compact=compact, output=output)
    finally:
        lock.release()


def _server_url(config: Config) -> str:
    host = config.http.host if config.http.host not in ("0.0.0.0", "::", "") else "127.0.0.1"
    shown = f"[{host}]" if ":" in host else host
    return f"{'https' if config.http.tls.enabled else 'http'}://{shown}:{config.http.port}"


def _delete_locally(
    config: Config, tenant: str, where: str, *, dry_run: bool, yes: bool, compact: bool, output: str
) -> None:
    """Open the store on the (locked) data dir, count, ask, delete, audit, close."""
    import asyncio
    import getpass
    from datetime import UTC, datetime

    from logwarden.api.routes.admin_delete import parse_delete_filter
    from logwarden.auth import delete_cli
    from logwarden.auth.audit import AuditLog
    from logwarden.bus.cursors import BUS_DIR, CursorFiles
    from logwarden.bus.embedded import BatchBus
    from logwarden.meta.db import MetaDB, default_url
    from logwarden.query.errors import QuerySyntaxError
    from logwarden.store.duckdb import DuckDBStore

    try:
        node, start, end = parse_delete_filter(where, datetime.now(UTC))
    except QuerySyntaxError as exc:
        fail(f"--where: {exc}")

    async def run() -> dict[str, Any] | None:
        # The bus's cursor files keep the ingest-log segments that stopped subscribers still need.
        bus = BatchBus(CursorFiles(config.data_dir / BUS_DIR), max_lag_bytes=1 << 62, memory_bytes=1 << 20)
        store = await asyncio.get_running_loop().run_in_executor(None, lambda: DuckDBStore(config, consumers=bus))
        try:
            found = (await store.delete_lines(tenant, node, start, end, where=where, dry_run=True)).to_json()
            if dry_run or not found["lines"]:
                return found
            if output == "text" or not yes:
                click.echo(delete_cli.summary(found), err=True)
            if not delete_cli.confirm(found, yes):
                return None
            with delete_cli.progress_bar() as progress:
                report = await store.delete_lines(
                    tenant, node, start, end, where=where, compact=compact, on_progress=progress
                )
            return report.to_json()
        finally:
            await store.close()

    try:
        result = asyncio.run(run())
    except QuerySyntaxError as exc:
        fail(f"--where: {exc}")
    if result is None:
        fail("nothing deleted")
    meta = MetaDB(config.meta_url or default_url(config.data_dir))
    try:
        details = {k: result[k] for k in ("where", "dry_run", "hot_lines", "archive_lines")}
        AuditLog(meta.engine).append(
            tenant=tenant,
            actor=f"cli:{getpass.getuser()}",
            action="lines.delete",
            target=tenant,
            client="cli",
            details={**details, "archive_files": len(result["archive_files"])},
        )
    finally:
        meta.close()
    delete_cli.show(result, output)
