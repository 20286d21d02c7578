"""`| eval name = expr`: the expression tree, and its compilation to a DuckDB expression.

Only the operators and the functions in `FUNCTIONS` exist; user text becomes a SQL string literal or a
field reference resolved by the row pipes (plan/rows.py), so an expression cannot reach anything else.
Fields are text; arithmetic reads them as numbers (text that is no number is null), and division by
zero is null rather than an error.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Literal

from sqlglot import exp

from logwarden.plan.duckdb_filter import FieldResolver, comparison, finite, func, lit, number_lit
from logwarden.plan.errors import QuerySyntaxError
from logwarden.plan.filter import FieldRef

Kind = Literal["number", "text", "bool"]
_DOUBLE = exp.DataType.build("DOUBLE")
_VARCHAR = exp.DataType.build("VARCHAR")
# Beyond this many nodes an expression (eval fields referring to eval fields) is no real query.
MAX_EXPR_NODES = 20_000

# name → (least args, most args or None for any, result kind, argument kind)
FUNCTIONS: dict[str, tuple[int, int | None, str, str]] = {
    "lower": (1, 1, "text", "text"),
    "upper": (1, 1, "text", "text"),
    "trim": (1, 1, "text", "text"),
    "len": (1, 1, "number", "text"),
    "substr": (2, 3, "text", "text,number,number"),
    "concat": (1, None, "text", "text"),
    "replace": (3, 3, "text", "text"),
    "if": (3, 3, "any", "bool,any,any"),
    "case": (2, None, "any", "case"),
    "coalesce": (1, None, "any", "any"),
    "round": (1, 2, "number", "number"),
    "abs": (1, 1, "number", "number"),
    "floor": (1, 1, "number", "number"),
    "ceil": (1, 1, "number", "number"),
    "tonumber": (1, 1, "number", "number"),
    "tostring": (1, 1, "text", "text"),
}


@dataclass(frozen=True, slots=True)
class EvalNumber:
    value: float


@dataclass(frozen=True, slots=True)
class EvalText:
    value: str


@dataclass(frozen=True, slots=True)
class EvalField:
    name: str


@dataclass(frozen=True, slots=True)
class EvalUnary:
    """`-x` or `not c`."""

    op: Literal["-", "not"]
    item: EvalExpr


@dataclass(frozen=True, slots=True)
class EvalBinary:
    """Arithmetic (`+ - * / %`), comparison (`= != > >= < <=`) or `and`/`or`."""

    op: str
    left: EvalExpr
    right: EvalExpr


@dataclass(frozen=True, slots=True)
class EvalCall:
    """One of FUNCTIONS, its arity checked at parse time."""

    name: str
    args: tuple[EvalExpr, ...]


EvalExpr = EvalNumber | EvalText | EvalField | EvalUnary | EvalBinary | EvalCall


@dataclass(frozen=True, slots=True)
class Eval:
    """`| eval name = expr`: a new field per line (it replaces an extracted or attribute field of that name)."""

    name: str
    expr: EvalExpr
    column: int = dataclasses.field(default=0, compare=False)


def check_call(name: str, nargs: int, column: int) -> str:
    """The function's name in lower case; QuerySyntaxError for an unknown function or a wrong arity."""
    lowered = name.lower()
    spec = FUNCTIONS.get(lowered)
    if spec is None:
        raise QuerySyntaxError(f"unknown function {name!r}: use {', '.join(FUNCTIONS)}", column, name)
    least, most, _, _ = spec
    if nargs < least or (most is not None and nargs > most):
        wanted = f"{least}" if least == most else f"{least} or more" if most is None else f"{least} to {most}"
        raise QuerySyntaxError(f"{lowered}() takes {wanted} arguments, not {nargs}", column, name)
    return lowered


def compile_eval(node: EvalExpr, fields: FieldResolver, column: int = 1) -> tuple[exp.Expr, Kind]:
    """The DuckDB expression of `node` over `fields`, and its kind."""
    out = _compile(node, fields, column)
    if sum(1 for _ in out[0].walk()) > MAX_EXPR_NODES:
        raise QuerySyntaxError("eval expressions refer to each other too deeply; simplify them", column)
    return out


def as_kind(compiled: tuple[exp.Expr, Kind], kind: str) -> exp.Expr:
    """The expression as a number (TRY_CAST), text, or a boolean (text 'true'); `any` leaves it."""
    expr, have = compiled
    if kind in ("any", have):
        return expr
    if kind == "number":
        return finite(exp.TryCast(this=expr, to=_DOUBLE.copy()))  # text "NaN"/"inf" is not a number
    if kind == "text":
        return exp.cast(expr, _VARCHAR.copy())
    return exp.EQ(this=exp.Lower(this=exp.cast(expr, _VARCHAR.copy())), expression=lit("true"))


