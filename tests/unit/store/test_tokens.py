"""Token bloom filters: the tokenizer, the bounded-match regex, and pruning without false negatives."""

from __future__ import annotations

import itertools
import random
from datetime import UTC, datetime, timedelta

import duckdb
import pyarrow as pa
import pytest

from logwarden.model.schema import LOG_SCHEMA, STORED_COLUMNS
from logwarden.plan import words
from logwarden.store.arrival import with_seq
from logwarden.store.duckdb import log_ids, tokens
from logwarden.store.duckdb.applier import apply_batches, read_applied_seq
from logwarden.store.duckdb.partitions import quote_ident

DAY = datetime(2026, 11, 21, tzinfo=UTC)
TABLE = "logs$default$20261121"
WORDS = [
    "alpha",
    "beta",
    "gamma",
    "delta",
    "timeout",
    "refused",
    "Conn",
    "db-7",
    "x=1",
    "Ünïcode",
    "a_b",
]


def batch(messages: list[str | None], start: int = 0) -> pa.Table:
    n = len(messages)
    ts = [DAY + timedelta(seconds=start + i) for i in range(n)]
    return pa.table(
        {
            "ts": ts,
            "observed_ts": ts,
            "tenant": ["default"] * n,
            "service": ["svc"] * n,
            "host": ["h"] * n,
            "level": ["INFO"] * n,
            "severity": [9] * n,
            "message": messages,
            "trace_id": [None] * n,
            "span_id": [None] * n,
            "source": ["http"] * n,
            "log_id": [f"id-{start + i}" for i in range(n)],
            "attrs": [None] * n,
            "pattern_id": [None] * n,
        },
        schema=LOG_SCHEMA,
    )


@pytest.fixture
def con() -> duckdb.DuckDBPyConnection:
    c = duckdb.connect(config={"preserve_insertion_order": False})
    c.execute("SET TimeZone = 'UTC'")
    read_applied_seq(c)
    return c


@pytest.fixture(autouse=True)
def small_blocks(monkeypatch: pytest.MonkeyPatch) -> None:
    # Many blocks from few rows; the filters themselves keep their real size.
    monkeypatch.setattr(tokens, "BLOCK_ROWS", 50)


def rows_of(con: duckdb.DuckDBPyConnection) -> dict[int, str | None]:
    return dict(con.execute(f"SELECT rowid, message FROM {quote_ident(TABLE)}").fetchall())


def in_ranges(rowid: int, ranges: list[tuple[int, int]]) -> bool:
    return any(lo <= rowid <= hi for lo, hi in ranges)


def test_word_text_lowercases_ascii_and_splits_on_separators() -> None:
    arr = pa.array(["Marker=Zq7/x", None, "ÄB_c,[Done]", ""])
    # ASCII lines byte by byte; a line with other characters lowered by Unicode, each run of separators a space.
    assert tokens.word_text(arr).to_pylist() == ["marker zq7 x", None, "äb_c done ", ""]
    # A slice keeps its offset into the shared buffers.
    assert tokens.word_text(arr.slice(2, 1)).to_pylist() == ["äb_c done "]
    assert tokens.word_text(pa.chunked_array([arr[:1], arr[1:]])).to_pylist()[0] == "marker zq7 x"


def test_query_tokens_are_ascii_lowercase_and_unique() -> None:
    assert tokens.query_tokens('Connection refused: connection "db-7"') == [
        "connection",
        "refused",
        "db",
        "7",
    ]
    assert tokens.query_tokens("Ünïcode x_y") == ["x_y"]  # the index may hold Ü in another case
    assert tokens.query_tokens("=:/") == []


@pytest.mark.parametrize(
    ("term", "text", "expected"),
    [
        ("timeout", "read Timeout: 5s", True),
        ("timeout", "timeouts happened", False),
        ("timeout", "TIMEOUT", True),
        ("connection refused", "dial: connection refused (db-7)", True),
        ("connection refused", "reconnection refused", False),
        ("db-7", "host db-7:5432", True),
        ("db-7", "db-77", False),
        ("a.b(c", "x a.b(c y", True),
        ("a.b(c", "x aXb(c y", False),
        ("=5", "retries=5", True),  # a separator at the edge needs no boundary there
        ("über", "Über alles", True),
        ("über", "Füber", False),
        (
            "key",
            "\u212aey",
            True,
        ),  # the Kelvin sign lowers to k (Unicode simple lowercase), in the index too
        ("a\nb", "x a\nb", True),
    ],
)
def test_bounded_regex(term: str, text: str, expected: bool) -> None:
    pattern = words.bounded_regex(term)
    got = duckdb.sql("SELECT regexp_matches(lower($t), $p)", params={"t": text, "p": pattern}).fetchall()[0][0]
    assert got is expected


