"""Parse tree → `ast.Query`: the lark transformer that builds the query's nodes and checks each value (levels,
regexes, durations, networks, counts) as it goes; every error is a QuerySyntaxError naming its column."""

from __future__ import annotations

import ipaddress
import math
import re
from typing import Any

import duckdb
import pyarrow as pa
from lark import Token, Transformer_NonRecursive, v_args

from logwarden.model.levels import normalize_level_text
from logwarden.model.scratch_db import thread_scratch_connection
from logwarden.plan.evaluate import check_call
from logwarden.plan.rows import extract_pattern, extract_regex
from logwarden.plan.table import check_pipe_order
from logwarden.plan.words import fold
from logwarden.query import ast
from logwarden.query.durations import parse_duration
from logwarden.query.errors import QuerySyntaxError

_UNESCAPE_RE = re.compile(r"\\(.)", re.DOTALL)
_CIDR_RE = re.compile(r"^[0-9A-Fa-f.:]+/\d{1,3}$")
_TIME_FIELDS = frozenset({"_time", "ts"})
# Short names of core columns in filters: `pattern:<id>` is `pattern_id:<id>` (an attribute named `pattern` stays
# reachable as `attrs.pattern:`).
FIELD_ALIASES = {"pattern": "pattern_id"}
# Names an eval field may not take: stored columns a hit carries besides the core fields.
_RESERVED_NAMES = frozenset({"attrs", "seq", "_time"})


def _unquote(token: Token) -> str:
    return _UNESCAPE_RE.sub(r"\1", str(token)[1:-1])


def _duration(token: Token) -> float:
    return parse_duration(str(token), name="span", column=int(token.column or 1))


def check_regex(pattern: str, column: int) -> None:
    """Reject a pattern RE2 (DuckDB's regex engine) cannot compile, before it reaches a query."""
    try:
        # Fetched: an unread result would block the thread's next use of the connection.
        thread_scratch_connection().execute("SELECT regexp_matches('', $p)", {"p": pattern}).fetchall()
    except duckdb.Error as exc:
        reason = str(exc).split(":", 1)[-1].strip().splitlines()[0]
        raise QuerySyntaxError(f"invalid regex /{pattern}/: {reason}", column, pattern) from None


def normalize_level(value: str, column: int) -> str:
    level = normalize_level_text(pa.array([value], pa.string()))[0].as_py()
    if level is None:
        raise QuerySyntaxError(
            f"unknown level {value!r}: use trace, debug, info, warn, error or fatal", column, value
        ) from None
    return str(level)


class _Time:
    """A `_time` clause while building; it must end up directly under the top-level AND."""

    def __init__(self, value: ast.TimeRange, column: int) -> None:
        self.value = value
        self.column = column


