"""The rules' state on a real PostgreSQL (the cluster of tests/integration/test_meta_postgres.py): the same checks
as on SQLite (tests/unit/rules/test_statestore.py), and an engine that dies mid-stream resuming from it without
a missed or doubled transition."""

from __future__ import annotations

from datetime import timedelta

import pytest

from logwarden.meta.db import MetaDB
from logwarden.meta.migrate import schema_differences
from logwarden.rules.engine import RulesEngine
from logwarden.rules.statestore import SqlStateStore
from tests.integration.test_meta_postgres import PostgresServer, postgres  # noqa: F401 - the cluster fixture
from tests.unit.rules.harness import Clock
from tests.unit.rules.test_engine import BATCHES, Spec, run
from tests.unit.rules.test_statestore import (
    check_a_commit_is_all_or_nothing,
    check_api_rules_are_per_tenant_with_names_unique_across_tenants,
    check_history_filters_by_tenant_rule_status_fingerprint_and_time,
)

pytestmark = pytest.mark.slow


@pytest.fixture
def meta(postgres: PostgresServer) -> MetaDB:  # noqa: F811 - the imported fixture
    return MetaDB(postgres.new_database())


def test_the_schema_matches_the_models(meta: MetaDB) -> None:
    try:
        assert schema_differences(meta.engine) == []
    finally:
        meta.close()


def test_a_commit_is_all_or_nothing(meta: MetaDB) -> None:
    try:
        check_a_commit_is_all_or_nothing(SqlStateStore(meta.engine))
    finally:
        meta.close()


def test_history_filters(meta: MetaDB) -> None:
    try:
        check_history_filters_by_tenant_rule_status_fingerprint_and_time(SqlStateStore(meta.engine))
    finally:
        meta.close()


def test_api_rules(meta: MetaDB) -> None:
    try:
        check_api_rules_are_per_tenant_with_names_unique_across_tenants(meta.engine)
    finally:
        meta.close()


def test_a_restart_mid_stream_neither_misses_nor_doubles_a_transition(postgres: PostgresServer) -> None:  # noqa: F811
    whole_db, split_db = MetaDB(postgres.new_database()), MetaDB(postgres.new_database())
    try:
        clock = Clock()
        whole = RulesEngine(SqlStateStore(whole_db.engine), (Spec(),), clock=clock, tick=None)
        run(whole, clock, BATCHES)
        first = RulesEngine(SqlStateStore(split_db.engine), (Spec(),), clock=clock, tick=None)
        run(first, clock, BATCHES[:3])
        # Dies here; the next engine resumes from the committed cursor.
        second = RulesEngine(SqlStateStore(split_db.engine), (Spec(),), clock=clock, tick=None)
        assert second.cursor() == 3
        run(second, clock, BATCHES[3:])

        def log(e: RulesEngine) -> list[tuple[str, str]]:
            return [(h["status"], h["at"]) for h in reversed(e.history())]

        assert log(second) == log(whole) and [s for s, _ in log(whole)].count("firing") == 2
        in_db = sorted(str(a["labels"]) for a in second.store.current("default"))
        assert in_db == sorted(str(a.labels) for a in second.alerts())
        clock.now += timedelta(minutes=10)
        whole.close()
        second.close()
    finally:
        whole_db.close()
        split_db.close()
