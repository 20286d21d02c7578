"""The test file of `logwarden rules test` (rules/testing.py runs it): its format — lines in, checks along the way —
and its loading, every problem named with its file, line and place (`tests.0 (name).eval_at.1…`)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, ValidationError, field_validator, model_validator
from pydantic_core import PydanticCustomError

from logwarden.config.loader import ConfigError, line_of, read_yaml_mapping
from logwarden.model.schema import FIELD_ALIASES, TENANT_PATTERN
from logwarden.model.units import Duration, parse_duration
from logwarden.rules.loader import RulesError, load_rule_file
from logwarden.rules.model import Rule
from logwarden.rules.templates import format_duration

TEST_EPOCH = datetime(2026, 1, 1, tzinfo=UTC)
MAX_LINES = 1_000_000  # lines one case may generate (repeat included)
MAX_STEPS = 1_000_000  # clock steps one case may take: (last check - start) / interval
_TIME_KEYS = frozenset(FIELD_ALIASES["ts"])
_RESERVED = frozenset({"at", "repeat", "every", "delay", "tenant", "fields"})


# --- the file format -----------------------------------------------------------------------------


def _parse_at(value: object) -> timedelta | datetime:
    """An offset from the case's start (`0s`, `90s`, `1h30m`, a number of seconds) or an absolute time."""
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=UTC)
    if isinstance(value, str) and ("T" in value or (value[:4].isdigit() and "-" in value)):
        try:
            parsed = datetime.fromisoformat(value.replace("Z", "+00:00").replace("z", "+00:00"))
        except ValueError:
            raise ValueError(f"invalid time {value!r}: use an offset such as 90s or an RFC 3339 time") from None
        return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)
    try:
        offset = parse_duration(value)
    except ValueError:
        raise ValueError(
            f"invalid time {value!r}: use an offset from the start such as 0s, 90s, 5m, or an RFC 3339 time"
        ) from None
    return offset


At = Annotated[timedelta | datetime, BeforeValidator(_parse_at)]


class _FileSettings(BaseModel):
    """Base of the test file's models: immutable, unknown keys refused."""

    model_config = ConfigDict(frozen=True, extra="forbid", use_attribute_docstrings=True)


class InputLine(_FileSettings):
    """One log line (or a burst of them); every key besides the ones below is a field of the line."""

    model_config = ConfigDict(frozen=True, extra="allow", use_attribute_docstrings=True)

    at: At
    """The line's event time: an offset from the case's start (`0s`, `90s`) or an RFC 3339 time."""
    repeat: int = Field(1, ge=1, le=MAX_LINES)
    """How many such lines (a burst)."""
    every: Duration = Field(timedelta(0), ge=timedelta(0))
    """The time between the lines of a burst (`0s`: all at `at`)."""
    delay: Duration = Field(timedelta(0), ge=timedelta(0))
    """How long after its event time the line arrives (late data)."""
    tenant: str | None = Field(None, pattern=TENANT_PATTERN)
    """The line's tenant (default: the case's)."""
    fields: dict[str, Any] = Field(default_factory=dict)
    """More fields of the line, for names the keys above take (`{repeat: 3}`)."""

    @model_validator(mode="after")
    def _no_time_field(self) -> InputLine:
        for key in (*(self.model_extra or {}), *self.fields):
            if key in _TIME_KEYS:
                raise PydanticCustomError("time_field", "'{key}': the line's time is `at`", {"key": key})
        return self

    def record(self) -> dict[str, Any]:
        return {**(self.model_extra or {}), **self.fields}


class ExpectedAlert(_FileSettings):
    """An alert that must be pending or firing at the check."""

    rule: str
    labels: dict[str, str] = Field(default_factory=dict)
    """Labels the alert has (others may be there too)."""
    status: Literal["firing", "pending"] = "firing"
    value: float | None = None
    annotations: dict[str, str] = Field(default_factory=dict)
    """Annotation texts, as rendered, each compared in full."""


class ExpectedTransition(_FileSettings):
    """An alert that started firing or resolved since the previous check."""

    rule: str
    status: Literal["firing", "resolved"]
    at: At | None = None
    """When (event time): an offset from the case's start or an RFC 3339 time."""
    labels: dict[str, str] = Field(default_factory=dict)
    value: float | None = None


class Check(_FileSettings):
    """What must hold at one time."""

    at: At
    rule: str | None = None
    """Compare only this rule's alerts and transitions."""
    expected_alerts: list[ExpectedAlert] | None = None
    """Every pending and firing alert at this time (`[]`: none); not checked when left out."""
    expected_transitions: list[ExpectedTransition] | None = None
    """Every transition since the previous check (`[]`: none); not checked when left out."""


