"""docs/security.md shows the permission tables the code enforces, and documents every permission and setting."""

from __future__ import annotations

from pathlib import Path

from logwarden.auth.docs import role_table, route_table
from logwarden.auth.roles import Permission
from logwarden.config.security import AuthConfig

DOC = Path(__file__).resolve().parents[3] / "docs" / "security.md"


def test_the_tables_are_the_ones_the_code_enforces() -> None:
    text = DOC.read_text()
    assert role_table() in text, "regenerate the tables with: python -m logwarden.auth.docs"
    assert route_table() in text, "regenerate the tables with: python -m logwarden.auth.docs"


def test_every_permission_and_setting_is_documented() -> None:
    text = DOC.read_text()
    assert [p.value for p in Permission if f"`{p.value}`" not in text] == []
    assert [name for name in AuthConfig.model_fields if f"`{name}`" not in text] == []