@v_args(inline=True)
class QueryBuilder(Transformer_NonRecursive[Token, Any]):
    """Parse tree → AST, validating values (levels, regexes, CIDRs, aggregates) as it goes."""

    # --- filter ---

    @v_args(inline=False)
    def start(self, children: list[Any]) -> ast.Query:
        pipes = tuple(c for c in children if not isinstance(c, ast.Node | _Time))
        filters = [c for c in children if isinstance(c, ast.Node | _Time)]
        node = filters[0] if filters else ast.MatchAll()
        items = list(node.items) if isinstance(node, ast.And) else [node]
        time = None
        rest: list[ast.Node] = []
        for item in items:
            if isinstance(item, _Time):
                if time is not None:
                    raise QuerySyntaxError("only one _time range is allowed", item.column, "_time")
                time = item.value
            else:
                _reject_nested_time(item)
                rest.append(item)
        node = rest[0] if len(rest) == 1 else ast.And(tuple(rest)) if rest else ast.MatchAll()
        check_pipe_order(pipes)
        return ast.Query(node, time, pipes)

    def or_(self, left: Any, right: Any) -> ast.Node:
        _no_time(left, right, "OR")
        items = [*(left.items if isinstance(left, ast.Or) else (left,)), right]
        return ast.Or(tuple(items))

    def and_(self, left: Any, right: Any) -> ast.Node:
        items = [*(left.items if isinstance(left, ast.And) else (left,)), right]
        return ast.And(tuple(items))

    def not_(self, *children: Any) -> ast.Node:
        item = children[-1]
        _no_time(item, None, "NOT")
        return ast.Not(item)

    def term(self, token: Token) -> ast.Node:
        text = str(token)
        if text in ("AND", "OR"):
            raise QuerySyntaxError(
                f"{text} needs a search term on each side (quote it to search the word)", _col(token)
            )
        if text.strip("*") == "":
            return ast.MatchAll()
        return _message_term(text)

    def phrase(self, token: Token) -> ast.Node:
        return ast.Term(fold(_unquote(token)))

    def field(self, name_token: Token, value: Any) -> ast.Node | _Time:
        name = str(name_token)[:-1]
        column = _col(name_token)
        kind, payload, value_column = value
        if name in _TIME_FIELDS:
            return _time_clause(kind, payload, column)
        if name == "_exists_":
            if kind not in ("word", "phrase"):
                raise QuerySyntaxError("_exists_ takes a field name: _exists_:trace_id", column, name)
            return ast.Exists(ast.FieldRef.parse(str(payload)))
        ref = ast.FieldRef.parse(FIELD_ALIASES.get(name, name))
        if kind == "list":
            return ast.Or(tuple(_field_value(ref, k, v, c) for k, v, c in payload))
        return _field_value(ref, kind, payload, value_column)

    def v_word(self, token: Token) -> tuple[str, Any, int]:
        return ("word", str(token), _col(token))

    def v_phrase(self, token: Token) -> tuple[str, Any, int]:
        return ("phrase", _unquote(token), _col(token))

    def v_regex(self, token: Token) -> tuple[str, Any, int]:
        pattern = str(token)[1:-1].replace("\\/", "/")
        check_regex(pattern, _col(token))
        return ("regex", pattern, _col(token))

    def v_cmp(self, op: Token, value: Token) -> tuple[str, Any, int]:
        text = _unquote(value) if value.type == "PHRASE" else str(value)
        return ("cmp", (str(op), text), _col(value))

    def v_range(self, open_: Token, low: Any, high: Any, close: Any) -> tuple[str, Any, int]:
        return ("range", (low, high, str(open_) == "[", str(close) == "]"), _col(open_))

    def v_nocase(self, open_: Token, value: Token) -> tuple[str, Any, int]:
        text = _unquote(value) if value.type == "PHRASE" else str(value)
        return ("nocase", (text, value.type == "VALUE"), _col(value))

    def v_list(self, items: list[tuple[str, Any, int]]) -> tuple[str, Any, int]:
        return ("list", items, items[0][2] if items else 1)

    def bound(self, token: Token) -> str | None:
        if token.type == "PHRASE":
            return _unquote(token)
        return None if str(token) == "*" else str(token)

    @v_args(inline=False)
    def value_list(self, tokens: list[Token]) -> list[tuple[str, Any, int]]:
        return [("phrase", _unquote(t), _col(t)) if t.type == "PHRASE" else ("word", str(t), _col(t)) for t in tokens]

    # --- pipes ---

    def pipe(self, command: Any) -> Any:
        return command

    @v_args(inline=False, meta=True)
    def stats(self, meta: Any, children: list[Any]) -> ast.Stats:
        aggs = children[0]
        by = children[1] if len(children) > 1 else ()
        return ast.Stats(aggs, tuple(ast.FieldRef.parse(n) for n in by), column=meta.column)

    @v_args(inline=False, meta=True)
    def timechart(self, meta: Any, children: list[Any]) -> ast.Timechart:
        span = None
        if children and isinstance(children[0], float):
            span = children.pop(0)
        aggs = children[0]
        by = children[1] if len(children) > 1 else ()
        if len(by) > 1:
            raise QuerySyntaxError("timechart splits by one field at most", meta.column, "by")
        ref = ast.FieldRef.parse(by[0]) if by else None
        return ast.Timechart(span, aggs, ref, column=meta.column)

    def span(self, token: Token) -> float:
        return _duration(token)

    @v_args(inline=False)
    def agg_list(self, aggs: list[ast.Agg]) -> tuple[ast.Agg, ...]:
        names = [a.alias for a in aggs]
        dupes = sorted({n for n in names if names.count(n) > 1})
        if dupes:
            raise QuerySyntaxError(f"two aggregates are named {dupes[0]!r}: rename one with `as`", 1, dupes[0])
        return tuple(aggs)

    @v_args(inline=False)
    def agg(self, children: list[Any]) -> ast.Agg:
        func_token: Token = children[0]
        func = str(func_token).lower()
        rest = children[1:]
        alias = rest.pop() if rest and isinstance(rest[-1], _Alias) else None
        field = ast.FieldRef.parse(str(rest[0])) if rest else None
        if func not in ast.AGG_FUNCS:
            allowed = ", ".join(sorted(ast.AGG_FUNCS))
            raise QuerySyntaxError(f"unknown aggregate {func!r}: use {allowed}", _col(func_token), func)
        if field is None and func != "count":
            raise QuerySyntaxError(f"{func}() needs a field: {func}(latency_ms)", _col(func_token), func)
        default = "count" if field is None else f"{func}({rest[0]})"
        return ast.Agg(func, field, alias.name if alias else default)

    def alias(self, token: Token) -> _Alias:
        return _Alias(str(token))

    def by_clause(self, names: tuple[str, ...]) -> tuple[str, ...]:
        return names

    @v_args(inline=False)
    def name_list(self, tokens: list[Token]) -> tuple[str, ...]:
        return tuple(str(t) for t in tokens)

    @v_args(inline=False, meta=True)
    def top(self, meta: Any, children: list[Any]) -> ast.Top:
        n, refs = _frequency_args(children, meta.column)
        return ast.Top(n, refs[0], column=meta.column, more=refs[1:])

    @v_args(inline=False, meta=True)
    def patterns(self, meta: Any, children: list[Any]) -> ast.Patterns:
        return ast.Patterns.of(_count(children[0], meta.column) if children else 10, meta.column)

    @v_args(inline=False, meta=True)
    def rare(self, meta: Any, children: list[Any]) -> ast.Rare:
        n, refs = _frequency_args(children, meta.column)
        return ast.Rare(n, refs[0], column=meta.column, more=refs[1:])

    @v_args(inline=False, meta=True)
    def extract(self, meta: Any, children: list[Any]) -> ast.Extract:
        token: Token = children[0]
        # Only \" is an escape here, so a regex keeps its backslashes: "from (?P<ip>\S+)".
        regex = str(token)[1:-1].replace('\\"', '"')
        source = children[1] if len(children) > 1 else ast.MESSAGE
        return extract_regex(regex, source, meta.column, _col(token))

    @v_args(inline=False, meta=True)
    def extract_pattern(self, meta: Any, children: list[Any]) -> ast.Extract:
        token: Token = children[0]
        source = children[1] if len(children) > 1 else ast.MESSAGE
        return extract_pattern(_unquote(token), source, meta.column, _col(token))

    @v_args(inline=False, meta=True)
    def json(self, meta: Any, children: list[Any]) -> ast.Unpack:
        return ast.Unpack("json", children[0] if children else ast.MESSAGE, column=meta.column)

    @v_args(inline=False, meta=True)
    def logfmt(self, meta: Any, children: list[Any]) -> ast.Unpack:
        return ast.Unpack("logfmt", children[0] if children else ast.MESSAGE, column=meta.column)

    def from_clause(self, token: Token) -> ast.FieldRef:
        return ast.FieldRef.parse(str(token))

    @v_args(inline=True, meta=True)
    def eval(self, meta: Any, name: Token, expr: ast.EvalExpr) -> ast.Eval:
        text = str(name)
        if ast.FieldRef.parse(text).name in ast.QUERY_CORE or text in _RESERVED_NAMES:
            raise QuerySyntaxError(f"cannot eval into {text!r}: it is a core field", _col(name), text)
        return ast.Eval(text, expr, column=meta.column)

    def e_or(self, left: ast.EvalExpr, right: ast.EvalExpr) -> ast.EvalExpr:
        return ast.EvalBinary("or", left, right)

    def e_and(self, left: ast.EvalExpr, right: ast.EvalExpr) -> ast.EvalExpr:
        return ast.EvalBinary("and", left, right)

    def e_not(self, item: ast.EvalExpr) -> ast.EvalExpr:
        return ast.EvalUnary("not", item)

    def e_neg(self, _minus: Token, item: ast.EvalExpr) -> ast.EvalExpr:
        return ast.EvalUnary("-", item)

    def e_binary(self, left: ast.EvalExpr, op: Token, right: ast.EvalExpr) -> ast.EvalExpr:
        return ast.EvalBinary("=" if str(op) == "==" else str(op), left, right)

    def e_number(self, token: Token) -> ast.EvalExpr:
        value = float(str(token))
        if not math.isfinite(value):
            raise QuerySyntaxError(f"{str(token)[:20]!r} is not a finite number", _col(token), str(token))
        return ast.EvalNumber(value)

    def e_text(self, token: Token) -> ast.EvalExpr:
        return ast.EvalText(_unquote(token))

    def e_field(self, token: Token) -> ast.EvalExpr:
        return ast.EvalField(str(token))

    @v_args(inline=False)
    def e_call(self, children: list[Any]) -> ast.EvalExpr:
        name: Token = children[0]
        args = tuple(children[1:])
        return ast.EvalCall(check_call(str(name), len(args), _col(name)), args)

    @v_args(inline=False, meta=True)
    def sort(self, meta: Any, keys: list[ast.SortKey]) -> ast.Sort:
        return ast.Sort(tuple(keys), column=meta.column)

    @v_args(inline=False)
    def sort_key(self, children: list[Token]) -> ast.SortKey:
        descending = len(children) > 1 and str(children[0]) == "-"
        return ast.SortKey(str(children[-1]), descending)

    @v_args(inline=False, meta=True)
    def limit(self, meta: Any, children: list[Token]) -> ast.Limit:
        return ast.Limit(_count(children[0], meta.column), column=meta.column)

    @v_args(inline=False, meta=True)
    def fields(self, meta: Any, children: list[Any]) -> ast.Fields:
        return ast.Fields(children[0], column=meta.column)

    @v_args(inline=False, meta=True)
    def where(self, meta: Any, children: list[Any]) -> ast.Where:
        return ast.Where(children[0], column=meta.column)

    def w_or(self, left: ast.WhereExpr, right: ast.WhereExpr) -> ast.WhereExpr:
        return ast.WhereOr((*(left.items if isinstance(left, ast.WhereOr) else (left,)), right))

    def w_and(self, left: ast.WhereExpr, right: ast.WhereExpr) -> ast.WhereExpr:
        return ast.WhereAnd((*(left.items if isinstance(left, ast.WhereAnd) else (left,)), right))

    def w_not(self, item: ast.WhereExpr) -> ast.WhereExpr:
        return ast.WhereNot(item)

    def w_cmp(self, name: Token, op: Token, value: Token) -> ast.WhereExpr:
        operator = "=" if str(op) == "==" else str(op)
        if value.type == "NUMBER":
            return ast.WhereCompare(str(name), operator, float(value))  # type: ignore[arg-type]
        if value.type == "PHRASE":
            return ast.WhereCompare(str(name), operator, _unquote(value))  # type: ignore[arg-type]
        return ast.WhereCompare(str(name), operator, str(value), value_is_column=True)  # type: ignore[arg-type]