def regex_matches(text: str, pattern: str) -> bool:
    """The term regex on the lowered text, as the store runs it (RE2 classes such as \\pL are not Python's)."""
    return bool(duckdb.sql("SELECT regexp_matches(lower($t), $p)", params={"t": text, "p": pattern}).fetchall()[0][0])


def test_pruning_has_no_false_negatives(con: duckdb.DuckDBPyConnection) -> None:
    rng = random.Random(7)
    messages: list[str | None] = []
    for _ in range(5):  # five applies of uneven sizes: blocks filled across transactions
        chunk: list[str | None] = [
            None if rng.random() < 0.05 else " ".join(rng.choice(WORDS) for _ in range(rng.randint(1, 4)))
            for _ in range(rng.randint(1, 130))
        ]
        apply_batches(con, [(1, batch(chunk, len(messages)))], set())
        messages += chunk
    stored = rows_of(con)
    assert len(stored) == len(messages)
    for word in [*WORDS, "connection refused", "missing"]:
        needed = tokens.query_tokens(word)
        ranges = tokens.candidate_ranges(con, TABLE, needed)
        if ranges is None:  # nothing to prune on: the whole table is read
            assert word == "Ünïcode"
            continue
        pattern = words.bounded_regex(word)
        for rowid, message in stored.items():
            if message is not None and regex_matches(message, pattern):
                assert in_ranges(rowid, ranges), (word, rowid, message)


def test_rare_token_reads_only_its_block(con: duckdb.DuckDBPyConnection) -> None:
    messages = [f"line {i} common words here" for i in range(1000)]
    messages[620] = "line 620 has the NeedleX42 in it"
    apply_batches(con, [(1, batch(messages))], set())
    rowid = con.execute(f"SELECT rowid FROM {quote_ident(TABLE)} WHERE contains(message, 'NeedleX42')").fetchall()[0][0]
    ranges = tokens.candidate_ranges(con, TABLE, ["needlex42"])
    assert ranges is not None
    block = rowid // 50
    assert (block * 50, block * 50 + 49) in ranges
    covered = sum(min(hi, 999) - lo + 1 for lo, hi in ranges if lo <= 999)
    assert covered <= 3 * 50  # its block, plus at most a couple of false positives among 20
    where = tokens.rowid_filter_sql(ranges, params := {}, "r")
    found = con.sql(
        f"SELECT message FROM {quote_ident(TABLE)} WHERE {where} AND regexp_matches(lower(message), $p)",
        params={**params, "p": words.bounded_regex("needlex42")},
    ).fetchall()
    assert found == [(messages[620],)]


def test_rows_written_before_the_index_are_always_read(
    con: duckdb.DuckDBPyConnection,
) -> None:
    apply_batches(con, [(1, batch(["old needle"]))], set())
    con.execute(f"DELETE FROM {tokens.BLOOM_TABLE}")
    con.execute(f"DELETE FROM {tokens.COVERAGE_TABLE}")  # as if an older version had written the row
    apply_batches(con, [(2, batch(["new hay"] * 120, 1))], {TABLE})
    assert con.execute(f"SELECT lo, hi FROM {tokens.COVERAGE_TABLE}").fetchall() == [(1, 121)]
    ranges = tokens.candidate_ranges(con, TABLE, ["needle"])
    assert ranges is not None and in_ranges(0, ranges)
    assert not in_ranges(60, ranges)


def test_filters_of_another_hash_function_are_ignored(
    con: duckdb.DuckDBPyConnection,
) -> None:
    apply_batches(con, [(1, batch(["some words"]))], set())
    assert tokens.candidate_ranges(con, TABLE, ["words"]) is not None
    con.execute(f"UPDATE {tokens.COVERAGE_TABLE} SET probe = probe + 1")
    assert tokens.candidate_ranges(con, TABLE, ["words"]) is None
    assert tokens.candidate_ranges(con, TABLE, []) is None
    assert tokens.candidate_ranges(con, "logs$default$20200101", ["words"]) is None


def test_rolled_back_apply_leaves_no_filters(con: duckdb.DuckDBPyConnection) -> None:
    apply_batches(con, [(1, batch(["first"]))], set())
    con.execute("BEGIN TRANSACTION")
    base = tokens.table_rows(con, TABLE)
    con.register("_rows", with_seq(2, batch(["lost"] * 70, 1)))
    columns, values = log_ids.insert_lists(STORED_COLUMNS, split=True)  # log_id is a generated column
    con.execute(f"INSERT INTO {quote_ident(TABLE)} ({columns}) SELECT {values} FROM _rows")
    tokens.index_appended(con, TABLE, base)
    assert con.execute(f"SELECT lo, hi FROM {tokens.COVERAGE_TABLE}").fetchall() == [(0, 71)]
    con.execute("ROLLBACK")
    assert con.execute(f"SELECT lo, hi FROM {tokens.COVERAGE_TABLE}").fetchall() == [(0, 1)]
    apply_batches(con, [(2, batch(["second"], 1))], {TABLE})
    assert con.execute(f"SELECT lo, hi FROM {tokens.COVERAGE_TABLE}").fetchall() == [(0, 2)]
    ranges = tokens.candidate_ranges(con, TABLE, ["second"])
    assert ranges is not None and in_ranges(1, ranges)