def _compile(node: EvalExpr, fields: FieldResolver, column: int) -> tuple[exp.Expr, Kind]:
    if isinstance(node, EvalNumber):
        return number_lit(node.value), "number"
    if isinstance(node, EvalText):
        return lit(node.value), "text"
    if isinstance(node, EvalField):
        return fields.text(FieldRef.parse(node.name)), "text"
    if isinstance(node, EvalUnary):
        item = _compile(node.item, fields, column)
        if node.op == "-":
            return exp.Neg(this=exp.paren(as_kind(item, "number"))), "number"
        return exp.Not(this=exp.paren(exp.Coalesce(this=as_kind(item, "bool"), expressions=[exp.false()]))), "bool"
    if isinstance(node, EvalBinary):
        return _binary(node, fields, column)
    return _call(node, fields, column)


def _binary(node: EvalBinary, fields: FieldResolver, column: int) -> tuple[exp.Expr, Kind]:
    left, right = _compile(node.left, fields, column), _compile(node.right, fields, column)
    if node.op in ("and", "or"):
        cls = exp.And if node.op == "and" else exp.Or
        return exp.paren(cls(this=as_kind(left, "bool"), expression=as_kind(right, "bool"))), "bool"
    if node.op in ("=", "!=", ">", ">=", "<", "<="):
        # Numbers when either side is one, else text: `status >= 500` and `user = "ann"` mean what they say.
        kind = "number" if "number" in (left[1], right[1]) else "text"
        return comparison(node.op, as_kind(left, kind), as_kind(right, kind)), "bool"
    a, b = as_kind(left, "number"), as_kind(right, "number")
    if node.op in ("/", "%"):
        b = exp.Nullif(this=b, expression=number_lit(0.0))  # x / 0 is null, not an error
    classes: dict[str, type[exp.Binary]] = {"+": exp.Add, "-": exp.Sub, "*": exp.Mul, "/": exp.Div, "%": exp.Mod}
    return exp.paren(classes[node.op](this=a, expression=b)), "number"


def _call(node: EvalCall, fields: FieldResolver, column: int) -> tuple[exp.Expr, Kind]:
    _, _, result, arg_kinds = FUNCTIONS[node.name]
    args = [_compile(a, fields, column) for a in node.args]
    if node.name == "if":
        return _choose([(args[0], args[1])], args[2])
    if node.name == "case":
        pairs = [(args[i], args[i + 1]) for i in range(0, len(args) - 1, 2)]
        return _choose(pairs, args[-1] if len(args) % 2 else None)
    if node.name == "coalesce":
        kind = _common(args)
        values = [as_kind(a, kind) for a in args]
        return exp.Coalesce(this=values[0], expressions=values[1:]), kind
    kinds = arg_kinds.split(",")
    values = [as_kind(a, kinds[min(i, len(kinds) - 1)]) for i, a in enumerate(args)]
    name = node.name
    if name == "len":
        return func("length", *values), "number"
    if name in ("tonumber", "tostring"):
        return values[0], "number" if name == "tonumber" else "text"
    if name == "substr":  # 1-based start; lengths and starts are whole numbers
        values[1:] = [exp.cast(v, exp.DataType.build("BIGINT")) for v in values[1:]]
    if name == "concat":  # a missing part is empty, as in SPL's `.`
        values = [exp.Coalesce(this=v, expressions=[lit("")]) for v in values]
    if name == "round" and len(values) == 2:
        values[1] = exp.cast(values[1], exp.DataType.build("INTEGER"))
    return func(name, *values), "number" if result == "number" else "text"


def _common(args: list[tuple[exp.Expr, Kind]]) -> Kind:
    kinds = {k for _, k in args}
    return kinds.pop() if len(kinds) == 1 else "text"


def _choose(
    pairs: list[tuple[tuple[exp.Expr, Kind], tuple[exp.Expr, Kind]]], default: tuple[exp.Expr, Kind] | None
) -> tuple[exp.Expr, Kind]:
    values = [v for _, v in pairs] + ([default] if default is not None else [])
    kind = _common(values)
    ifs = [
        exp.If(this=exp.Coalesce(this=as_kind(c, "bool"), expressions=[exp.false()]), true=as_kind(v, kind))
        for c, v in pairs
    ]
    return exp.Case(ifs=ifs, default=as_kind(default, kind) if default is not None else None), kind