class _Alias:
    def __init__(self, name: str) -> None:
        self.name = name


def _col(token: Token) -> int:
    return int(token.column or 1)


def _count(token: Token, column: int) -> int:
    n = int(str(token))
    if not 1 <= n <= 10_000:
        raise QuerySyntaxError(f"{n} is out of range: use 1 to 10000", _col(token) or column, str(token))
    return n


def _frequency_args(children: list[Any], column: int) -> tuple[int, tuple[ast.FieldRef, ...]]:
    """`top`/`rare` arguments: the count (10 when absent) and the distinct fields."""
    n = _count(children[0], column) if len(children) > 1 else 10
    names: tuple[str, ...] = children[-1]
    dupes = sorted({name for name in names if names.count(name) > 1})
    if dupes:
        raise QuerySyntaxError(f"{dupes[0]!r} appears twice", column, dupes[0])
    if any(name in ("count", "percent") for name in names):
        raise QuerySyntaxError("count and percent are the output columns of top and rare; not fields here", column)
    return n, tuple(ast.FieldRef.parse(name) for name in names)


def _message_term(text: str) -> ast.Node:
    # Terms match whole words, so `*` and `?` (anywhere: `conn*`, `*timeout`) widen the word.
    lowered = fold(text)  # lowered as messages are (plan/words.py): `İ` → `i`
    if "*" in text or "?" in text:
        return ast.Term(lowered, wildcard=True)
    return ast.Term(lowered)


