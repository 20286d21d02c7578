"""Row filters (`plan.filter.Node`) → DuckDB boolean expressions, built as sqlglot expressions.

User text only ever becomes a sqlglot `Literal` or a quoted `Identifier`, so it cannot change the shape
of the SQL. How a field is read is up to a `FieldResolver`: the store reads attributes from the attrs JSON
text, the stream filter from typed columns of wide batches (query/filter.py); the rest is shared, so both
give the same answer for the same data.
"""

from __future__ import annotations

import functools
import ipaddress
import math
import re
import sys
from collections.abc import Callable
from typing import Literal, NamedTuple, Protocol

import sqlglot
from sqlglot import exp

from logwarden.model.levels import LEVELS
from logwarden.plan import filter as ast
from logwarden.plan.errors import QuerySyntaxError
from logwarden.plan.words import bounded_regex, contains_regex, fold, wildcard_regex

# The store connection's Unicode word-boundary test (store/duckdb/word_udf.py).
UNICODE_MATCH_UDF = "lw_unicode_match"

DIALECT = "duckdb"
_NUMBER_RE = re.compile(r"^[-+]?(\d+(\.\d*)?|\.\d+)([eE][-+]?\d+)?$")
_DOUBLE = exp.DataType.build("DOUBLE")
_VARCHAR = exp.DataType.build("VARCHAR")

# IP text → comparable forms; `:v` is replaced by the field's text expression (never by user input).
# Dotted IPv4: four decimal octets of 1-3 digits, each at most 255 (None otherwise).
_V4_RE = "'\\d{1,3}\\.\\d{1,3}\\.\\d{1,3}\\.\\d{1,3}'"


def _ipv4_int_sql(v: str) -> str:
    octets = " + ".join(
        f"TRY_CAST(split_part({v}, '.', {k + 1}) AS UTINYINT)::UBIGINT * {256 ** (3 - k)}" for k in range(4)
    )
    return f"CASE WHEN regexp_full_match({v}, {_V4_RE}) THEN {octets} END"


_IPV4_INT = _ipv4_int_sql(":v")
# An IPv6 text with `::` expanded to its zero groups (None when `::` is repeated or stands for no group).
_EXPAND6 = """CASE WHEN NOT contains(_w, '::') THEN _w
  WHEN NOT contains(_w, ':::') AND len(_w) - len(replace(_w, '::', '')) = 2 THEN
    list_transform([[split_part(_w, '::', 1), split_part(_w, '::', 2)]], _lr ->
      CASE WHEN len(list_filter(string_split(_lr[1] || ':' || _lr[2], ':'), _g -> _g <> '')) <= 7 THEN
        concat_ws(':', nullif(_lr[1], ''),
          rtrim(repeat('0:', 8 - len(list_filter(string_split(_lr[1] || ':' || _lr[2], ':'), _g -> _g <> ''))), ':'),
          nullif(_lr[2], ''))
      END)[1]
  END"""
# A trailing dotted IPv4 (`::ffff:10.0.0.1`, `64:ff9b::1.2.3.4`) as its two hex groups.
_DOTTED_TAIL = f"""CASE WHEN regexp_matches(_v, ':\\d{{1,3}}\\.\\d{{1,3}}\\.\\d{{1,3}}\\.\\d{{1,3}}$') THEN
  list_transform([{_ipv4_int_sql("regexp_extract(_v, '[^:]*$')")}], _n ->
    regexp_extract(_v, '^.*:') || printf('%x:%x', _n // 65536, _n % 65536))[1]
  ELSE _v END"""
# The 32 lowercase hex digits of an IPv6 text (`::ffff:10.0.0.1` and `::ffff:a00:1` alike): fixed width, so
# text order is numeric order. Null for anything else (IPv4 text among them).
_IP_HEX = f"""list_transform([:v], _v -> CASE
  WHEN contains(_v, ':') THEN list_transform([list_transform([{_DOTTED_TAIL}], _w -> {_EXPAND6})[1]], _e ->
    CASE WHEN regexp_full_match(_e, '(?:[0-9A-Fa-f]{{1,4}}:){{7}}[0-9A-Fa-f]{{1,4}}') THEN
      array_to_string(list_transform(string_split(lower(_e), ':'), _g -> lpad(_g, 4, '0')), '') END)[1]
  END)[1]"""
