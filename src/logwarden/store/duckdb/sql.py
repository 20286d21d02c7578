"""Read-only SQL over the caller's `logs`: validate a user's statement and bind `logs` to their own data.

Two independent checks guard every statement. First sqlglot (DuckDB dialect) parses it: exactly one
SELECT (CTEs, set operations and subqueries allowed), no parameters, and every table reference must be
`logs` or a CTE in scope. CTEs are renamed to fresh `lw_cte_<n>` names, so a reference we resolve
differently from DuckDB can only fail, never reach a real table. Then DuckDB's own parser
(`json_serialize_sql`) reads the SQL we generated and we walk its tree: only SELECT nodes, only the
allowed tables and table functions, and only functions on the reviewed allow-list of `sql_functions`
(nothing that touches files, settings, the environment, sequences, the catalog, plans or SQL text).
`bind_logs` can replace `logs` by a subquery over a snapshot and check the result once more; the API
instead runs the statement in the sandbox of `sql_sandbox`, where `logs` is the only table there is.
"""

from __future__ import annotations

import functools
import itertools
import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import duckdb
import orjson
import sqlglot
from sqlglot import exp
from sqlglot.errors import ParseError, SqlglotError, TokenError

from logwarden.model.schema import DUCKDB_COLUMNS
from logwarden.model.scratch_db import thread_scratch_connection
from logwarden.store.base import SqlError
from logwarden.store.duckdb.sql_functions import ALLOWED_FUNCTIONS, ALLOWED_TABLE_FUNCTIONS

DIALECT = "duckdb"
LOGS = "logs"
CTE_PREFIX = "lw_cte_"

# DuckDB TableRef types a statement may use; anything else (SHOW, DESCRIBE, column data) is refused.
ALLOWED_TABLE_REFS = frozenset(
    {"BASE_TABLE", "SUBQUERY", "JOIN", "TABLE_FUNCTION", "EXPRESSION_LIST", "EMPTY", "PIVOT"}
)
ALLOWED_QUERY_NODES = frozenset({"SELECT_NODE", "SET_OPERATION_NODE", "RECURSIVE_CTE_NODE", "CTE_NODE"})
_FUNCTION_CLASSES = frozenset({"FUNCTION", "AGGREGATE", "WINDOW", "BOUND_FUNCTION"})
_TOKEN_CONTEXT_RE = re.compile(r"^Error tokenizing '(.*)'$", re.DOTALL)
MAX_SQL_CHARS = 100_000


def duckdb_message(exc: duckdb.Error) -> str:
    """DuckDB's message without the echo of the rewritten SQL (which the user never wrote)."""
    text = str(exc)
    return text.split("\n\nLINE ", maxsplit=1)[0].split("\nLINE ", maxsplit=1)[0].strip()


@dataclass(frozen=True, slots=True)
class ReadOnlyQuery:
    """A validated statement whose only free table is `logs`; bind it with `bind_logs`."""

    expression: exp.Query
    cte_names: frozenset[str]

    @property
    def sql(self) -> str:
        return self.expression.sql(dialect=DIALECT)

    @property
    def reads_logs(self) -> bool:
        """Whether the statement names `logs` at all (CTE references were renamed by the parser)."""
        return any(t.name.lower() == LOGS for t in self.expression.find_all(exp.Table))


def parse_read_only(text: str) -> ReadOnlyQuery:
    """Parse and validate one read-only SELECT over `logs`; raises SqlError with a position when it can."""
    if not text.strip():
        raise SqlError("empty SQL: write one SELECT statement over the table logs")
    if len(text) > MAX_SQL_CHARS:
        raise SqlError(f"SQL is too long ({len(text)} characters; at most {MAX_SQL_CHARS})")
    statements = [s for s in _parse(text) if s is not None]
    if len(statements) != 1:
        raise SqlError(f"expected exactly one SELECT statement, got {len(statements)}")
    root = statements[0]
    if not isinstance(root, exp.Query) or isinstance(root, exp.Subquery):
        raise SqlError(f"only SELECT is allowed, not {_statement_kind(root)}", *_position(text, root))
    _reject_forbidden_nodes(text, root)
    counter = itertools.count(1)
    ctes: set[str] = set()
    try:
        _resolve_tables(text, root, {}, counter, ctes)
        query = ReadOnlyQuery(root, frozenset(ctes))
        sql = query.sql
    except RecursionError:
        raise SqlError("SQL is nested too deeply") from None
    _check_with_duckdb(sql, text, allowed_tables=frozenset({LOGS}) | query.cte_names, extra_functions=frozenset())
    return query


