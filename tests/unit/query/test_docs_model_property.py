"""Property tests (issue 18): the compiled filter (plan/duckdb_filter.py, as the store runs it in DuckDB) and
the token index agree with a plain-Python model of docs/query.md on random lines and queries: word terms and
phrases over mixed-script Unicode text, numeric comparisons over NaN/Infinity/hex-looking attribute text,
`_time` bounds at the microsecond, and CIDR over IPv4/IPv6 text forms."""

from __future__ import annotations

import ipaddress
import json
import math
import unicodedata
from datetime import UTC, datetime, timedelta

import duckdb
import pyarrow as pa
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from logwarden.plan import filter as ast
from logwarden.plan.duckdb_filter import StoreFields, compile_node
from logwarden.query.parser import parse
from logwarden.query.planner import resolve_range
from logwarden.store.duckdb.tokens import query_tokens, word_text

SETTINGS = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])

# --- the model: docs/query.md in plain Python ----------------------------------------------------


def model_word_char(c: str) -> bool:
    """docs: letters, marks and numbers of any script, and `_`, are word characters."""
    return c == "_" or unicodedata.category(c)[0] in "LMN"


def model_lower(text: str) -> str:
    """docs: case is ignored by each character's simple lowercase mapping (`İ` → `i`)."""
    return "".join("i" if c == "İ" else c.lower() for c in text)


def model_term(line: str, query: str) -> bool:
    """docs: the message holds the query (lowered alike) where it is not glued to more word characters."""
    text, q = model_lower(line), model_lower(query)
    start = text.find(q)
    while start >= 0:
        end = start + len(q)
        left = start == 0 or not model_word_char(q[0]) or not model_word_char(text[start - 1])
        right = end == len(text) or not model_word_char(q[-1]) or not model_word_char(text[end])
        if left and right:
            return True
        start = text.find(q, start + 1)
    return False


def model_number(text: str) -> float | None:
    """docs: attribute text is a number when it spells a finite decimal number; NaN and ±Infinity are not."""
    try:
        value = float(text)
    except ValueError:
        return None
    return value if math.isfinite(value) else None


_MAPPED = int(ipaddress.IPv6Address("::ffff:0.0.0.0"))


def model_cidr(text: str, network: str) -> bool:
    """docs: an address inside the network; an IPv4 network also holds IPv4-mapped IPv6 text."""
    try:
        addr = ipaddress.ip_address(text.strip())
    except ValueError:
        return False
    net = ipaddress.ip_network(network)
    if net.version == 4 and addr.version == 6:
        net = ipaddress.IPv6Network((_MAPPED + int(net.network_address), 96 + net.prefixlen))
    if net.version != addr.version:
        return False
    return addr in net


# --- the real thing ------------------------------------------------------------------------------


def evaluate(node: ast.Node, messages: list[str], attrs: list[dict[str, object]] | None = None) -> list[bool]:
    """The filter as the store compiles it, run by DuckDB over the lines."""
    attrs = attrs if attrs is not None else [{} for _ in messages]
    table = pa.table({"message": messages, "attrs": [json.dumps(a) for a in attrs]})
    sql = f"SELECT coalesce({compile_node(node, StoreFields()).sql(dialect='duckdb')}, false) FROM lines"
    with duckdb.connect() as con:
        con.register("lines", table)
        return [bool(r[0]) for r in con.execute(sql).fetchall()]


# Letters of several scripts and cases (`İ`, Kelvin sign, `ẞ`, final sigma), marks, digits of other scripts,
# and the symbols and punctuation issue 18 names; no `"` or `\` (the query is written as a phrase).
ALPHABET = list("aAbBkKiIsS019_ -.:/=") + list("İıKßẞéÉüÜΣσςЖж東京٣\u0301—€…·°✓ ")
lines = st.text(st.sampled_from(ALPHABET), max_size=16)