_MAPPED_V4 = ipaddress.IPv6Network("::ffff:0:0/96")


class FieldResolver(Protocol):
    """How one table shape exposes fields to filters."""

    def text(self, field: ast.FieldRef) -> exp.Expr:
        """The value as VARCHAR (null when absent)."""
        ...

    def number(self, field: ast.FieldRef) -> exp.Expr:
        """The value as DOUBLE (null when absent or not a number)."""
        ...

    def exists(self, field: ast.FieldRef) -> exp.Expr:
        """True when the row has a non-null value."""
        ...


def lit(value: str) -> exp.Literal:
    return exp.Literal.string(value)


def number_lit(value: float) -> exp.Expr:
    return exp.Literal.number(repr(float(value)))


# The largest finite double: numeric tests are BETWEEN finite bounds, so NaN (which DuckDB orders above every
# number) and ±Infinity (attribute text "NaN", "inf", "1e999") are not numbers and never match.
_MAX = sys.float_info.max


def number_test(op: str, value: exp.Expr, bound: float) -> exp.Expr:
    """`value <op> bound` (`> >= < <= = !=`) as numbers, false for NaN and ±Infinity (no double evaluation:
    one BETWEEN, except `!=`)."""
    if op == "=":
        return exp.EQ(this=value, expression=number_lit(bound))
    if op == "!=":
        return exp.and_(exp.NEQ(this=value, expression=number_lit(bound)), number_between(value.copy(), -_MAX, _MAX))
    low = {">": math.nextafter(bound, math.inf), ">=": bound}.get(op, -_MAX)
    high = {"<": math.nextafter(bound, -math.inf), "<=": bound}.get(op, _MAX)
    return number_between(value, low, high)


def number_between(value: exp.Expr, low: float, high: float) -> exp.Expr:
    """`value BETWEEN low AND high` with finite bounds: false for NaN and ±Infinity (empty if low > high)."""
    low, high = max(low, -_MAX), min(high, _MAX)
    if low > high:
        return exp.false()
    return exp.Between(this=value, low=number_lit(low), high=number_lit(high))


def finite(value: exp.Expr) -> exp.Expr:
    """The number, or null for NaN and ±Infinity (for aggregates and eval: DuckDB computes `value` once in a
    projection)."""
    return exp.Case(ifs=[exp.If(this=func("isfinite", value), true=value.copy())])


def as_number(text: str | None) -> float | None:
    """The number a value spells, or None (not a number, or not finite)."""
    if text is None or not _NUMBER_RE.match(text):
        return None
    value = float(text)
    return value if math.isfinite(value) else None


def attr_path(key: str) -> str:
    """A JSON pointer to a top-level key (attrs keys are dotted strings, so no JSONPath nesting)."""
    return "/" + key.replace("~", "~0").replace("/", "~1")


def func(name: str, *args: exp.Expr) -> exp.Expr:
    return exp.Anonymous(this=name, expressions=list(args))


def compile_node(node: ast.Node, fields: FieldResolver) -> exp.Expr:
    """A boolean DuckDB expression for a row filter."""
    if isinstance(node, ast.MatchAll):
        return exp.true()
    if isinstance(node, ast.And):
        return exp.and_(*(compile_node(item, fields) for item in _cheap_first(node.items)))
    if isinstance(node, ast.Or):
        return exp.or_(*(compile_node(item, fields) for item in node.items))
    if isinstance(node, ast.Not):
        # NOT over null (a missing field) must still select the row: COALESCE makes the inner test false.
        return exp.Not(this=exp.paren(exp.Coalesce(this=compile_node(node.item, fields), expressions=[exp.false()])))
    if isinstance(node, ast.Term):
        return _term(node, fields)
    if isinstance(node, ast.Equals):
        return _equals(node, fields)
    if isinstance(node, ast.Wildcard):
        return like(fields.text(node.field), like_pattern(node.pattern))
    if isinstance(node, ast.EqualsNoCase):
        if node.glob:
            return like(fields.text(node.field), like_pattern(node.value), case_insensitive=True)
        return exp.EQ(this=exp.Lower(this=fields.text(node.field)), expression=exp.Lower(this=lit(node.value)))
    if isinstance(node, ast.Compare):
        return _compare(node, fields)
    if isinstance(node, ast.Range):
        return _range(node, fields)
    if isinstance(node, ast.Cidr):
        return _cidr(node, fields)
    if isinstance(node, ast.Exists):
        return fields.exists(node.field)
    if isinstance(node, ast.Regex):
        return exp.RegexpLike(this=fields.text(node.field), expression=lit(node.pattern))
    raise TypeError(f"unknown node {node!r}")