def referenced_columns(query: ReadOnlyQuery) -> tuple[str, ...]:
    """The `logs` columns the statement may read, in schema order (all of them when it cannot tell).

    Any identifier that names a column counts (a CTE column of the same name only costs a column sent);
    `*`, COLUMNS(...), `#n` or a table alias used as a value (the whole row as a struct) need every column.
    """
    names = [name for name, _ in DUCKDB_COLUMNS]
    tree = query.expression
    logs_aliases = {LOGS} | {
        t.alias_or_name.lower() for t in tree.find_all(exp.Table) if t.name.lower() == LOGS or t.alias
    }
    identifiers: set[str] = set()
    for node in tree.walk():
        if isinstance(node, exp.Star) and not isinstance(node.parent, exp.Count):
            return tuple(names)
        if isinstance(node, exp.PositionalColumn):  # `#2` counts the table's columns
            return tuple(names)
        if isinstance(node, exp.Func) and _function_name(node) in {"columns", "struct_pack", "row"}:
            return tuple(names)
        if isinstance(node, exp.Column) and not node.table and node.name.lower() in logs_aliases:
            return tuple(names)
        if isinstance(node, exp.Identifier):
            identifiers.add(node.name.lower())
    # `ts` at least: a batch needs a column to carry its row count.
    return tuple(n for n in names if n in identifiers or n == "ts")


@dataclass(frozen=True, slots=True)
class BoundQuery:
    """The SQL to run and the names of the parameters it uses (only those of our own source)."""

    sql: str
    parameters: frozenset[str]


def bind_logs(query: ReadOnlyQuery, source: exp.Query, source_sql: str) -> BoundQuery:
    """SQL of `query` with every `logs` reference replaced by `(source) AS <alias>`.

    `source_sql` is the same source as text; the tables and table functions it reads are the only ones,
    besides the query's CTEs, the result may read (checked with DuckDB's parser).
    """
    tree = query.expression.copy()
    for table in list(tree.find_all(exp.Table)):
        if table.name.lower() != LOGS or table.args.get("db") or table.args.get("catalog"):
            continue
        alias = table.args.get("alias")
        subquery = exp.Subquery(
            this=source.copy(), alias=alias.copy() if alias else exp.TableAlias(this=exp.to_identifier(LOGS))
        )
        if table.args.get("pivots"):
            subquery.set("pivots", [p.copy() for p in table.args["pivots"]])
        if table.args.get("sample"):
            subquery.set("sample", table.args["sample"].copy())
        table.replace(subquery)
    try:
        sql = tree.sql(dialect=DIALECT)
    except RecursionError:
        raise SqlError("SQL is nested too deeply") from None
    own_tables, own_functions = reads_of(source_sql)
    used = _check_with_duckdb(
        sql, "", allowed_tables=own_tables | query.cte_names, extra_functions=own_functions, parameters=True
    )
    return BoundQuery(sql, used)


@functools.lru_cache(maxsize=64)
def logs_source(from_sql: str | None, start_param: str, end_param: str) -> tuple[exp.Query, str]:
    """The `logs` subquery: the snapshot's rows in [start, end), or an empty relation of the same shape.

    Cached (the same partitions give the same text); callers must copy the tree before changing it.
    """
    if from_sql is None:
        cols = ", ".join(
            f"CAST(NULL AS {sql_type.replace(' NOT NULL', '')}) AS {name}" for name, sql_type in DUCKDB_COLUMNS
        )
        text = f"SELECT {cols} WHERE FALSE"
    else:
        names = ", ".join(name for name, _ in DUCKDB_COLUMNS)
        text = f"SELECT {names} FROM {from_sql} WHERE ts >= ${start_param} AND ts < ${end_param}"
    parsed = sqlglot.parse_one(text, dialect=DIALECT)
    assert isinstance(parsed, exp.Query)
    return parsed, text


# --- sqlglot checks ----------------------------------------------------------------------------


def _parse(text: str) -> list[exp.Expr | None]:
    try:
        return list(sqlglot.parse(text, dialect=DIALECT))
    except ParseError as exc:
        first = exc.errors[0] if exc.errors else {}
        raise SqlError(
            f"syntax error: {first.get('description') or exc}", first.get("line"), first.get("col")
        ) from None
    except TokenError as exc:
        line, col = _token_error_position(text, str(exc))
        raise SqlError(
            "syntax error: cannot read the SQL text (an unterminated string or comment?)", line, col
        ) from None
    except RecursionError:
        raise SqlError("SQL is nested too deeply") from None
    except SqlglotError as exc:
        raise SqlError(f"syntax error: {exc}") from None
    except Exception as exc:  # a sqlglot parser bug on odd input is still the user's bad SQL, not a 500
        raise SqlError(f"cannot parse the SQL: {type(exc).__name__}") from None