def _field_value(ref: ast.FieldRef, kind: str, payload: Any, column: int) -> ast.Node:
    is_message = ref.core and ref.name == "message"
    is_level = ref.core and ref.name == "level"
    if kind == "regex":
        return ast.Regex(ref, payload)
    if kind == "nocase":
        text, bare = payload
        if is_message:  # message words already match ignoring case
            return _message_term(text) if bare else ast.Term(fold(text))
        if is_level:
            return ast.Equals(ref, normalize_level(text, column))
        # A bare value globs on * and ? like `host:web-*`; a quoted one is taken literally.
        glob = bare and ("*" in text or "?" in text)
        if glob and text.strip("*") == "":
            return ast.Exists(ref)
        return ast.EqualsNoCase(ref, text, glob=glob)
    if kind == "cmp":
        op, value = payload
        return ast.Compare(ref, op, normalize_level(value, column) if is_level else value)
    if kind == "range":
        low, high, include_low, include_high = payload
        if low is None and high is None:
            return ast.Exists(ref)
        return ast.Range(
            ref, _level_or(low, is_level, column), _level_or(high, is_level, column), include_low, include_high
        )
    text = str(payload)
    if kind == "phrase":
        if is_message:
            return ast.Term(fold(text))
        return ast.Equals(ref, normalize_level(text, column) if is_level else text)
    if is_message:
        return _message_term(text) if text.strip("*") else ast.Exists(ref)
    if "*" in text or "?" in text:
        if text.strip("*") == "":
            return ast.Exists(ref)
        return ast.Wildcard(ref, text.upper() if is_level else text)
    if is_level:
        return ast.Equals(ref, normalize_level(text, column))
    if _CIDR_RE.match(text):
        try:
            network = ipaddress.ip_network(text, strict=False)
        except ValueError:
            raise QuerySyntaxError(f"invalid network {text!r}: use 10.0.0.0/8 or 2001:db8::/32", column, text) from None
        return ast.Cidr(ref, str(network))
    return ast.Equals(ref, text)