def like_pattern(glob: str, *, contains: bool = False) -> str:
    """A LIKE pattern (escape `\\`) for a glob where `*` is any text and `?` one character."""
    out = []
    for ch in glob:
        if ch == "*":
            out.append("%")
        elif ch == "?":
            out.append("_")
        elif ch in "%_\\":
            out.append("\\" + ch)
        else:
            out.append(ch)
    body = "".join(out)
    return f"%{body}%" if contains else body


def _cheap_first(items: tuple[ast.Node, ...]) -> list[ast.Node]:
    """Core-column tests before message scans before attrs JSON lookups (DuckDB keeps AND order)."""

    def cost(node: ast.Node) -> int:
        field = getattr(node, "field", None)
        if isinstance(field, ast.FieldRef):
            return 0 if field.core and field.name != "message" else 3
        if isinstance(node, ast.Term):
            return 2
        return 4

    return sorted(items, key=cost)


def _term(node: ast.Term, fields: FieldResolver) -> exp.Expr:
    """Words and phrases match whole words (`time` does not match `timeout`; write `time*`), ignoring case.

    A cheap case-insensitive substring test first (ILIKE, or `contains_regex` for reads narrowed by the token
    index); the word-boundary regex then runs, on the lowered message (plan/words.py: both sides lowered character
    by character), only on the lines it lets through.
    """
    message = fields.text(ast.FieldRef("message", True))
    low = fold(node.text)
    lowered = exp.Lower(this=message.copy())
    if node.wildcard:
        candidates = like(message, like_pattern(low, contains=True), case_insensitive=True)
        return exp.And(this=candidates, expression=_bounded(node.text, message, lowered, fields, wildcard_regex))
    if getattr(fields, "narrowed", False):
        # Rows read by rowid ranges (the token index): a case-insensitive literal search (RE2 `(?i)`) costs about half
        # of ILIKE there (DuckDB's pushed-down ILIKE pays per range); over whole row groups ILIKE is ~20% cheaper.
        substring: exp.Expr = func("regexp_matches", message, lit(contains_regex(node.text)))
    elif any(ch in low for ch in "%_\\"):
        # LIKE would need an ESCAPE clause, which DuckDB evaluates about 2x slower than contains().
        substring = func("contains", exp.Lower(this=message), lit(low))
    else:
        # ILIKE '%x%' without ESCAPE runs about 2x faster than contains(lower(message), 'x') in DuckDB.
        substring = exp.ILike(this=message, expression=lit(f"%{low}%"))
    return exp.And(this=substring, expression=_bounded(node.text, message, lowered, fields, bounded_regex))


def _bounded(
    text: str, message: exp.Expr, lowered: exp.Expr, fields: FieldResolver, pattern: Callable[..., str]
) -> exp.Expr:
    """The word-boundary test of a term (`pattern`: `bounded_regex` or `wildcard_regex`) on the lowered message.

    With `fields.unicode_udf` (the store's connection, store/duckdb/word_udf.py), pure-ASCII lines take the pattern's
    ASCII classes and only the others the Unicode pattern, inside `lw_unicode_match`: DuckDB would compile a constant
    Unicode-class pattern at bind for every table scanned (~7 ms each), whereas the function compiles it only for
    batches holding a non-ASCII candidate line. Without it, the Unicode pattern as a constant.
    """
    if not getattr(fields, "unicode_udf", False):
        return func("regexp_matches", lowered, lit(pattern(text)))
    # strlen counts bytes and length characters: equal exactly when the line is ASCII (and so is its lowercase).
    is_ascii = exp.EQ(this=func("strlen", message.copy()), expression=func("length", message.copy()))
    ascii_test = func("regexp_matches", lowered.copy(), lit(pattern(text, ascii_only=True)))
    unicode_test = func(UNICODE_MATCH_UDF, lowered.copy(), lit(pattern(text)))
    return exp.Case(ifs=[exp.If(this=is_ascii, true=ascii_test)], default=unicode_test)


