"""The saved-search repository on a real SQLite file (and in-memory SQLite, as a second URL)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from logwarden.meta.db import MetaDB, default_url
from logwarden.meta.saved_searches import SavedSearchFields, SavedSearchNameTakenError, SavedSearchRepository

T0 = datetime(2026, 11, 21, 12, 0, tzinfo=UTC)


@pytest.fixture(params=["file", "memory"])
def db(request: pytest.FixtureRequest, tmp_path: Path) -> MetaDB:
    url = default_url(tmp_path) if request.param == "file" else "sqlite://"
    meta = MetaDB(url)
    request.addfinalizer(meta.close)
    return meta


def test_crud_round_trip(db: MetaDB) -> None:
    repo = SavedSearchRepository(db.engine)
    made = repo.create("a", SavedSearchFields("errors", "level:error", "now-1h", None), now=T0)
    assert repo.get("a", made.id) == made
    assert made.created == T0 and made.created.tzinfo is not None
    later = T0 + timedelta(minutes=5)
    updated = repo.update("a", made.id, SavedSearchFields("errors!", "level:fatal", None, "now"), now=later)
    assert updated is not None
    assert (updated.name, updated.query, updated.start, updated.end) == ("errors!", "level:fatal", None, "now")
    assert updated.created == T0 and updated.updated == later
    assert [s.name for s in repo.list("a")] == ["errors!"]
    assert repo.delete("a", made.id) is True
    assert repo.get("a", made.id) is None
    assert repo.delete("a", made.id) is False
    assert repo.update("a", made.id, SavedSearchFields("x", "y")) is None


def test_names_unique_within_a_tenant(db: MetaDB) -> None:
    repo = SavedSearchRepository(db.engine)
    repo.create("a", SavedSearchFields("n", "q"))
    with pytest.raises(SavedSearchNameTakenError):
        repo.create("a", SavedSearchFields("n", "other"))
    other = repo.create("b", SavedSearchFields("n", "q"))
    second = repo.create("a", SavedSearchFields("m", "q"))
    with pytest.raises(SavedSearchNameTakenError):
        repo.update("a", second.id, SavedSearchFields("n", "q"))
    assert repo.get("a", other.id) is None  # ids are per tenant too
    assert [s.name for s in repo.list("a")] == ["m", "n"]


def test_schema_is_created_once_and_reopened(tmp_path: Path) -> None:
    first = MetaDB(default_url(tmp_path / "nested"))
    made = SavedSearchRepository(first.engine).create("a", SavedSearchFields("n", "q"))
    first.close()
    again = MetaDB(default_url(tmp_path / "nested"))
    try:
        assert SavedSearchRepository(again.engine).get("a", made.id) == made
    finally:
        again.close()


async def test_run_offloads_to_a_thread(db: MetaDB) -> None:
    repo = SavedSearchRepository(db.engine)
    made = await db.run(repo.create, "a", SavedSearchFields("n", "q"))
    assert await db.run(repo.get, "a", made.id) == made
