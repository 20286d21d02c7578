"""Alembic migrations of the metadata database on real SQLite: fresh, from before migrations, and drift."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from alembic import command
from sqlalchemy import Column, Integer, MetaData, String, Table, inspect, text

from logwarden.meta.db import MetaDB, default_url, open_engine
from logwarden.meta.migrate import (
    BASELINE,
    MetaSchemaError,
    alembic_config,
    current_revision,
    head_revision,
    schema_differences,
    scripts,
    upgrade,
)
from logwarden.meta.saved_searches import SavedSearchFields, SavedSearchRepository
from logwarden.meta.tables import metadata
from tests.unit.meta.pre_migration_schema import create_pre_migration_schema

T0 = datetime(2026, 11, 21, 12, 0, tzinfo=UTC)


def test_one_linear_history_from_the_baseline() -> None:
    # Two migrations written on two branches both follow the same parent: upgrade to "head" would refuse.
    script = scripts()
    assert script.get_heads() == [head_revision()]
    assert script.get_bases() == [BASELINE]


@pytest.mark.parametrize("kind", ["file", "memory"])
def test_a_fresh_database_is_migrated_to_head(tmp_path: Path, kind: str) -> None:
    db = MetaDB(default_url(tmp_path) if kind == "file" else "sqlite://")
    try:
        assert db.migration.before is None and db.migration.after == head_revision()
        assert not db.migration.stamped
        assert current_revision(db.engine) == head_revision()
        assert set(inspect(db.engine).get_table_names()) == {*metadata.tables, "alembic_version"}
        assert schema_differences(db.engine) == []
    finally:
        db.close()


def test_reopening_at_head_changes_nothing(tmp_path: Path) -> None:
    MetaDB(default_url(tmp_path)).close()
    again = MetaDB(default_url(tmp_path))
    try:
        assert (again.migration.before, again.migration.stamped) == (head_revision(), False)
    finally:
        again.close()


def test_a_database_from_before_migrations_is_stamped_at_the_baseline_then_upgraded(tmp_path: Path) -> None:
    engine = open_engine(default_url(tmp_path))
    create_pre_migration_schema(engine)
    made = SavedSearchRepository(engine).create("a", SavedSearchFields("errors", "level:error"), now=T0)
    engine.dispose()

    db = MetaDB(default_url(tmp_path))
    try:
        assert (db.migration.before, db.migration.after, db.migration.stamped) == (None, head_revision(), True)
        assert current_revision(db.engine) == head_revision()
        assert SavedSearchRepository(db.engine).get("a", made.id) == made
        assert schema_differences(db.engine) == []
    finally:
        db.close()


def test_every_revision_downgrades_and_upgrades_again(tmp_path: Path) -> None:
    db = MetaDB(default_url(tmp_path))
    try:
        with db.engine.begin() as con:
            command.downgrade(alembic_config(con), "base")
        assert set(inspect(db.engine).get_table_names()) == {"alembic_version"}
        assert current_revision(db.engine) is None
        assert upgrade(db.engine).after == head_revision()
        assert schema_differences(db.engine) == []
    finally:
        db.close()


def test_a_model_change_without_a_migration_is_reported(tmp_path: Path) -> None:
    db = MetaDB(default_url(tmp_path))
    try:
        # The check the tests above rely on, shown to fail: models with a column and a table no migration makes.
        models = MetaData(naming_convention=metadata.naming_convention)
        for table in metadata.tables.values():
            table.to_metadata(models)
        models.tables["saved_searches"].append_column(Column("not_migrated_yet", String(64)))
        Table("not_migrated_yet", models, Column("id", Integer, primary_key=True))
        found = {(d[0], d[2]) for d in _flat(db, models) if d[0] == "add_column"}
        found |= {(d[0], d[1].name) for d in _flat(db, models) if d[0] == "add_table"}
        assert found == {("add_column", "saved_searches"), ("add_table", "not_migrated_yet")}
        assert len(_flat(db, models)) == 2
    finally:
        db.close()


def test_a_revision_from_a_newer_logwarden_is_refused_with_a_clear_error(tmp_path: Path) -> None:
    MetaDB(default_url(tmp_path)).close()
    engine = open_engine(default_url(tmp_path))
    with engine.begin() as con:
        con.execute(text("UPDATE alembic_version SET version_num = 'f00d'"))
    engine.dispose()
    with pytest.raises(MetaSchemaError, match=r"revision 'f00d', which this logwarden does not know"):
        MetaDB(default_url(tmp_path))


def test_sqlite_ddl_is_transactional_so_a_failed_migration_leaves_nothing(tmp_path: Path) -> None:
    engine = open_engine(default_url(tmp_path))
    try:
        with pytest.raises(ZeroDivisionError), engine.begin() as con:
            con.execute(text("CREATE TABLE half_done (id INTEGER)"))
            _ = 1 / 0
        assert "half_done" not in inspect(engine).get_table_names()
    finally:
        engine.dispose()


def _flat(db: MetaDB, models: MetaData) -> list[Any]:
    # compare_metadata nests column modifications of one table in a list; flatten to one tuple per change.
    out: list[Any] = []
    for diff in schema_differences(db.engine, models):
        out.extend(diff if isinstance(diff, list) else [diff])
    return out
