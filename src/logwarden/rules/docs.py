"""Render the rule settings reference (the generated part of docs/rules.md) from the models' docstrings.

`python -m logwarden.rules.docs --write docs/rules.md` replaces the text between the markers; a test fails
when it is out of date.
"""

from __future__ import annotations

import inspect
import sys

from pydantic import BaseModel

from logwarden import settings_docs
from logwarden.rules.model import Rule, RuleFile, RuleGroup
from logwarden.rules.types import RULE_TYPES, type_name
from logwarden.settings_docs import GeneratedSection, settings_table


def render() -> str:
    """The generated reference: file, group, common rule settings, then each rule type's own."""
    out = ["### Rule file", "", *settings_table(RuleFile), "", "### Group", "", *settings_table(RuleGroup), ""]
    out += ["### Every rule", "", *settings_table(Rule), ""]
    for rule_type in sorted(RULE_TYPES, key=type_name):
        out += [f"### `type: {type_name(rule_type)}`", "", inspect.cleandoc(rule_type.__doc__ or ""), ""]
        out += settings_table(rule_type, skip=tuple(Rule.model_fields))
        out.append("")
    return "\n".join(out)


SECTION = GeneratedSection("logwarden.rules.docs", "docs/rules.md", render)
generated_part = SECTION.part


def undocumented() -> list[str]:
    """Settings without a docstring (a test keeps this empty)."""
    models: list[type[BaseModel]] = [RuleFile, RuleGroup, Rule, *RULE_TYPES]
    return settings_docs.undocumented(models)


if __name__ == "__main__":
    SECTION.main(sys.argv[1:])
