"""Every rule type, and the `type`-discriminated union a rule file validates against.

A new type is a module here with a `Rule` subclass (`type: Literal["<name>"]`) and one line in RULE_TYPES.
"""

from __future__ import annotations

import typing
from typing import TYPE_CHECKING, Annotated, Union

from pydantic import Field

from logwarden.rules.model import Rule, RuleFile, RuleGroup
from logwarden.rules.types.threshold import ThresholdRule

RULE_TYPES: tuple[type[Rule], ...] = (ThresholdRule,)


def type_name(rule_type: type[Rule]) -> str:
    """The `type:` value that selects `rule_type`."""
    (name,) = typing.get_args(rule_type.model_fields["type"].annotation)
    return str(name)


KNOWN_TYPES: tuple[str, ...] = tuple(sorted(type_name(t) for t in RULE_TYPES))

if TYPE_CHECKING:
    RuleSpec = Rule
else:
    RuleSpec = Annotated[
        Union[RULE_TYPES],  # noqa: UP007 - a tuple of classes needs Union[...]
        Field(discriminator="type"),
    ]

RuleGroup.model_rebuild(_types_namespace={"RuleSpec": RuleSpec})
RuleFile.model_rebuild()

__all__ = ["KNOWN_TYPES", "RULE_TYPES", "RuleSpec", "ThresholdRule", "type_name"]
