"""The package layering holds: no import cycle between logwarden's packages, the DuckDB backend is imported only
by `store/` and the app factory, and `store` does not depend on `query` (docs/architecture.md)."""

from __future__ import annotations

import ast
import itertools
from collections.abc import Iterator
from pathlib import Path

SRC = Path(__file__).resolve().parent.parent / "src" / "logwarden"
# Modules allowed to name the embedded backend: the backend itself and the app factory that picks it.
BACKEND = "logwarden.store.duckdb"
BACKEND_USERS = ("logwarden.store.", "logwarden.api.app", "logwarden.cli", "logwarden.delete_command")


def module_name(path: Path) -> str:
    parts = path.relative_to(SRC.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imports(path: Path) -> Iterator[str]:
    """Every logwarden module `path` imports, at any depth (lazy imports count), except under TYPE_CHECKING."""
    tree = ast.parse(path.read_text())
    skip: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            skip.update(id(n) for child in node.body for n in ast.walk(child))
    package = module_name(path) if path.name == "__init__.py" else module_name(path).rsplit(".", 1)[0]
    for node in ast.walk(tree):
        if id(node) in skip:
            continue
        if isinstance(node, ast.Import):
            yield from (a.name for a in node.names if a.name.startswith("logwarden"))
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[: len(base) - node.level + 1]
                name = ".".join([*base, node.module] if node.module else base)
            else:
                name = node.module or ""
            if name.startswith("logwarden"):
                yield name
                yield from (f"{name}.{a.name}" for a in node.names)


def package_of(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else ""


def _is_node(name: str) -> bool:
    """Packages and top-level modules (`cli`, `threads`) are the nodes of the graph."""
    return (SRC / name).is_dir() or (SRC / f"{name}.py").is_file()


def graph() -> dict[str, dict[str, set[str]]]:
    """package → imported package → the modules that make the edge."""
    edges: dict[str, dict[str, set[str]]] = {}
    for path in SRC.rglob("*.py"):
        mod = module_name(path)
        src = package_of(mod)
        for target in imports(path):
            dst = package_of(target)
            if dst and dst != src and _is_node(dst) and _is_node(src):
                edges.setdefault(src, {}).setdefault(dst, set()).add(f"{mod} -> {target}")
    return edges


def cycles(edges: dict[str, dict[str, set[str]]]) -> list[list[str]]:
    found: list[list[str]] = []

    def visit(node: str, path: list[str]) -> None:
        for nxt in sorted(edges.get(node, {})):
            if nxt == path[0]:
                found.append([*path, nxt])
            elif nxt not in path and nxt > path[0]:
                visit(nxt, [*path, nxt])

    for start in sorted(edges):
        visit(start, [start])
    return found


def test_no_import_cycle_between_packages() -> None:
    edges = graph()
    report = []
    for cycle in cycles(edges):
        links = [sorted(edges[a][b])[0] for a, b in itertools.pairwise(cycle)]
        report.append(" -> ".join(cycle) + "  (" + "; ".join(links) + ")")
    assert report == []


def test_only_the_store_and_the_app_factory_import_the_duckdb_backend() -> None:
    offenders = sorted(
        f"{module_name(path)} imports {target}"
        for path in SRC.rglob("*.py")
        for target in imports(path)
        if target.startswith(BACKEND) and not module_name(path).startswith(BACKEND_USERS)
    )
    assert offenders == []


def test_the_store_does_not_depend_on_the_query_language() -> None:
    offenders = sorted(
        f"{module_name(path)} imports {target}"
        for path in (SRC / "store").rglob("*.py")
        for target in imports(path)
        if target.startswith("logwarden.query")
    )
    assert offenders == []