class RuleTestCase(_FileSettings):
    """One scenario: lines in, checks along the way."""

    name: str = Field(min_length=1, max_length=200)
    tenant: str = Field("default", pattern=TENANT_PATTERN)
    """The tenant of lines that name none."""
    start: datetime = TEST_EPOCH
    """The time `0s` stands for."""
    interval: Duration = Field(timedelta(seconds=1), gt=timedelta(0))
    """How far the clock moves between evaluations when no line arrives."""
    input: list[InputLine] = Field(default_factory=list)
    eval_at: list[Check] = Field(min_length=1)

    @field_validator("start")
    @classmethod
    def _aware(cls, value: datetime) -> datetime:
        return value if value.tzinfo else value.replace(tzinfo=UTC)


class RuleTestFile(_FileSettings):
    """A test file: the rule files under test and the cases."""

    rule_files: list[str] = Field(min_length=1)
    """Rule files, relative to the test file."""
    tests: list[RuleTestCase] = Field(min_length=1)


# --- loading ----------------------------------------------------------------------------------------


def load_test_file(path: Path) -> tuple[RuleTestFile, list[Rule]]:
    """The test file and the enabled rules of its rule files; RulesError with every problem otherwise
    (`file:line: tests.0 (name).eval_at.1.expected_alerts.0.status: message`)."""
    source = str(path)
    try:
        data, root = read_yaml_mapping(path, "a rules test file")
    except ConfigError as exc:
        raise RulesError([str(exc).replace("config file", "rules test file")]) from None
    except UnicodeDecodeError as exc:
        raise RulesError([f"{source}: cannot read rules test file: not UTF-8 text (byte {exc.start})"]) from None

    def at(loc: tuple[int | str, ...]) -> str:
        line = None
        for end in range(len(loc), -1, -1):  # a key the file lacks: the line of its nearest written parent
            line = line_of(root, loc[:end])
            if line is not None:
                break
        where = _where(loc, data) or "(top level)"
        return f"{source}:{line}: {where}" if line is not None else f"{source}: {where}"

    try:
        parsed = RuleTestFile.model_validate(data)
    except ValidationError as exc:
        raise RulesError(f"{at(tuple(e['loc']))}: {e['msg']}" for e in exc.errors()) from None
    problems: list[str] = []
    rules: dict[str, Rule] = {}
    for i, name in enumerate(parsed.rule_files):
        rule_path = path.parent / name
        try:
            loaded = load_rule_file(rule_path)
        except RulesError as exc:
            problems.extend(f"{at(('rule_files', i))}: {p}" for p in exc.problems)
            continue
        for entry in loaded.entries:
            if entry.rule.name in rules:
                problems.append(f"{at(('rule_files', i))}: rule '{entry.rule.name}' is defined twice")
            rules[entry.rule.name] = entry.rule
    if not problems:
        known = ", ".join(sorted(rules)) or "none"
        for c, case in enumerate(parsed.tests):
            for k, check in enumerate(case.eval_at):
                named: list[tuple[tuple[int | str, ...], str]] = []
                if check.rule is not None:
                    named.append((("rule",), check.rule))
                named += [(("expected_alerts", j, "rule"), e.rule) for j, e in enumerate(check.expected_alerts or [])]
                named += [
                    (("expected_transitions", j, "rule"), e.rule)
                    for j, e in enumerate(check.expected_transitions or [])
                ]
                for loc, rule in named:
                    if rule not in rules:
                        where = at(("tests", c, "eval_at", k, *loc))
                        problems.append(f"{where}: no rule '{rule}' in the rule files (rules: {known})")
            lines = sum(item.repeat for item in case.input)
            if lines > MAX_LINES:
                problems.append(f"{at(('tests', c, 'input'))}: {lines} lines; a case may have at most {MAX_LINES}")
            last = max(case_time(check.at, case.start) for check in case.eval_at)
            if (last - case.start) / case.interval > MAX_STEPS:
                problems.append(
                    f"{at(('tests', c, 'interval'))}: {format_duration(case.interval)} steps up to the last check "
                    f"are more than {MAX_STEPS}; make the interval longer"
                )
    if problems:
        raise RulesError(problems)
    return parsed, [rule for rule in rules.values() if rule.enabled]


def _where(loc: tuple[int | str, ...], data: Any) -> str:
    """`tests.0 (burst).eval_at.1.expected_alerts.0.status`: the dotted place, cases named beside their index."""
    parts: list[str] = []
    node = data
    for part in loc:
        if isinstance(node, dict):
            node = node.get(part) if isinstance(part, str) else None
        elif isinstance(node, list) and isinstance(part, int) and 0 <= part < len(node):
            node = node[part]
        else:
            node = None
        name = node.get("name") if isinstance(node, dict) and isinstance(part, int) else None
        parts.append(f"{part} ({name})" if isinstance(name, str) and name else str(part))
    return ".".join(parts)


def case_time(value: timedelta | datetime, start: datetime) -> datetime:
    """The time a file's `at` stands for: an offset from the case's `start`, or an absolute time."""
    return start + value if isinstance(value, timedelta) else value
