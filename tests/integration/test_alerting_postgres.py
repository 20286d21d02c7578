"""The router's state, the notification queue and acknowledgements on a real PostgreSQL (the scaled metadata
database): the same tests as on SQLite, run against a fresh database of a throwaway cluster."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest

from logwarden.meta.db import MetaDB
from tests.integration.test_meta_postgres import PostgresServer, postgres  # noqa: F401 - the cluster fixture
from tests.unit.alerting import test_queue, test_router

pytestmark = pytest.mark.slow

CASES: list[Callable[[MetaDB], None]] = [
    test_router.test_transitions_become_queued_notifications_once_even_across_a_restart,
    test_router.test_a_new_router_starts_from_the_alerts_firing_now_not_the_whole_log,
    test_router.test_acknowledging_reaches_the_router_and_a_resolve_ends_it,
    test_queue.test_a_groups_notifications_go_out_in_order_one_at_a_time,
    test_queue.test_retriable_waits_rejected_stops_and_the_deadline_expires,
    test_queue.test_postpone_counts_no_attempt_and_gc_keeps_unfinished_rows,
]


@pytest.fixture
def meta(postgres: PostgresServer) -> Iterator[MetaDB]:  # noqa: F811 - the imported fixture
    db = MetaDB(postgres.new_database())
    yield db
    db.close()


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.__name__)
def test_on_postgres(meta: MetaDB, case: Callable[[MetaDB], None]) -> None:
    case(meta)
