"""Row pipes: per-line stages between the filter and the aggregation (`extract`, `json`, `logfmt`, `where`).

Each stage adds fields to every line; later pipes (`where`, `stats`, `top`, `sort`, `timechart`, `fields`)
name them like stored fields. Nothing is materialized: `RowFields` wraps a backend's field resolver so that
a reference to an extracted name compiles to the DuckDB expression that extracts it (`regexp_extract`,
`json_extract_string`, a logfmt regex), evaluated vectorized and only for the names a query uses.
An extracted value wins where the line has it; elsewhere the stored field of that name shows through.
"""

from __future__ import annotations

import functools
import re
from typing import Protocol

import duckdb
import sqlglot
from sqlglot import exp

from logwarden.model.scratch_db import thread_scratch_connection
from logwarden.plan.duckdb_filter import FieldResolver, attr_path, comparison, func, lit, number_test
from logwarden.plan.errors import QuerySyntaxError
from logwarden.plan.evaluate import Eval, as_kind, compile_eval
from logwarden.plan.filter import FieldRef
from logwarden.plan.table import (
    Extract,
    RowPipe,
    Unpack,
    Where,
    WhereAnd,
    WhereCompare,
    WhereExpr,
    WhereNot,
    WhereOr,
)

_DOUBLE = exp.DataType.build("DOUBLE")
_VARCHAR = exp.DataType.build("VARCHAR")
# A logfmt value: a "quoted string" with \-escapes (group q), or a run of non-space characters (group u).
_LOGFMT_VALUE = r'(?:"((?:[^"\\]|\\.)*)"|([^\s"]*))'
# `:v` is replaced by the regexp_extract struct (never by user input).
_LOGFMT_UNQUOTE = (
    r"list_transform([:v], lambda r: COALESCE(NULLIF(regexp_replace(r.q, '\\(.)', '\1', 'g'), ''), "
    r"NULLIF(r.u, '')))[1]"
)


class ValueResolver(FieldResolver, Protocol):
    """A resolver that can also give a column and a field's display value (JSON text for attributes)."""

    def column(self, name: str) -> exp.Expr:
        """A core column."""
        ...

    def value(self, field: FieldRef) -> exp.Expr:
        """Core columns typed; other fields as JSON text."""
        ...


class _Stage:
    """A resolver that extracts some non-core names and defers everything else to `prev`."""

    def __init__(self, prev: ValueResolver) -> None:
        self.prev = prev

    def own_text(self, field: FieldRef) -> exp.Expr | None:
        """The extracted text of `field` on this stage (null where the line lacks it), or None if not ours."""
        raise NotImplementedError

    def own_value(self, field: FieldRef) -> exp.Expr | None:
        text = self.own_text(field)
        return None if text is None else exp.cast(func("to_json", text), _VARCHAR)

    def column(self, name: str) -> exp.Expr:
        return self.prev.column(name)

    def text(self, field: FieldRef) -> exp.Expr:
        mine = None if field.core else self.own_text(field)
        return self.prev.text(field) if mine is None else exp.Coalesce(this=mine, expressions=[self.prev.text(field)])

    def number(self, field: FieldRef) -> exp.Expr:
        mine = None if field.core else self.own_text(field)
        if mine is None:
            return self.prev.number(field)
        return exp.TryCast(this=self.text(field), to=_DOUBLE.copy())

    def exists(self, field: FieldRef) -> exp.Expr:
        mine = None if field.core else self.own_text(field)
        if mine is None:
            return self.prev.exists(field)
        return exp.or_(exp.Not(this=exp.Is(this=mine, expression=exp.Null())), self.prev.exists(field))

    def value(self, field: FieldRef) -> exp.Expr:
        mine = None if field.core else self.own_value(field)
        if mine is None:
            return self.prev.value(field)
        # Parenthesized: DuckDB would read a bare `attrs -> '/k'` argument as a lambda.
        return exp.Coalesce(this=mine, expressions=[exp.paren(self.prev.value(field))])


class _ExtractStage(_Stage):
    def __init__(self, prev: ValueResolver, pipe: Extract) -> None:
        super().__init__(prev)
        self.pipe = pipe
        self.index = dict(zip(pipe.names, pipe.groups, strict=True))

    def own_text(self, field: FieldRef) -> exp.Expr | None:
        group = self.index.get(field.name)
        if group is None:
            return None
        # The struct form of regexp_extract reaches any group (the integer form stops at 9); '' is no match.
        labels = exp.Array(expressions=[lit(f"g{i}") for i in range(1, max(self.pipe.groups) + 1)])
        found = func("regexp_extract", self.prev.text(self.pipe.source), lit(self.pipe.regex), labels)
        return exp.Nullif(this=func("struct_extract", found, lit(f"g{group}")), expression=lit(""))


