"""The shape of a rule file: groups of rules, each rule a `type`-tagged model (docs/rules.md is generated from
the field docstrings below).

`RuleGroup.rules` is the union of every registered rule type; `logwarden.rules.types` builds it and completes
these models when the package is imported (the types subclass `Rule`, so they cannot be imported here first).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import timedelta
from typing import TYPE_CHECKING, Any, Literal, TypeAlias, TypeVar

from pydantic import BaseModel, ConfigDict, Field, field_validator
from pydantic_core import PydanticCustomError

from logwarden.model.units import Duration
from logwarden.query.errors import QuerySyntaxError
from logwarden.query.parser import parse_filter
from logwarden.rules.templates import AnnotationTemplateError, compile_annotations

T = TypeVar("T")

Severity = Literal["info", "warning", "critical"]

RULE_NAME_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.:-]{0,127}$"
FIELD_NAME_PATTERN = r"^[A-Za-z_@][A-Za-z0-9_.@-]*$"
LABEL_NAME_PATTERN = r"^[A-Za-z_][A-Za-z0-9_]*$"


class RuleSettings(BaseModel):
    """Base of rule file models: immutable, unknown keys refused, field docstrings as documentation."""

    model_config = ConfigDict(frozen=True, extra="forbid", use_attribute_docstrings=True, populate_by_name=True)


class FlapDetection(RuleSettings):
    """When an alert counts as flapping, and how long it is then held firing."""

    window: Duration = Field(timedelta(minutes=10), gt=timedelta(0))
    """The span in which starts of firing are counted; a flapping alert resolves only after its condition has
    been clear this long."""
    changes: int = Field(3, ge=2, le=100)
    """An alert that starts firing this many times within `window` is flapping."""


def query_checked(check: Callable[[str], T], value: str) -> T:
    """`check(value)` (a parse or compile of the search language), its syntax error as a validation error with the
    column, the way every rule field holding a query reports it."""
    try:
        return check(value)
    except QuerySyntaxError as exc:
        raise PydanticCustomError(
            "query_syntax",
            "invalid query at column {column}: {message}",
            {"column": exc.column, "message": exc.message},
        ) from None


class Rule(RuleSettings):
    """Settings every rule has; each rule type subclasses it with `type: Literal["<name>"]` and its own fields."""

    name: str = Field(pattern=RULE_NAME_PATTERN)
    """Unique among all rule files of the directory: letters, digits, `-`, `_`, `.`, `:` (at most 128)."""
    description: str = ""
    """What the rule watches for, for people reading the rule or the alert."""
    type: str
    """The rule type (`threshold`); selects the type's own settings."""
    query: str
    """Lines the rule looks at, in the search language without pipes (`level:error service:api`); `*` for all."""
    group_by: tuple[str, ...] = ()
    """Fields whose values split the lines into groups; each group alerts on its own and its values become the
    alert's labels."""
    window: Duration = Field(gt=timedelta(0))
    """Length of the sliding event-time window the rule evaluates over (`1m`, `5m`)."""
    for_: Duration = Field(timedelta(0), alias="for", ge=timedelta(0))
    """How long the condition must hold before the alert fires (pending until then); `0s` fires at once."""
    keep_firing_for: Duration = Field(timedelta(0), ge=timedelta(0))
    """How long the alert keeps firing after the condition stops holding, so a short dip does not resolve it."""
    severity: Severity = "warning"
    """`info`, `warning` or `critical`."""
    labels: dict[str, str] = Field(default_factory=dict)
    """Labels added to every alert of the rule (`team: payments`); names are letters, digits and `_`."""
    annotations: dict[str, str] = Field(default_factory=dict)
    """Texts sent with the alert (`summary`, `description`, `runbook_url`), as Jinja2 templates over `labels`,
    `value`, `threshold`, `window` and `evidence`; checked when the file loads."""
    enabled: bool = True
    """A disabled rule is loaded and checked but not evaluated."""
    max_delay: Duration = Field(timedelta(seconds=5), ge=timedelta(0), le=timedelta(days=1))
    """How late a line may arrive (event time behind the newest seen) and still count: the watermark delay
    (at most `1d`)."""
    samples: int = Field(10, ge=0, le=100)
    """How many matching lines an alert keeps as evidence (0 to 100)."""
    top_fields: tuple[str, ...] = Field((), max_length=10)
    """Fields whose most frequent values among the group's recent matching lines come with the alert (the top 5
    of each, with line counts), e.g. `[host, attrs.path]`."""
    flap_detection: FlapDetection | None = None
    """Hold an alert that keeps firing and resolving (`{window: 10m, changes: 3}`): it stays firing, marked
    `flapping`, until its condition has been clear for `window`."""

    def evaluator(self) -> Any:
        """This rule's evaluator (rules/base.py: Evaluator); each type returns its own."""
        raise NotImplementedError(f"rule type {self.type!r} has no evaluator")

    @field_validator("query")
    @classmethod
    def _query_parses(cls, value: str) -> str:
        query_checked(parse_filter, value)
        return value

    @field_validator("group_by", "top_fields")
    @classmethod
    def _group_by_fields(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        for name in value:
            if not re.match(FIELD_NAME_PATTERN, name):
                raise PydanticCustomError("field_name", "'{name}' is not a field name", {"name": name})
        if len(set(value)) != len(value):
            raise PydanticCustomError("field_name", "a field is listed twice", {})
        return value

    @field_validator("labels", "annotations")
    @classmethod
    def _label_names(cls, value: dict[str, str]) -> dict[str, str]:
        for name in value:
            if not re.match(LABEL_NAME_PATTERN, name):
                raise PydanticCustomError(
                    "label_name", "'{key}': use letters, digits and _ (not a digit first)", {"key": name}
                )
        return value

    @field_validator("annotations")
    @classmethod
    def _annotations_compile(cls, value: dict[str, str]) -> dict[str, str]:
        try:
            compile_annotations(value)
        except AnnotationTemplateError as exc:
            raise PydanticCustomError(
                "template_syntax", "template '{key}': {message}", {"key": exc.key, "message": str(exc)}
            ) from None
        return value


if TYPE_CHECKING:
    # At run time the union of the registered types (see the module docstring).
    RuleSpec: TypeAlias = Rule


class RuleGroup(RuleSettings):
    """Rules that belong together (like a Prometheus rule group)."""

    name: str = Field(min_length=1, max_length=200)
    """Name of the group, unique within its file."""
    interval: Duration | None = Field(None, gt=timedelta(0))
    """How often the group's scheduled rules run (streaming rules evaluate on every batch and ignore it)."""
    rules: list[RuleSpec] = Field(default_factory=list)
    """The rules, each a mapping with a `type`."""


class RuleFile(RuleSettings):
    """One rule file: `groups:` and nothing else."""

    groups: list[RuleGroup] = Field(default_factory=list)
    """The rule groups of the file."""

    @field_validator("groups")
    @classmethod
    def _unique_group_names(cls, groups: list[RuleGroup]) -> list[RuleGroup]:
        seen: set[str] = set()
        for index, group in enumerate(groups):
            if group.name in seen:
                raise PydanticCustomError(
                    "duplicate_group",
                    "group name '{name}' is used twice in this file",
                    {"index": index, "name": group.name},
                )
            seen.add(group.name)
        return groups


# Last, once the classes above exist: the rule types subclass Rule and complete RuleGroup/RuleFile with their union.
from logwarden.rules import types as _types  # noqa: E402, F401
