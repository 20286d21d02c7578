"""Parser details the golden files do not show: error positions, limits, value handling."""

from __future__ import annotations

import pytest

from logwarden.query import ast
from logwarden.query.errors import QuerySyntaxError
from logwarden.query.parser import parse, parse_filter


@pytest.mark.parametrize(
    ("text", "column", "fragment"),
    [
        ("level:", 7, "end of query"),
        ("a OR", 5, "end of query"),
        ("AND b", 1, "AND needs"),
        ("level:nope", 7, "unknown level"),
        ("service:api level:nope", 19, "unknown level"),
        ("x:/(/", 3, "invalid regex"),
        ("(a", 3, "end of query"),
        ("a ) b", 3, "unexpected ')'"),
        ('a "b', 3, "unexpected character"),
        ("ip:10.0.0.300/8", 4, "invalid network"),
        ("| stats nope(x)", 9, "unknown aggregate"),
        ("| stats avg()", 9, "needs a field"),
        ("| stats count(), count()", 1, "two aggregates"),
        ("| limit 0", 9, "out of range"),
        ("| timechart span=0m count()", 18, "invalid duration"),
        ("a | limit 3 | where x > 1", 15, "come before sort, limit and fields"),
        ("| sort -a | stats count()", 13, "come before sort, limit and fields"),
        ("| top host | rare host", 14, "only one"),
        ("(a OR _time:[now-1h TO now])", 7, "_time cannot be combined with OR"),
        ("_time:[now-1h TO now] _time:[now-2h TO now]", 23, "only one _time"),
        ("_time:foo", 1, "_time takes a range"),
        ("NOT " * 100 + "a", 1, "more than 64 deep"),
        ("-" * 100 + "a", 1, "more than 64 deep"),
        ("x" * 20_000, 16_385, "longer than"),
    ],
)
def test_errors_point_at_the_column(text: str, column: int, fragment: str) -> None:
    with pytest.raises(QuerySyntaxError) as info:
        parse(text)
    assert info.value.column == column, info.value
    assert fragment in info.value.message


def test_long_flat_queries_parse() -> None:
    query = parse(" OR ".join(f"t{i}" for i in range(1500)))
    assert isinstance(query.filter, ast.Or)
    assert len(query.filter.items) == 1500
    assert len(parse("a " * 2000).filter.items) == 2000  # type: ignore[union-attr]


def test_field_resolution() -> None:
    assert ast.FieldRef.parse("service") == ast.FieldRef("service", True)
    assert ast.FieldRef.parse("attrs.service") == ast.FieldRef("service", False)
    assert ast.FieldRef.parse("attrs.http.status") == ast.FieldRef("http.status", False)
    assert ast.FieldRef.parse("user_id") == ast.FieldRef("user_id", False)
    assert str(ast.FieldRef("service", False)) == "attrs.service"
    assert str(ast.FieldRef("user_id", False)) == "user_id"


def test_values() -> None:
    f = parse('service:"a \\"b\\" c"').filter
    assert f == ast.Equals(ast.FieldRef("service", True), 'a "b" c')
    assert parse("host:*").filter == ast.Exists(ast.FieldRef("host", True))
    assert parse("status:[* TO *]").filter == ast.Exists(ast.FieldRef("status", False))
    assert parse("path:/a\\/b/").filter == ast.Regex(ast.FieldRef("path", False), "a/b")
    assert parse("ip:10.1.2.3/8").filter == ast.Cidr(ast.FieldRef("ip", False), "10.0.0.0/8")
    assert parse("ip:10.1.2.3").filter == ast.Equals(ast.FieldRef("ip", False), "10.1.2.3")
    assert parse("12:30:00").filter == ast.Term("12:30:00")
    assert parse("ORACLE").filter == ast.Term("oracle")
    assert parse("a\nb").filter == ast.And((ast.Term("a"), ast.Term("b")))


def test_filter_rejects_pipes() -> None:
    with pytest.raises(QuerySyntaxError, match="pipes"):
        parse_filter("a | limit 1")
    assert parse_filter("a").pipes == ()