@st.composite
def line_and_query(draw: st.DrawFn) -> tuple[list[str], str]:
    batch = draw(st.lists(lines, min_size=1, max_size=8))
    source = draw(st.sampled_from(batch))
    if source and draw(st.booleans()):
        i = draw(st.integers(0, len(source) - 1))
        j = draw(st.integers(i + 1, len(source)))
        query = source[i:j]  # a slice of a line: hits are likely
    else:
        query = draw(st.text(st.sampled_from(ALPHABET), min_size=1, max_size=5))
    return batch, query


def usable(query: str) -> bool:
    # A phrase needs some text; `*`/`?` are not in the alphabet, so every phrase is literal.
    return bool(query.strip()) and any(model_word_char(c) for c in query)


@SETTINGS
@given(line_and_query())
def test_phrases_match_what_the_docs_say(case: tuple[list[str], str]) -> None:
    batch, query = case
    if not usable(query):
        return
    node = parse(f'"{query}"').filter
    assert evaluate(node, batch) == [model_term(line, query) for line in batch], (query, batch)


@SETTINGS
@given(line_and_query())
def test_the_token_index_holds_every_token_of_a_match(case: tuple[list[str], str]) -> None:
    """A block is skipped when one of the query's tokens is not among its lines' tokens: never for a match."""
    batch, query = case
    stored = word_text(pa.array(batch, pa.string())).to_pylist()
    for line, words in zip(batch, stored, strict=True):
        if usable(query) and model_term(line, query):
            assert set(query_tokens(model_lower(query))) <= set(words.split(" ")), (line, query, words)


# --- numbers -------------------------------------------------------------------------------------

NUMBER_TEXT = st.one_of(
    st.sampled_from(["NaN", "nan", "-NaN", "Infinity", "-Infinity", "inf", "-inf", "1e999", "-1e999", "1e308"]),
    st.sampled_from(["0x10", "0x1A", "1_000", " 5 ", "+5", ".5", "5.", "1e5", "abc", "", "1,5", "--1", "0"]),
    st.integers(-1000, 1000).map(str),
    st.floats(allow_nan=False, allow_infinity=False, width=64).map(repr),
)
BOUND = st.one_of(
    st.integers(-1000, 1000).map(str), st.sampled_from(["0", "1e300", "-1e300", "0.5", "1.7976931348623157e308"])
)


@SETTINGS
@given(st.lists(NUMBER_TEXT, min_size=1, max_size=8), st.sampled_from([">", ">=", "<", "<="]), BOUND)
def test_numeric_comparisons_match_what_the_docs_say(values: list[str], op: str, bound: str) -> None:
    node = parse(f"code:{op}{bound}").filter
    b = float(bound)
    tests = {">": lambda v: v > b, ">=": lambda v: v >= b, "<": lambda v: v < b, "<=": lambda v: v <= b}
    want = [(n := model_number(v)) is not None and tests[op](n) for v in values]
    assert evaluate(node, ["x"] * len(values), [{"code": v} for v in values]) == want, (values, op, bound)


@SETTINGS
@given(st.lists(NUMBER_TEXT, min_size=1, max_size=8), BOUND, BOUND, st.booleans(), st.booleans(), st.booleans())
def test_numeric_ranges_match_what_the_docs_say(
    values: list[str], low: str, high: str, inc_low: bool, inc_high: bool, open_high: bool
) -> None:
    node = parse(
        f"code:{'[' if inc_low else '{'}{low} TO {'*' if open_high else high}{']' if inc_high else '}'}"
    ).filter
    lo, hi = float(low), math.inf if open_high else float(high)

    def inside(n: float) -> bool:
        return (n >= lo if inc_low else n > lo) and (open_high or (n <= hi if inc_high else n < hi))

    want = [(n := model_number(v)) is not None and inside(n) for v in values]
    assert evaluate(node, ["x"] * len(values), [{"code": v} for v in values]) == want, (values, low, high)


