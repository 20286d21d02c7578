"""`contains_regex`, the prefilter of a term: it must let through every line whose lowered text holds the term."""

from __future__ import annotations

import duckdb
import pytest

from logwarden.plan.words import bounded_regex, contains_regex, fold

# Every codepoint DuckDB's lower() changes, as (character, its lowercase).
_CASED = """
SELECT chr(i::INTEGER) AS ch, lower(chr(i::INTEGER)) AS lo
FROM (SELECT * FROM range(1, 55296) UNION ALL SELECT * FROM range(57344, 1114112)) AS t(i)
WHERE lower(chr(i::INTEGER)) <> chr(i::INTEGER)
"""


def test_every_character_matches_the_pattern_of_its_lowercase() -> None:
    """The superset property, exhaustively: any character lowered to `x` matches `contains_regex(x)` (`İ` → `i`
    is the one RE2's case folding lacks)."""
    with duckdb.connect() as con:
        rows = con.sql(_CASED).fetchall()
        assert len(rows) > 1000
        missed = []
        for ch, lo in rows:
            if not con.execute("SELECT regexp_matches(?, ?)", [ch, contains_regex(lo)]).fetchall()[0][0]:
                missed.append(ch)
        assert missed == []


@pytest.mark.parametrize(
    ("message", "term", "expected"),
    [
        ("read TIMEOUT here", "timeout", True),
        ("İD=7 failed", "id", True),  # İ lowers to i
        ("user İdris", "idris", True),
        ("KELVIN \u212a", "k", True),  # the Kelvin sign lowers to k
        ("a.b*c", "a.b*c", True),  # regex characters are literal
        ("axbyc", "a.b*c", False),
        ("timeouts", "timeout", False),  # the prefilter passes it; the bounded test refuses it
        ("no match here", "timeout", False),
    ],
)
def test_prefilter_then_bounded_match(message: str, term: str, expected: bool) -> None:
    """The prefilter on the stored text, then the bounded regex on the lowered text: the term's whole-word meaning."""
    with duckdb.connect() as con:
        sql = "SELECT regexp_matches($m, $c) AND regexp_matches(lower($m), $b)"
        got = con.execute(sql, {"m": message, "c": contains_regex(term), "b": bounded_regex(term)}).fetchall()[0][0]
    assert got is expected
    if expected:
        assert fold(term) in fold(message)


def test_narrowed_reads_use_the_regex_prefilter_and_others_ilike() -> None:
    """Reads narrowed to rowid ranges take the RE2 literal search; whole scans keep ILIKE (cheaper there)."""
    from logwarden.plan import filter as ast
    from logwarden.plan.duckdb_filter import StoreFields, compile_node

    term = ast.Term("Timeout", False)
    narrowed = compile_node(term, StoreFields(narrowed=True)).sql(dialect="duckdb")
    whole = compile_node(term, StoreFields()).sql(dialect="duckdb")
    assert "REGEXP_MATCHES(\"message\", '(?i)t[iİ]meout')" in narrowed and "ILIKE" not in narrowed
    assert "\"message\" ILIKE '%timeout%'" in whole and "(?i)" not in whole


@pytest.mark.parametrize(
    ("query", "narrow"),
    [
        ("zq7xneedlek", True),  # a word with a digit: an id or code, rare
        ("trace_id:abc", True),  # an indexed field's exact value
        ("timeout", False),  # a plain word may be in most blocks
        ('"connection refused" E1042', True),
        ("timeout OR E1042", False),  # no word every branch requires
        ("-E1042", False),
    ],
)
def test_likely_narrow(query: str, narrow: bool) -> None:
    """The compiled search of a likely-narrow query tests terms with the RE2 literal search, else with ILIKE."""
    from datetime import UTC, datetime

    from logwarden.query.parser import parse
    from logwarden.query.planner import plan
    from logwarden.store.duckdb.plan_sql import compile_search, likely_narrow

    now = datetime(2026, 11, 21, 12, 0, tzinfo=UTC)
    the_plan = plan(parse(query), tenant="t", start=now.replace(hour=11), end=now, limit=10, now=now).plan
    assert likely_narrow(the_plan.filter) is narrow
    sql = compile_search(the_plan).select.sql(dialect="duckdb")
    if "E1042" in query and not query.startswith("-") and " OR " not in query:
        assert "'(?i)e1042'" in sql
    if not narrow:
        assert "(?i)" not in sql
