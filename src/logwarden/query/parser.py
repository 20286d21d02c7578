"""Query text → `ast.Query`: the lark grammar in grammar.lark parses it, `query.builder` builds the nodes; every
error is a QuerySyntaxError."""

from __future__ import annotations

from importlib import resources
from typing import Any

from lark import Lark, Token
from lark.exceptions import UnexpectedCharacters, UnexpectedEOF, UnexpectedInput, UnexpectedToken, VisitError
from lark.lexer import PatternStr

from logwarden.query import ast
from logwarden.query.builder import QueryBuilder
from logwarden.query.errors import QuerySyntaxError

MAX_QUERY_CHARS = 16_384
MAX_DEPTH = 64

_PARSER = Lark(
    resources.files("logwarden.query").joinpath("grammar.lark").read_text(),
    parser="lalr",
    lexer="contextual",
    propagate_positions=True,
    maybe_placeholders=False,
)


def _pipe_keywords(parser: Lark) -> dict[str, str]:
    """Terminal name → pipe keyword (`STATS` → `stats`, `HEAD` → `head`), read from the grammar's `command` rule."""
    commands = [rule.expansion[0].name for rule in parser.rules if rule.origin.name == "command"]
    patterns = {terminal.name: terminal.pattern for terminal in parser.terminals}
    keywords: dict[str, str] = {}
    for command in commands:  # in the order `command` lists them
        for rule in parser.rules:
            if rule.origin.name != command or not rule.expansion or not rule.expansion[0].is_term:
                continue
            terminal = rule.expansion[0].name
            pattern = patterns.get(terminal)
            if isinstance(pattern, PatternStr):
                keywords.setdefault(terminal, pattern.value)
    return keywords


_PIPE_KEYWORDS = _pipe_keywords(_PARSER)
# Every pipe command of the language, in grammar order: what a parse error after `|` lists.
PIPE_NAMES: tuple[str, ...] = tuple(_PIPE_KEYWORDS.values())

# Names users see in "expected …" messages instead of grammar terminal names.
_TERMINAL_NAMES = {
    "TERM": "a search term",
    "PHRASE": 'a "quoted phrase"',
    "FIELD": "a field:",
    "VALUE": "a value",
    "REGEX": "a /regex/",
    "CMP": "a comparison (>, >=, <, <=)",
    "RANGE_OPEN": "[ or {",
    "RANGE_CLOSE": "] or }",
    "BOUND": "a range bound",
    "NAME": "a name",
    "INT": "a whole number",
    "NUMBER": "a number",
    "DURATION": "a duration like 1m",
    "WOP": "a comparison (=, !=, >, >=, <, <=)",
    "LPAR": "(",
    "RPAR": ")",
    "VBAR": "|",
    "COMMA": "a comma",
    "_W_NOT": "not",
    "_W_AND": "and",
    "_W_OR": "or",
    "_OR": "OR",
    "_AND": "AND",
    "_NOT": "NOT",
    "_TO": "TO",
    "MINUS": "-",
    "NOCASE_OPEN": "i(",
    "SIGN": "- or +",
    "ADDOP": "+ or -",
    "MULOP": "*, / or %",
    "$END": "the end of the query",
}


def parse(text: str) -> ast.Query:
    """Parse a query; raises QuerySyntaxError with the 1-based column and the offending text."""
    if len(text) > MAX_QUERY_CHARS:
        raise QuerySyntaxError(f"query is longer than {MAX_QUERY_CHARS} characters", MAX_QUERY_CHARS + 1)
    if "\n" in text or "\r" in text:
        # Columns are counted on one line; newlines are just whitespace.
        text = text.replace("\r\n", "  ").replace("\n", " ").replace("\r", " ")
    try:
        tree = _PARSER.parse(text)
    except UnexpectedInput as exc:
        raise _syntax_error(exc, text) from None
    try:
        query = QueryBuilder().transform(tree)
    except VisitError as exc:
        if isinstance(exc.orig_exc, QuerySyntaxError):
            raise exc.orig_exc from None
        raise
    assert isinstance(query, ast.Query)
    if _depth(query.filter) > MAX_DEPTH:
        # The compiler and sqlglot recurse over the tree; a deeper one is no real query.
        raise QuerySyntaxError(f"the query nests NOT, - or parentheses more than {MAX_DEPTH} deep", 1)
    for pipe in query.pipes:
        if isinstance(pipe, ast.Eval | ast.Where) and _depth(pipe.expr) > MAX_DEPTH:
            raise QuerySyntaxError(f"this pipe nests expressions more than {MAX_DEPTH} deep", pipe.column)
    return query


def _depth(node: Any) -> int:
    """Nesting depth of a filter, `where` or `eval` expression, counted without recursion."""
    deepest = 0
    stack: list[tuple[Any, int]] = [(node, 1)]
    while stack:
        item, depth = stack.pop()
        deepest = max(deepest, depth)
        if isinstance(item, ast.And | ast.Or | ast.WhereAnd | ast.WhereOr):
            stack.extend((child, depth + 1) for child in item.items)
        elif isinstance(item, ast.Not | ast.WhereNot | ast.EvalUnary):
            stack.append((item.item, depth + 1))
        elif isinstance(item, ast.EvalBinary):
            stack.extend(((item.left, depth + 1), (item.right, depth + 1)))
        elif isinstance(item, ast.EvalCall):
            stack.extend((arg, depth + 1) for arg in item.args)
    return deepest


def parse_filter(text: str) -> ast.Query:
    """A filter only (no pipes): for live tail and pipeline `if:` conditions."""
    query = parse(text)
    if query.pipes:
        first = query.pipes[0]
        raise QuerySyntaxError("pipes (| stats, | sort …) are not allowed in a filter", max(first.column - 2, 1), "|")
    return query


def _syntax_error(exc: UnexpectedInput, text: str) -> QuerySyntaxError:
    column = int(getattr(exc, "column", 0) or 0)
    if isinstance(exc, UnexpectedCharacters):
        char = text[column - 1] if 0 < column <= len(text) else ""
        hint = " (quote values that contain it)" if char in ":/[]{}<>=" else ""
        return QuerySyntaxError(f"unexpected character {char!r}{hint}", column, char)
    if isinstance(exc, UnexpectedToken | UnexpectedEOF):
        token = getattr(exc, "token", None)
        if set(getattr(exc, "expected", ())) & _PIPE_KEYWORDS.keys():
            return _unknown_pipe(token, text)
        expected = sorted({_TERMINAL_NAMES.get(t, t.strip('"').lower()) for t in getattr(exc, "expected", ())})
        wanted = f"; expected {', '.join(expected[:6])}" if expected else ""
        if "VBAR" in getattr(exc, "expected", ()):
            # A pipe may end here: name what can follow its `|`.
            wanted += f" (a pipe is one of {', '.join(PIPE_NAMES)})"
        if token is None or token.type == "$END":
            return QuerySyntaxError(f"unexpected end of query{wanted}", len(text) + 1, "")
        return QuerySyntaxError(f"unexpected {str(token)!r}{wanted}", int(token.column or column or 1), str(token))
    return QuerySyntaxError(str(exc).splitlines()[0], column or 1)


def _unknown_pipe(token: Token | None, text: str) -> QuerySyntaxError:
    pipes = ", ".join(PIPE_NAMES)
    if token is None or token.type == "$END":
        return QuerySyntaxError(f"a pipe command must follow |: use one of {pipes}", len(text) + 1, "")
    return QuerySyntaxError(f"unknown pipe {str(token)!r}: use one of {pipes}", int(token.column or 1), str(token))