def like(value: exp.Expr, pattern: str, *, case_insensitive: bool = False) -> exp.Expr:
    """value [I]LIKE pattern, with ESCAPE only when the pattern has escapes (it costs ~2x in DuckDB)."""
    cls = exp.ILike if case_insensitive else exp.Like
    test = cls(this=value, expression=lit(pattern))
    if "\\" in pattern:
        return exp.Escape(this=test, expression=lit("\\"))
    return test


def _equals(node: ast.Equals, fields: FieldResolver) -> exp.Expr:
    number = as_number(node.value)
    if node.field.core and node.field.name in ast.NUMERIC_CORE and number is not None:
        return exp.EQ(this=fields.number(node.field), expression=number_lit(number))
    return exp.EQ(this=fields.text(node.field), expression=lit(node.value))


def _level_set(op: str, value: str) -> list[str]:
    rank = LEVELS.index(value)
    picks = {
        ">": LEVELS[rank + 1 :],
        ">=": LEVELS[rank:],
        "<": LEVELS[:rank],
        "<=": LEVELS[: rank + 1],
    }[op]
    return list(picks)


def _in(target: exp.Expr, values: list[str]) -> exp.Expr:
    if not values:
        return exp.false()
    return exp.In(this=target, expressions=[lit(v) for v in values])


def _compare(node: ast.Compare, fields: FieldResolver) -> exp.Expr:
    if node.field.core and node.field.name == "level":
        return _in(fields.text(node.field), _level_set(node.op, node.value))
    number = as_number(node.value)
    if number is not None:
        return number_test(node.op, fields.number(node.field), number)
    return comparison(node.op, fields.text(node.field), lit(node.value))


def _range(node: ast.Range, fields: FieldResolver) -> exp.Expr:
    if node.field.core and node.field.name == "level":
        allowed = set(LEVELS)
        if node.low is not None:
            allowed &= set(_level_set(">=" if node.include_low else ">", node.low))
        if node.high is not None:
            allowed &= set(_level_set("<=" if node.include_high else "<", node.high))
        return _in(fields.text(node.field), [lv for lv in LEVELS if lv in allowed])
    low, high = as_number(node.low), as_number(node.high)
    numeric = (node.low is None or low is not None) and (node.high is None or high is not None)
    if numeric:
        lo = -_MAX if low is None else low if node.include_low else math.nextafter(low, math.inf)
        hi = _MAX if high is None else high if node.include_high else math.nextafter(high, -math.inf)
        return number_between(fields.number(node.field), lo, hi)
    target = fields.text(node.field)
    tests = []
    if node.low is not None:
        tests.append(comparison(">=" if node.include_low else ">", target, lit(node.low)))
    if node.high is not None:
        tests.append(comparison("<=" if node.include_high else "<", target.copy(), lit(node.high)))
    return exp.and_(*tests)


def comparison(op: str, left: exp.Expr, right: exp.Expr) -> exp.Expr:
    """`left <op> right` for the language's comparison operators."""
    classes: dict[str, type[exp.Binary]] = {
        ">": exp.GT,
        ">=": exp.GTE,
        "<": exp.LT,
        "<=": exp.LTE,
        "=": exp.EQ,
        "!=": exp.NEQ,
    }
    return classes[op](this=left, expression=right)


@functools.cache
def _template(sql: str) -> exp.Expr:
    return sqlglot.parse_one(sql, dialect=DIALECT)


def _fill(template: str, value: exp.Expr) -> exp.Expr:
    def swap(node: exp.Expr) -> exp.Expr:
        if isinstance(node, exp.Placeholder) and node.name == "v":
            return value.copy()
        return node

    return _template(template).copy().transform(swap)


def _cidr(node: ast.Cidr, fields: FieldResolver) -> exp.Expr:
    """An IPv4 network also matches IPv4-mapped IPv6 text: `10.0.0.0/8` matches `::ffff:10.0.0.1` (and
    `::ffff:a00:1`). An IPv6 network matches IPv6 text only: `::/0` is any IPv6 address, not IPv4 text."""
    network = ipaddress.ip_network(node.network)
    text = exp.func("trim", fields.text(node.field))
    if isinstance(network, ipaddress.IPv4Network):
        lo, hi = int(network.network_address), int(network.broadcast_address)
        dotted = exp.Between(this=_fill(_IPV4_INT, text), low=exp.Literal.number(lo), high=exp.Literal.number(hi))
        # The same network among IPv4-mapped IPv6 texts (every one has a `ffff:` group: a cheap test first).
        mapped = ipaddress.IPv6Network((int(_MAPPED_V4.network_address) + lo, 96 + network.prefixlen))
        six = exp.and_(exp.ILike(this=text.copy(), expression=lit("%ffff:%")), _hex_between(mapped, text.copy()))
        return exp.paren(exp.or_(dotted, six))
    if not isinstance(network, ipaddress.IPv6Network):
        raise QuerySyntaxError(f"invalid network {node.network!r}")
    return _hex_between(network, text)