def _token_error_position(text: str, message: str) -> tuple[int | None, int | None]:
    m = _TOKEN_CONTEXT_RE.match(message)
    if not m:
        return None, None
    context = m.group(1)
    idx = text.find(context)
    if idx < 0:
        return None, None
    return _line_col(text, idx + len(context))


def _line_col(text: str, offset: int) -> tuple[int, int]:
    before = text[:offset]
    return before.count("\n") + 1, offset - (before.rfind("\n") + 1) + 1


def _position(text: str, node: exp.Expr) -> tuple[int | None, int | None]:
    """Line and column of a node's first token, from the offsets sqlglot keeps in token metadata."""
    starts = [int(child.meta["start"]) for child in node.walk() if "start" in child.meta]
    return _line_col(text, min(starts)) if starts else (None, None)


def _name_position(text: str, name: str) -> tuple[int | None, int | None]:
    """Where `name` first occurs in the user's text (DuckDB's offsets are into the SQL we generated)."""
    m = re.search(rf"(?<![\w$]){re.escape(name)}(?![\w$])", text, re.IGNORECASE)
    return _line_col(text, m.start()) if m else (None, None)


def _statement_kind(node: exp.Expr) -> str:
    if isinstance(node, exp.Command):
        return str(node.this).upper()
    return node.key.upper()


def _reject_forbidden_nodes(text: str, root: exp.Expr) -> None:
    for node in root.walk():
        if isinstance(node, (exp.Placeholder, exp.Parameter, exp.SessionParameter)):
            raise SqlError("parameters ($name, ?) are not allowed: write the values inline", *_position(text, node))
        if isinstance(node, (exp.Command, exp.Into, exp.DDL, exp.DML, exp.Pragma, exp.Set, exp.Copy)):
            raise SqlError(f"only SELECT is allowed, not {_statement_kind(node)}", *_position(text, node))


def _with_of(node: exp.Expr) -> exp.With | None:
    w = node.args.get("with_") or node.args.get("with")
    return w if isinstance(w, exp.With) else None


def _resolve_tables(text: str, node: exp.Expr, scope: dict[str, str], counter: Iterator[int], ctes: set[str]) -> None:
    """Rename CTEs (definitions and in-scope references) and refuse every table that is not `logs`."""
    with_ = _with_of(node)
    if with_ is not None:
        scope = dict(scope)
        recursive = bool(with_.args.get("recursive"))
        for cte in with_.expressions:
            original = cte.alias_or_name.lower()
            fresh = f"{CTE_PREFIX}{next(counter)}"
            ctes.add(fresh)
            if recursive:
                scope[original] = fresh
            _resolve_tables(text, cte.this, scope, counter, ctes)
            scope[original] = fresh
            alias = cte.args.get("alias")
            columns = [c.copy() for c in alias.columns] if isinstance(alias, exp.TableAlias) else []
            cte.set("alias", exp.TableAlias(this=exp.to_identifier(fresh), columns=columns or None))
    if isinstance(node, exp.Table):
        _resolve_table(text, node, scope)
    for value in node.args.values():
        if value is with_ and with_ is not None:
            continue
        children = value if isinstance(value, list) else [value]
        for child in children:
            if isinstance(child, exp.Expr):
                _resolve_tables(text, child, scope, counter, ctes)


def _resolve_table(text: str, table: exp.Table, scope: dict[str, str]) -> None:
    target = table.this
    if isinstance(target, exp.GenerateSeries):
        return
    if not isinstance(target, exp.Identifier):
        name = _function_name(target) if isinstance(target, exp.Expr) else str(target)
        raise SqlError(
            f"cannot read from {name or 'that'}(...): only the table logs, your CTEs, range() and unnest() are allowed",
            *_position(text, table),
        )
    name = target.this
    if table.args.get("db") or table.args.get("catalog"):
        raise SqlError(f"unknown table {table.sql(dialect=DIALECT)}: only logs can be read", *_position(text, table))
    for key in table.args:
        if key not in ("this", "alias", "pivots", "sample", "db", "catalog") and table.args[key]:
            raise SqlError(f"table option {key!r} is not allowed", *_position(text, table))
    lowered = name.lower()
    if lowered in scope:
        if not table.args.get("alias"):
            table.set("alias", exp.TableAlias(this=exp.to_identifier(name, quoted=target.quoted)))
        table.set("this", exp.to_identifier(scope[lowered]))
        return
    if lowered != LOGS:
        raise SqlError(f"unknown table {name!r}: only logs (and CTEs you define) can be read", *_position(text, table))


