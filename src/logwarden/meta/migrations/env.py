"""Alembic's environment: migrations run on the connection (and transaction) `meta.migrate` hands over."""

from __future__ import annotations

from alembic import context

from logwarden.meta.tables import metadata


def run_migrations() -> None:
    """Run the pending revisions on the caller's connection, inside the caller's transaction."""
    connection = context.config.attributes.get("connection")
    if connection is None or context.is_offline_mode():
        raise SystemExit("logwarden's metadata migrations run from code: use `logwarden meta upgrade`")
    context.configure(
        connection=connection,
        target_metadata=metadata,
        # SQLite alters a table by copying it; autogenerate then writes batch operations that do so.
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()


run_migrations()