def _hex_between(network: ipaddress.IPv6Network, text: exp.Expr) -> exp.Expr:
    lo_hex = network.network_address.exploded.replace(":", "")
    hi_hex = network.broadcast_address.exploded.replace(":", "")
    return exp.Between(this=_fill(_IP_HEX, text), low=lit(lo_hex), high=lit(hi_hex))


# --- resolvers -----------------------------------------------------------------------------


class AttrRequest(NamedTuple):
    """An attribute value a query reads as a column of the store's `logs` source: the attribute's text
    (`json_extract_string`) or its number (`TRY_CAST` of that text to DOUBLE), under the name `column`."""

    key: str
    kind: Literal["text", "number"]
    column: str


class AttrColumns:
    """The attribute values one compiled query reads as source columns (the store supplies them per partition,
    from a typed column where it has one: store/duckdb/typed.py)."""

    def __init__(self) -> None:
        self._requests: dict[tuple[str, str], AttrRequest] = {}

    def column(self, key: str, kind: Literal["text", "number"]) -> exp.Expr:
        request = self._requests.get((key, kind))
        if request is None:
            # Names no core column, attribute column (`a$…`) or extracted column (`__lw_attr_…`) can have.
            request = AttrRequest(key, kind, f"__lw_{kind[0]}{len(self._requests)}")
            self._requests[(key, kind)] = request
        return exp.column(request.column, quoted=True)

    @property
    def requests(self) -> tuple[AttrRequest, ...]:
        return tuple(self._requests.values())


class StoreFields:
    """Fields of the store's core schema: core columns directly, attributes from the attrs JSON text — or,
    given `attr_columns`, from the columns the store's source adds for them.

    `narrowed`: the rows are likely read by a few of the token index's rowid ranges (plan_sql.likely_narrow), which
    picks the cheaper substring test of a term for such reads (`_term`). `unicode_udf`: the SQL runs on the store's
    connection, which has `lw_unicode_match` (`_bounded`)."""

    def __init__(
        self,
        attrs_column: str = "attrs",
        attr_columns: AttrColumns | None = None,
        *,
        narrowed: bool = False,
        unicode_udf: bool = False,
    ) -> None:
        self.attrs_column = attrs_column
        self.attr_columns = attr_columns
        self.narrowed = narrowed
        self.unicode_udf = unicode_udf

    def column(self, name: str) -> exp.Expr:
        return exp.column(name, quoted=True)

    def text(self, field: ast.FieldRef) -> exp.Expr:
        if field.core:
            col = self.column(field.name)
            if field.name in ast.NUMERIC_CORE or field.name in ast.TIME_CORE:
                return exp.cast(col, _VARCHAR)
            return col
        if self.attr_columns is not None:
            return self.attr_columns.column(field.name, "text")
        return exp.JSONExtractScalar(this=self.column(self.attrs_column), expression=lit(attr_path(field.name)))

    def number(self, field: ast.FieldRef) -> exp.Expr:
        if field.core and field.name in ast.NUMERIC_CORE:
            return exp.cast(self.column(field.name), _DOUBLE)
        if not field.core and self.attr_columns is not None:
            return self.attr_columns.column(field.name, "number")
        return exp.TryCast(this=self.text(field), to=_DOUBLE.copy())

    def exists(self, field: ast.FieldRef) -> exp.Expr:
        if field.core:
            return exp.Not(this=exp.Is(this=self.column(field.name), expression=exp.Null()))
        return exp.Not(this=exp.Is(this=self.text(field), expression=exp.Null()))

    def value(self, field: ast.FieldRef) -> exp.Expr:
        """The field for display: typed core columns, attributes as JSON text (decoded by the caller)."""
        if field.core:
            return self.column(field.name)
        return exp.JSONExtract(this=self.column(self.attrs_column), expression=lit(attr_path(field.name)))