def test_recreated_table_starts_over(con: duckdb.DuckDBPyConnection) -> None:
    apply_batches(con, [(1, batch(["before"] * 80))], set())
    con.execute(f"DROP TABLE {quote_ident(TABLE)}")
    apply_batches(con, [(2, batch(["after"] * 3))], set())
    assert con.execute(f"SELECT lo, hi FROM {tokens.COVERAGE_TABLE}").fetchall() == [(0, 3)]
    assert con.execute(f"SELECT count(*) FROM {tokens.BLOOM_TABLE}").fetchall() == [(1,)]
    tokens.forget(con, TABLE)
    assert tokens.candidate_ranges(con, TABLE, ["after"]) is None


def test_rowid_filter_sql_binds_ranges() -> None:
    params: dict[str, int] = {}
    assert tokens.rowid_filter_sql([(0, 9), (20, 29)], params, "r") == (
        "(rowid BETWEEN $r0 AND $r1 OR rowid BETWEEN $r2 AND $r3)"
    )
    assert params == {"r0": 0, "r1": 9, "r2": 20, "r3": 29}
    assert tokens.rowid_filter_sql([], {}, "r") == "FALSE"


def test_filters_of_dropped_tables_go_when_a_new_table_is_indexed(
    con: duckdb.DuckDBPyConnection,
) -> None:
    apply_batches(con, [(1, batch(["day one"] * 60))], set())
    con.execute(f"DROP TABLE {quote_ident(TABLE)}")  # archived or past retention
    later = batch(["day two"]).set_column(0, "ts", pa.array([DAY + timedelta(days=1)], LOG_SCHEMA.field("ts").type))
    apply_batches(con, [(2, later)], set())
    assert con.execute(f"SELECT DISTINCT tbl FROM {tokens.BLOOM_TABLE}").fetchall() == [("logs$default$20261122",)]
    assert con.execute(f"SELECT tbl FROM {tokens.COVERAGE_TABLE}").fetchall() == [("logs$default$20261122",)]


def test_table_filters_only_for_tables_the_index_narrows(
    con: duckdb.DuckDBPyConnection,
) -> None:
    apply_batches(con, [(1, batch([f"row {i}" for i in range(120)]))], set())
    params: dict[str, int] = {}
    filters = tokens.table_filters(con, [TABLE, "logs$default$20200101"], ["nothing"], params)
    assert list(filters) == [TABLE]
    assert con.sql(
        f"SELECT count(*) FROM {quote_ident(TABLE)} WHERE {filters[TABLE]}",
        params=params,
    ).fetchall() == [(0,)]
    assert tokens.table_filters(con, [TABLE], [], {}) == {}


def test_many_candidate_blocks_are_joined_into_few_ranges_that_miss_no_row(con: duckdb.DuckDBPyConnection) -> None:
    # A common word in every third block, a rare one late: more candidate blocks than one filter should test.
    blocks = 3 * tokens.MAX_RANGES + 6
    messages = [
        "common here" if (i // tokens.BLOCK_ROWS) % 3 == 0 and i % 500 == 0 else f"filler {i}"
        for i in range(blocks * tokens.BLOCK_ROWS)
    ]
    apply_batches(con, [(1, batch(messages))], set())
    ranges = tokens.candidate_ranges(con, TABLE, ["common"])
    assert ranges is not None and len(ranges) <= tokens.MAX_RANGES
    assert ranges == sorted(ranges) and all(a[1] < b[0] for a, b in itertools.pairwise(ranges))
    for rowid, message in enumerate(messages):
        if message == "common here":
            assert in_ranges(rowid, ranges), rowid
    # Joining fills gaps, it does not read everything: some block without the word stays out.
    assert not all(in_ranges(rowid, ranges) for rowid in range(0, len(messages), tokens.BLOCK_ROWS))


@pytest.mark.parametrize("most", [1, 2, 3, 6])
def test_coarsen_keeps_the_largest_gaps(most: int) -> None:
    ranges = [(0, 9), (20, 29), (31, 40), (100, 110), (112, 120), (500, 1 << 62)]
    out = tokens._coarsen(ranges, most)
    assert len(out) == min(most, len(ranges))
    assert out[0][0] == 0 and out[-1][1] == 1 << 62
    assert all(any(a <= lo and hi <= b for a, b in out) for lo, hi in ranges)  # every row still covered
    gaps = sorted((b[0] - a[1] for a, b in itertools.pairwise(out)), reverse=True)
    assert gaps == sorted((b[0] - a[1] for a, b in itertools.pairwise(ranges)), reverse=True)[: most - 1]
