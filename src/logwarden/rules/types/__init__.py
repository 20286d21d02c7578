"""Every rule type, and the `type`-discriminated union a rule file validates against.

A new type is a module here with a `Rule` subclass (`type: Literal["<name>"]`, its settings, and `evaluator()`
returning its rules/base.py `Evaluator`); the modules of this package are found and registered on import.
"""

from __future__ import annotations

import importlib
import inspect
import pkgutil
import typing
from typing import TYPE_CHECKING, Annotated, Union

from pydantic import Field

from logwarden.rules.model import Rule, RuleFile, RuleGroup
from logwarden.rules.types.threshold import ThresholdRule


def type_name(rule_type: type[Rule]) -> str:
    """The `type:` value that selects `rule_type`."""
    (name,) = typing.get_args(rule_type.model_fields["type"].annotation)
    return str(name)


def _discover() -> tuple[type[Rule], ...]:
    found: dict[str, type[Rule]] = {}
    for info in sorted(pkgutil.iter_modules(__path__), key=lambda m: m.name):
        if info.name.startswith("_"):
            continue
        module = importlib.import_module(f"{__name__}.{info.name}")
        for _, obj in inspect.getmembers(module, inspect.isclass):
            if not (issubclass(obj, Rule) and obj is not Rule and obj.__module__ == module.__name__):
                continue
            if typing.get_args(obj.model_fields["type"].annotation):
                found[type_name(obj)] = obj
    return tuple(found[name] for name in sorted(found))


RULE_TYPES: tuple[type[Rule], ...] = _discover()
KNOWN_TYPES: tuple[str, ...] = tuple(type_name(t) for t in RULE_TYPES)

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
