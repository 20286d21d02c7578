"""The applier trusts the packer's integer-attribute claim (model.normalize.int_attr_keys) only where every
batch of a table makes it: a BIGINT column is still widened when one batch brings a value that does not fit."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any
from unittest import mock

import duckdb
import orjson
import pyarrow as pa
import pytest

from logwarden.ingest.ndjson import decode_json_body
from logwarden.model.normalize import BatchContext, int_attr_keys, normalize, without_int_claims
from logwarden.store.arrival import with_seq
from logwarden.store.duckdb import catalog, typed
from logwarden.store.duckdb.applier import apply_batches, read_applied_seq
from logwarden.store.duckdb.partitions import table_name

NOW = datetime(2026, 11, 21, 12, 0, tzinfo=UTC)


def batch(seq: int, values: list[Any]) -> pa.Table:
    lines = [{"ts": f"2026-11-21T01:00:{i:02d}Z", "msg": f"line {i}", "code": v} for i, v in enumerate(values)]
    decoded = decode_json_body(b"\n".join(orjson.dumps(r) for r in lines))
    return with_seq(seq, normalize(decoded.records, BatchContext("default", "http", NOW)))


@pytest.fixture
def con() -> Iterator[duckdb.DuckDBPyConnection]:
    c = duckdb.connect()
    c.execute("SET TimeZone = 'UTC'")
    catalog.create(c)
    read_applied_seq(c)
    yield c
    c.close()


def columns(con: duckdb.DuckDBPyConnection) -> dict[str, str]:
    tables = [table_name(k) for k in catalog.hot_partitions(con)]
    return {c.key: c.type for cols in typed.table_columns(con, tables).values() for c in cols.values()}


def stored_codes(con: duckdb.DuckDBPyConnection) -> list[tuple[str | None, str | None]]:
    (name,) = [table_name(k) for k in catalog.hot_partitions(con)]
    rows = con.execute(f'SELECT CAST("a$code" AS VARCHAR), attrs ->> \'/code\' FROM "{name}" ORDER BY seq').fetchall()
    return [(a, b) for a, b in rows]


def test_claimed_batches_skip_the_row_by_row_check(con: duckdb.DuckDBPyConnection) -> None:
    known: set[str] = set()
    apply_batches(con, [(1, batch(1, [500, 204, 404]))], known)
    assert columns(con) == {"code": "BIGINT"}
    second = batch(2, [301, 200])
    assert int_attr_keys(second) == {"code"}
    with mock.patch.object(typed, "_profile", wraps=typed._profile) as profile:
        apply_batches(con, [(2, second)], known)
    # The only checked keys would have been the BIGINT column's, and the claim covers it: no pass at all.
    profile.assert_not_called()
    assert all(a == b for a, b in stored_codes(con))


def test_a_batch_without_the_claim_still_widens_the_column(con: duckdb.DuckDBPyConnection) -> None:
    known: set[str] = set()
    apply_batches(con, [(1, batch(1, [500, 204]))], known)
    assert columns(con) == {"code": "BIGINT"}
    claimed = batch(2, [201])
    # Same key, a text value: no claim. Applied with a claimed batch in one group, the claim must not cover it.
    unclaimed = batch(3, ["5xx"])
    assert int_attr_keys(unclaimed) == frozenset()
    apply_batches(con, [(2, claimed), (3, unclaimed)], known)
    assert columns(con) == {"code": "VARCHAR"}
    assert [a for a, _ in stored_codes(con)] == ["500", "204", "201", "5xx"]
    assert all(a == b for a, b in stored_codes(con))


def test_without_the_claim_every_row_is_checked(con: duckdb.DuckDBPyConnection) -> None:
    known: set[str] = set()
    apply_batches(con, [(1, batch(1, [1, 2]))], known)
    with mock.patch.object(typed, "_profile", wraps=typed._profile) as profile:
        apply_batches(con, [(2, without_int_claims(batch(2, [3])))], known)
    profile.assert_called_once()
    assert columns(con) == {"code": "BIGINT"}