def _level_or(value: str | None, is_level: bool, column: int) -> str | None:
    # Levels compare by severity order, so they are normalized like equality values.
    if value is None or not is_level:
        return value
    return normalize_level(value, column)


def _time_clause(kind: str, payload: Any, column: int) -> _Time:
    if kind == "range":
        low, high, include_low, include_high = payload
        return _Time(ast.TimeRange(low, high, include_high, include_low), column)
    if kind == "cmp":
        op, value = payload
        if op in (">", ">="):
            return _Time(ast.TimeRange(value, None, include_start=op == ">="), column)
        return _Time(ast.TimeRange(None, value, op == "<="), column)
    raise QuerySyntaxError("_time takes a range: _time:[now-1h TO now] or _time:>=now-15m", column, "_time")


def _no_time(left: Any, right: Any, op: str) -> None:
    for item in (left, right):
        if isinstance(item, _Time):
            raise QuerySyntaxError(f"_time cannot be combined with {op}; AND it with the rest", item.column, "_time")


def _reject_nested_time(node: Any) -> None:
    stack = [node]
    while stack:
        item = stack.pop()
        if isinstance(item, _Time):
            raise QuerySyntaxError("_time must be at the top level of the query", item.column, "_time")
        if isinstance(item, ast.And | ast.Or):
            stack.extend(item.items)
        elif isinstance(item, ast.Not):
            stack.append(item.item)
