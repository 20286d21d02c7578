"""docs/rules.md promises what the code does: its reference table is current and its example loads."""

from __future__ import annotations

import re
from pathlib import Path

from logwarden.rules.docs import generated_part, render, undocumented
from logwarden.rules.loader import load_rules_dir
from logwarden.rules.templates import render as render_templates
from tests.unit.rules.samples import EXAMPLE

DOC = Path(__file__).resolve().parents[3] / "docs" / "rules.md"


def test_rule_reference_is_up_to_date() -> None:
    assert generated_part(DOC.read_text()) == render(), (
        "regenerate with: python -m logwarden.rules.docs --write docs/rules.md"
    )


def test_every_rule_setting_has_a_docstring() -> None:
    assert undocumented() == []


def test_the_docs_example_is_the_issue_example_and_renders_as_the_docs_say(tmp_path: Path) -> None:
    example = re.search(r"```yaml\n(.+?)```", DOC.read_text(), re.S)
    assert example is not None and example.group(1) == EXAMPLE
    (tmp_path / "seed.yaml").write_text(example.group(1))
    (rule,) = load_rules_dir(tmp_path).rules
    summary = render_templates(rule.annotations, {"labels": {"service": "api"}, "value": 120.0, "window": rule.window})
    assert summary == {"summary": "api logged 120 errors in 1m"}
    assert "`api logged 120 errors in 1m`" in DOC.read_text()