def _function_name(node: exp.Expr) -> str:
    if isinstance(node, exp.Anonymous):
        return node.name.lower()
    if isinstance(node, exp.Func):
        return node.sql_name().lower()
    return node.name


# --- DuckDB parser checks ----------------------------------------------------------------------


def _serialize(sql: str) -> dict[str, Any]:
    text = thread_scratch_connection().execute("SELECT json_serialize_sql($sql)", {"sql": sql}).fetchall()[0][0]
    try:
        tree = orjson.loads(text)
    except orjson.JSONDecodeError:
        # orjson stops at 1024 levels; a tree that deep is not a query we need to run.
        raise SqlError("SQL is nested too deeply") from None
    assert isinstance(tree, dict)
    return tree


def _walk(node: Any) -> Iterator[dict[str, Any]]:
    stack = [node]
    while stack:
        item = stack.pop()
        if isinstance(item, dict):
            yield item
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)


@functools.lru_cache(maxsize=64)
def reads_of(sql: str) -> tuple[frozenset[str], frozenset[str]]:
    """Base tables and table functions a query reads, as DuckDB's parser sees them (CTE names included)."""
    tree = _serialize(f"SELECT * FROM ({sql})")
    tables: set[str] = set()
    functions: set[str] = set()
    for d in _walk(tree.get("statements", [])):
        if d.get("type") == "BASE_TABLE" and "sample" in d:
            tables.add(str(d.get("table_name", "")).lower())
        elif d.get("type") == "TABLE_FUNCTION" and "sample" in d:
            functions.add(str((d.get("function") or {}).get("function_name", "")).lower())
    return frozenset(tables), frozenset(functions)


def _check_with_duckdb(
    sql: str,
    origin: str,
    *,
    allowed_tables: frozenset[str],
    extra_functions: frozenset[str],
    parameters: bool = False,
) -> frozenset[str]:
    """Walk DuckDB's own parse of `sql` and refuse anything outside the read-only subset; the parameters used."""
    tree = _serialize(sql)
    if tree.get("error"):
        # DuckDB refuses to serialize anything but SELECT, or cannot parse what sqlglot wrote.
        raise SqlError(f"not a read-only SELECT: {tree.get('error_message', 'refused')}")
    statements = tree.get("statements") or []
    if len(statements) != 1:
        raise SqlError(f"expected exactly one SELECT statement, got {len(statements)}")
    for d in _walk(statements):
        if "class" in d:
            _check_expression(origin, d, parameters, extra_functions)
        elif "modifiers" in d and "type" in d:
            if d["type"] not in ALLOWED_QUERY_NODES:
                raise SqlError(f"query form {d['type']} is not allowed")
        elif "sample" in d and "type" in d:
            _check_table_ref(origin, d, allowed_tables, extra_functions)
    return frozenset(str(p["key"]) for p in statements[0].get("named_param_map") or [])


def _check_expression(origin: str, d: dict[str, Any], parameters: bool, extra: frozenset[str]) -> None:
    cls = d.get("class")
    if cls == "PARAMETER" and not parameters:
        raise SqlError("parameters ($name, ?) are not allowed: write the values inline")
    if cls in _FUNCTION_CLASSES and "function_name" in d:
        name = str(d["function_name"]).lower()
        if d.get("schema") or d.get("catalog"):
            raise SqlError(f"function {d.get('schema')}.{name} is not allowed", *_name_position(origin, name))
        if name in extra:
            return  # our own source's table functions (read_parquet of the tenant's archive files)
        if name not in ALLOWED_FUNCTIONS and name not in ALLOWED_TABLE_FUNCTIONS:
            # An allow-list: what DuckDB adds in a new version stays refused until it is reviewed.
            raise SqlError(f"function {name}() is not allowed in read-only SQL", *_name_position(origin, name))


def _check_table_ref(origin: str, d: dict[str, Any], allowed_tables: frozenset[str], extra: frozenset[str]) -> None:
    kind = d["type"]
    if kind not in ALLOWED_TABLE_REFS:
        raise SqlError(f"{kind.lower().replace('_', ' ')} is not allowed in FROM")
    if kind == "BASE_TABLE":
        name = str(d.get("table_name", "")).lower()
        if d.get("schema_name") or d.get("catalog_name") or name not in allowed_tables:
            raise SqlError(f"unknown table {name!r}: only logs can be read", *_name_position(origin, name))
    elif kind == "TABLE_FUNCTION":
        function = d.get("function") or {}
        name = str(function.get("function_name", "")).lower()
        if function.get("schema") or function.get("catalog") or name not in ALLOWED_TABLE_FUNCTIONS | extra:
            raise SqlError(
                f"table function {name}() is not allowed: only range() and unnest()", *_name_position(origin, name)
            )
