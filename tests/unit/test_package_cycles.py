"""No import cycle between the packages whose cycles issue 10 removed: config/ingest and api/ingest.

Every `import logwarden.<pkg>...` counts, wherever it is (module level, function body, TYPE_CHECKING).
"""

from __future__ import annotations

import ast
from collections import defaultdict
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[2] / "src" / "logwarden"


def package_imports() -> dict[str, dict[str, set[str]]]:
    """package → imported package → the files (relative to src/logwarden) that import it."""
    edges: dict[str, dict[str, set[str]]] = defaultdict(lambda: defaultdict(set))
    for path in SRC.rglob("*.py"):
        rel = path.relative_to(SRC)
        package = rel.parts[0].removesuffix(".py")
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names = [node.module]
            else:
                continue
            for name in names:
                parts = name.split(".")
                if parts[0] == "logwarden" and len(parts) > 1 and parts[1] != package:
                    edges[package][parts[1]].add(str(rel))
    return edges


@pytest.mark.parametrize(("low", "high"), [("config", "ingest"), ("ingest", "api")])
def test_lower_package_does_not_import_the_higher(low: str, high: str) -> None:
    edges = package_imports()
    assert edges[high][low], f"expected {high} to use {low} (else this test checks nothing)"
    assert sorted(edges[low][high]) == [], f"{low} must not import {high}"