# --- _time bounds --------------------------------------------------------------------------------

A = datetime(2026, 11, 21, 10, 0, tzinfo=UTC)
OFFSETS = st.sampled_from([-1_000_000, -500_000, -1, 0, 1, 499_999, 500_000, 1_000_000])


@SETTINGS
@given(st.lists(OFFSETS, min_size=1, max_size=8), OFFSETS, OFFSETS, st.booleans(), st.booleans())
def test_time_ranges_match_what_the_docs_say(
    lines_at: list[int], low: int, high: int, inc_low: bool, inc_high: bool
) -> None:
    lo, hi = A + timedelta(microseconds=low), A + timedelta(microseconds=high)
    text = f"_time:{'[' if inc_low else '{'}{lo.isoformat()} TO {hi.isoformat()}{']' if inc_high else '}'}"
    start, end = resolve_range(parse(text), A - timedelta(days=1), A + timedelta(days=1), A)
    for offset in lines_at:
        ts = A + timedelta(microseconds=offset)
        want = (ts >= lo if inc_low else ts > lo) and (ts <= hi if inc_high else ts < hi)
        assert (start <= ts < end) == want, (text, ts)


@pytest.mark.parametrize("op", [">", ">=", "<", "<="])
def test_time_comparisons_at_the_bound(op: str) -> None:
    start, end = resolve_range(parse(f"_time:{op}{A.isoformat()}"), A - timedelta(days=1), A + timedelta(days=1), A)
    for offset in (-1, 0, 1):
        ts = A + timedelta(microseconds=offset)
        want = {">": offset > 0, ">=": offset >= 0, "<": offset < 0, "<=": offset <= 0}[op]
        assert (start <= ts < end) == want, (op, offset)


# --- CIDR ----------------------------------------------------------------------------------------


@st.composite
def ip_text(draw: st.DrawFn) -> str:
    kind = draw(st.sampled_from(["v4", "v6", "mapped", "mapped_hex", "exploded", "upper", "junk"]))
    v4 = ipaddress.IPv4Address(
        draw(st.sampled_from([0x0A000001, 0x0AFFFFFF, 0xC0A80001, 0, 0xFFFFFFFF])) ^ draw(st.integers(0, 255))
    )
    v6 = ipaddress.IPv6Address(
        draw(st.sampled_from([0x20010DB8 << 96, 1, 0, 0xFFFF << 32, 0xFE80 << 112])) | draw(st.integers(0, 1 << 16))
    )
    if kind == "v4":
        return str(v4)
    if kind == "v6":
        return str(v6)
    if kind == "mapped":
        return f"::ffff:{v4}"
    if kind == "mapped_hex":
        return str(ipaddress.IPv6Address(_MAPPED + int(v4)))
    if kind == "exploded":
        return v6.exploded
    if kind == "upper":
        return str(v6).upper()
    return draw(
        st.sampled_from(["ffff:1", "1::2::3", "256.1.1.1", "::ffff:1.2.3", "1:2:3:4:5:6:7:8:9", "10.0.0.1x", ""])
    )


NETWORKS = st.sampled_from(
    [
        "10.0.0.0/8",
        "10.0.0.0/32",
        "0.0.0.0/0",
        "192.168.0.0/16",
        "::ffff:0:0/96",
        "::ffff:a00:0/104",
        "::/0",
        "2001:db8::/32",
        "fe80::/10",
        "::1/128",
    ]
)


@SETTINGS
@given(st.lists(ip_text(), min_size=1, max_size=8), NETWORKS)
def test_cidr_matches_what_the_docs_say(ips: list[str], network: str) -> None:
    node = parse(f"client_ip:{network}").filter
    want = [model_cidr(ip, network) for ip in ips]
    assert evaluate(node, ["x"] * len(ips), [{"client_ip": ip} for ip in ips]) == want, (ips, network)
