"""`regex`: named groups of RE2 patterns become fields; the first pattern that matches a line wins."""

from __future__ import annotations

import re
from typing import Literal

import pyarrow as pa
import pyarrow.compute as pc
from pydantic import Field, field_validator

from logwarden.pipeline.base import BuildEnv, Processed, Processor, ProcessorBuildError
from logwarden.pipeline.parsers.common import (
    ExtractingParserConfig,
    check_field_name,
    check_re2,
    error_array,
    first_matches,
    name_groups,
    prefixed,
    read_source,
    set_outputs,
    struct_fields,
)

_GROUP_NAME = re.compile(r"\(\?P?<([A-Za-z_][A-Za-z0-9_]*)>")


class RegexConfig(ExtractingParserConfig):
    """Extract fields with named groups, `(?P<status>\\d{3})`, in RE2 syntax (no lookaround or backreferences).

    Patterns are searched for anywhere in the text (anchor with `^…$`); a group that takes part in
    no match, or matches the empty string, sets nothing. Values are text (see `convert`).
    """

    type: Literal["regex"]
    pattern: str | list[str] = Field(min_length=1)
    """One pattern, or several tried in order: the first that matches a line wins."""

    @field_validator("pattern")
    @classmethod
    def _not_empty(cls, v: str | list[str]) -> str | list[str]:
        if isinstance(v, list) and not all(v):
            raise ValueError("patterns must not be empty")
        return v

    def build(self, env: BuildEnv) -> Processor:
        patterns = [self.pattern] if isinstance(self.pattern, str) else list(self.pattern)
        compiled = []
        for text in patterns:
            converted = name_groups(text, "pattern")
            if not _GROUP_NAME.search(converted):
                raise ProcessorBuildError("pattern", f"pattern {text!r} has no named group (?P<name>…)")
            check_re2(converted, "pattern")
            for name in _GROUP_NAME.findall(converted):
                try:
                    check_field_name(prefixed(self.target, name))
                except ValueError as exc:
                    raise ProcessorBuildError("pattern", str(exc)) from None
            compiled.append(converted)
        return RegexParser(self, compiled)


class RegexParser(Processor):
    """Applies named-group patterns with `pc.extract_regex` (RE2, one pass over the column per pattern)."""

    def __init__(self, config: RegexConfig, patterns: list[str]) -> None:
        self.config = config
        self.patterns = patterns

    def process(self, batch: pa.Table) -> Processed:
        source = read_source(batch, self.config.field)
        if not source.any:
            return Processed(batch, error_array(self.config, source, None, ""))
        which, results = first_matches(source.text, self.patterns)
        outputs: dict[str, pa.Array] = {}
        for result in results:
            if result.type.num_fields == 0:
                continue
            _, groups = struct_fields(result)
            for name, values in groups.items():
                key = prefixed(self.config.target, name)
                # A name used by several patterns: each row takes the value of the pattern that matched it.
                outputs[key] = pc.coalesce(outputs[key], values) if key in outputs else values
        batch = set_outputs(batch, outputs, pc.is_valid(which), overwrite=self.config.overwrite)
        return Processed(batch, error_array(self.config, source, pc.is_valid(which), "no pattern matched"))


CONFIGS = (RegexConfig,)