class _JsonStage(_Stage):
    def __init__(self, prev: ValueResolver, source: FieldRef) -> None:
        super().__init__(prev)
        self.source = source

    def _document(self) -> exp.Expr:
        # Lines that are not JSON have no fields (json_extract would raise on them).
        text = self.prev.text(self.source)
        return exp.Case(ifs=[exp.If(this=func("json_valid", text), true=text.copy())])

    def _paths(self, field: FieldRef) -> list[str]:
        # `a.b` is the key "a.b" or, failing that, the key b of the object under a.
        paths = [attr_path(field.name)]
        if "." in field.name:
            paths.append("/" + "/".join(attr_path(part)[1:] for part in field.name.split(".")))
        return paths

    def own_text(self, field: FieldRef) -> exp.Expr | None:
        found = [func("json_extract_string", self._document(), lit(p)) for p in self._paths(field)]
        return found[0] if len(found) == 1 else exp.Coalesce(this=found[0], expressions=found[1:])

    def own_value(self, field: FieldRef) -> exp.Expr | None:
        found = [exp.cast(func("json_extract", self._document(), lit(p)), _VARCHAR) for p in self._paths(field)]
        return found[0] if len(found) == 1 else exp.Coalesce(this=found[0], expressions=found[1:])


class _LogfmtStage(_Stage):
    def __init__(self, prev: ValueResolver, source: FieldRef) -> None:
        super().__init__(prev)
        self.source = source

    def own_text(self, field: FieldRef) -> exp.Expr | None:
        pattern = r"(?:^|\s)" + re.escape(field.name) + "=" + _LOGFMT_VALUE
        text = self.prev.text(self.source)
        found = func("regexp_extract", text, lit(pattern), exp.Array(expressions=[lit("q"), lit("u")]))
        # A "quoted value" loses its quotes and backslash escapes; an empty value is no value. The lambda
        # reads the one regexp_extract result twice; written out twice, DuckDB would run the regex twice.
        value = _fill(_LOGFMT_UNQUOTE, found)
        # The regex only runs on lines that have `key=` at all (a vectorized substring test is ~10x cheaper).
        return exp.Case(ifs=[exp.If(this=func("contains", text.copy(), lit(field.name + "=")), true=value)])


class _EvalStage(_Stage):
    """`eval name = expr`: the name is the expression's value on every line (null included)."""

    def __init__(self, prev: ValueResolver, pipe: Eval) -> None:
        super().__init__(prev)
        self.pipe = pipe

    def _mine(self, field: FieldRef) -> bool:
        return not field.core and field.name == FieldRef.parse(self.pipe.name).name

    def _compiled(self, kind: str) -> exp.Expr:
        return as_kind(compile_eval(self.pipe.expr, self.prev, self.pipe.column), kind)

    def own_text(self, field: FieldRef) -> exp.Expr | None:
        return self._compiled("text") if self._mine(field) else None

    def text(self, field: FieldRef) -> exp.Expr:
        return self._compiled("text") if self._mine(field) else self.prev.text(field)

    def number(self, field: FieldRef) -> exp.Expr:
        return self._compiled("number") if self._mine(field) else self.prev.number(field)

    def exists(self, field: FieldRef) -> exp.Expr:
        if not self._mine(field):
            return self.prev.exists(field)
        return exp.Not(this=exp.Is(this=self._compiled("any"), expression=exp.Null()))

    def value(self, field: FieldRef) -> exp.Expr:
        if not self._mine(field):
            return self.prev.value(field)
        return exp.cast(func("to_json", self._compiled("any")), _VARCHAR)


@functools.cache
def _template(sql: str) -> exp.Expr:
    return sqlglot.parse_one(sql, dialect="duckdb")


def _fill(template: str, value: exp.Expr) -> exp.Expr:
    def swap(node: exp.Expr) -> exp.Expr:
        return value.copy() if isinstance(node, exp.Placeholder) and node.name == "v" else node

    return _template(template).copy().transform(swap)


def row_fields(base: ValueResolver, pipes: tuple[RowPipe, ...]) -> ValueResolver:
    """`base` seen through the row pipes in order: each stage sees the fields of the stages before it."""
    fields = base
    for pipe in pipes:
        if isinstance(pipe, Extract):
            fields = _ExtractStage(fields, pipe)
        elif isinstance(pipe, Eval):
            fields = _EvalStage(fields, pipe)
        elif isinstance(pipe, Unpack):
            fields = _JsonStage(fields, pipe.source) if pipe.format == "json" else _LogfmtStage(fields, pipe.source)
    return fields


def row_conditions(base: ValueResolver, pipes: tuple[RowPipe, ...]) -> list[exp.Expr]:
    """The `where` row pipes as boolean expressions, each over the fields of the stages before it."""
    out: list[exp.Expr] = []
    for i, pipe in enumerate(pipes):
        if isinstance(pipe, Where):
            out.append(row_where(pipe.expr, row_fields(base, pipes[:i])))
    return out


def row_where(node: WhereExpr, fields: FieldResolver) -> exp.Expr:
    """A `where` on lines: numbers compare as numbers (text that is no number never matches), text as text."""
    if isinstance(node, WhereAnd):
        return exp.and_(*(row_where(i, fields) for i in node.items))
    if isinstance(node, WhereOr):
        return exp.paren(exp.or_(*(row_where(i, fields) for i in node.items)))
    if isinstance(node, WhereNot):
        return exp.Not(this=exp.paren(exp.Coalesce(this=row_where(node.item, fields), expressions=[exp.false()])))
    assert isinstance(node, WhereCompare)
    ref = FieldRef.parse(node.name)
    if node.value_is_column:
        assert isinstance(node.value, str)
        return comparison(node.op, fields.text(ref), fields.text(FieldRef.parse(node.value)))
    if isinstance(node.value, float):
        return number_test(node.op, fields.number(ref), node.value)
    return comparison(node.op, fields.text(ref), lit(node.value))


def pattern_regex(pattern: str) -> tuple[str, tuple[str, ...]]:
    """A LogQL-style pattern (`<_> from <ip> port <port>`) as an RE2 regex matched from the line start, and
    its capture names in order. `<_>` skips text; a capture ends where the next literal text begins."""
    parts = re.split(r"<([A-Za-z_][A-Za-z0-9_]*)>", pattern)
    # A leading <_> is an unanchored search (RE2 then scans for the first literal: much faster than
    # `^.*?`, same match); a trailing one needs no matching at all.
    lead = len(parts) > 2 and parts[0] == "" and parts[1] == "_"
    if lead:
        parts = parts[2:]
    if len(parts) > 2 and parts[-1] == "" and parts[-2] == "_":
        parts = parts[:-2]
    regex = [] if lead else ["^"]
    names: list[str] = []
    for i, part in enumerate(parts):
        if i % 2 == 0:
            regex.append(re.escape(part))
            continue
        last = i == len(parts) - 2 and parts[-1] == ""
        if part == "_":
            regex.append(".*" if last else ".*?")
        else:
            names.append(part)
            regex.append(f"(?P<{part}>.*)" if last else f"(?P<{part}>.*?)")
    return "".join(regex), tuple(names)


def regex_groups(regex: str) -> dict[str, int]:
    """Named groups `(?P<name>…)` of an RE2 regex → their capture-group numbers (1-based)."""
    groups: dict[str, int] = {}
    number = 0
    i = 0
    in_class = False
    while i < len(regex):
        ch = regex[i]
        if regex.startswith("\\Q", i):  # \Q…\E quotes its text literally
            end = regex.find("\\E", i + 2)
            i = len(regex) if end < 0 else end + 2
            continue
        if ch == "\\":
            i += 2
            continue
        if in_class:
            in_class = ch != "]"
        elif ch == "[":
            in_class = True
            if regex[i + 1 : i + 2] == "]" or regex[i + 1 : i + 3] == "^]":
                i += 2 if regex[i + 1] == "]" else 3  # a leading ] is literal
                continue
        elif ch == "(":
            named = re.match(r"\(\?P<([^>]*)>", regex[i:])
            if named:
                number += 1
                groups.setdefault(named.group(1), number)
            elif regex[i + 1 : i + 2] != "?":
                number += 1
        i += 1
    return groups


_NAME_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
# Names an extracted field may not take: stored columns a hit carries besides the core fields.
_RESERVED = frozenset({"attrs", "seq", "_time"})


def extract_regex(regex: str, source: FieldRef, column: int, at: int) -> Extract:
    """`| extract "regex"`, checked: RE2 compiles it, it has named groups, none named like a core field.
    QuerySyntaxError at `at` (the regex's column) otherwise."""
    groups = regex_groups(regex)
    labels = ", ".join(f"'g{i}'" for i in range(1, max(groups.values(), default=1) + 1))
    try:
        # Compiles the regex as DuckDB will, and checks our count of its groups (names map to numbers).
        thread_scratch_connection().execute(f"SELECT regexp_extract('', $p, [{labels}])", {"p": regex}).fetchall()
    except duckdb.Error as exc:
        reason = str(exc).split(":", 1)[-1].strip().splitlines()[0]
        if groups or "capturing groups" not in reason:
            raise QuerySyntaxError(f"invalid regex for extract: {reason}", at, regex) from None
    if not groups:
        raise QuerySyntaxError('extract needs named groups: | extract "from (?P<ip>\\S+)"', at, regex)
    for name in groups:
        if not _NAME_RE.match(name) or FieldRef.parse(name).core or name in _RESERVED:
            raise QuerySyntaxError(
                f"cannot extract into {name!r}: use a name of letters, digits and _ that is not a core field", at, name
            )
    names = tuple(groups)
    return Extract(regex, names, tuple(groups[n] for n in names), source, column=column)


def extract_pattern(pattern: str, source: FieldRef, column: int, at: int) -> Extract:
    """`| extract pattern "<_> from <ip>"`, checked like `extract_regex` (and no capture named twice)."""
    regex, names = pattern_regex(pattern)
    if not names:
        raise QuerySyntaxError(
            'a pattern needs a <name> to extract: | extract pattern "<_> from <ip> port <port>"', at, pattern
        )
    dupes = sorted({n for n in names if names.count(n) > 1})
    if dupes:
        raise QuerySyntaxError(f"<{dupes[0]}> appears twice in the pattern", at, dupes[0])
    return extract_regex(regex, source, column, at)
