"""`grok`: `%{SYNTAX:name}` patterns compiled to one RE2 expression, with a bundled pattern library.

`%{NAME}` inserts a library pattern, `%{NAME:field}` captures it as a field, `%{NAME:field:int}` (or
`:float`) converts the capture. Field names may be dotted (`http.status`) or Logstash-nested
(`[http][status]`, which becomes `http.status`). Raw named groups `(?<field>…)` work too. The bundled
library (`grok_patterns/*.grok`) holds the common Logstash patterns rewritten for RE2.
"""

from __future__ import annotations

import functools
import re
from importlib import resources
from pathlib import Path
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
    name_groups,
    prefixed,
    read_source,
    set_outputs,
)
from logwarden.pipeline.parsers.engine import Extractor, compile_extractor, extract_first
from logwarden.pipeline.parsers.numbers import to_float, to_int

_REFERENCE = re.compile(r"%\{([A-Za-z0-9_]+)(?::([^:{}]+))?(?::([A-Za-z]+))?\}")
_NAMED_GROUP = re.compile(r"\(\?P<([^>]+)>")
_PATTERN_NAME = re.compile(r"^[A-Za-z0-9_]+$")
_PLACEHOLDER = "GROKFIELD"
_TYPES = ("int", "float")


def parse_pattern_text(text: str, origin: str) -> dict[str, str]:
    """`NAME regex` lines (blank lines and `#` comments skipped) → {NAME: regex}."""
    patterns: dict[str, str] = {}
    for number, line in enumerate(text.splitlines(), 1):
        stripped = line.strip()
        if not stripped or stripped.startswith("#"):
            continue
        name, _, regex = stripped.partition(" ")
        if not _PATTERN_NAME.match(name) or not regex.strip():
            raise ValueError(f"{origin}:{number}: expected `NAME regex`, got {stripped[:60]!r}")
        patterns[name] = regex.strip()
    return patterns


@functools.cache
def bundled_patterns() -> dict[str, str]:
    """The bundled library: every `grok_patterns/*.grok` file shipped in the package."""
    library: dict[str, str] = {}
    folder = resources.files("logwarden.pipeline.parsers").joinpath("grok_patterns")
    for entry in sorted(folder.iterdir(), key=lambda e: e.name):
        if entry.name.endswith(".grok"):
            library.update(parse_pattern_text(entry.read_text(encoding="utf-8"), entry.name))
    return library


def field_name(raw: str) -> str:
    """`[a][b]` → `a.b`; other names as written."""
    if raw.startswith("["):
        parts = re.findall(r"\[([^\]]*)\]", raw)
        if "".join(f"[{p}]" for p in parts) != raw or not all(parts):
            raise ValueError(f"invalid field reference {raw!r}")
        return ".".join(parts)
    return raw


class GrokCompileError(ValueError):
    """A grok pattern that cannot be compiled (unknown pattern name, recursion, bad type)."""


def compile_grok(pattern: str, library: dict[str, str]) -> tuple[str, list[tuple[str, str | None]]]:
    """(RE2 regex with groups named g0, g1…, [(field name, conversion) per group]) for a grok pattern."""
    captures: list[tuple[str, str | None]] = []

    def expand(text: str, stack: tuple[str, ...]) -> str:
        def replace(m: re.Match[str]) -> str:
            name, field, kind = m.group(1), m.group(2), m.group(3)
            if name not in library:
                raise GrokCompileError(f"unknown grok pattern %{{{name}}}")
            if name in stack:
                raise GrokCompileError(f"grok pattern {name} refers to itself ({' → '.join([*stack, name])})")
            if kind is not None and kind not in _TYPES:
                raise GrokCompileError(f"unknown conversion {kind!r} in %{{{m.group(0)[2:-1]}}} (use int or float)")
            inner = expand(name_groups(library[name], "pattern"), (*stack, name))
            if field is None:
                return f"(?:{inner})"
            captures.append((field_name(field), kind))
            return f"(?P<{_PLACEHOLDER}{len(captures) - 1}>{inner})"

        return _REFERENCE.sub(replace, text)

    expanded = expand(name_groups(pattern, "pattern"), ())
    groups: list[tuple[str, str | None]] = []

    def rename(m: re.Match[str]) -> str:
        name = m.group(1)
        if name.startswith(_PLACEHOLDER) and name[len(_PLACEHOLDER) :].isdigit():
            groups.append(captures[int(name[len(_PLACEHOLDER) :])])
        else:
            groups.append((field_name(name), None))
        return f"(?P<g{len(groups) - 1}>"

    return _NAMED_GROUP.sub(rename, expanded), groups


class GrokConfig(ExtractingParserConfig):
    """Parse text with grok patterns (`%{IPORHOST:client} %{WORD:method}`); see docs/pipeline-parsers.md
    for the bundled patterns. Patterns are searched for anywhere in the text (anchor with `^…$`)."""

    type: Literal["grok"]
    pattern: str | list[str] = Field(min_length=1)
    """A grok pattern, or several tried in order: the first that matches a line wins."""
    patterns: dict[str, str] = Field(default_factory=dict)
    """Extra named patterns (`{APPID: "[a-z]{3}-[0-9]+"}`), usable as `%{APPID:app}`; they may refer to
    bundled patterns and to each other, and replace a bundled pattern of the same name."""
    patterns_dir: str | None = None
    """A directory of pattern files (`NAME regex` per line, `#` comments), relative to the config file."""
    patterns_files: list[str] = Field(default_factory=list)
    """Pattern files (same format), relative to the config file; later files override earlier ones."""

    @field_validator("pattern")
    @classmethod
    def _not_empty(cls, v: str | list[str]) -> str | list[str]:
        if isinstance(v, list) and not all(v):
            raise ValueError("patterns must not be empty")
        return v

    @field_validator("patterns")
    @classmethod
    def _names(cls, v: dict[str, str]) -> dict[str, str]:
        for name in v:
            if not _PATTERN_NAME.match(name):
                raise ValueError(f"pattern name {name!r} must be letters, digits and _")
        return v

    def library(self, env: BuildEnv) -> dict[str, str]:
        library = dict(bundled_patterns())
        files: list[tuple[str, Path]] = []
        if self.patterns_dir is not None:
            folder = env.base_dir / self.patterns_dir
            if not folder.is_dir():
                raise ProcessorBuildError("patterns_dir", f"pattern directory {str(folder)!r} does not exist")
            files.extend(("patterns_dir", p) for p in sorted(folder.iterdir()) if p.is_file())
        for name in self.patterns_files:
            path = env.base_dir / name
            if not path.is_file():
                raise ProcessorBuildError("patterns_files", f"pattern file {str(path)!r} does not exist")
            files.append(("patterns_files", path))
        for setting, path in files:
            try:
                library.update(parse_pattern_text(path.read_text(encoding="utf-8"), str(path)))
            except (OSError, UnicodeDecodeError, ValueError) as exc:
                raise ProcessorBuildError(setting, f"cannot read pattern file: {exc}") from None
        library.update(self.patterns)
        return library

    def build(self, env: BuildEnv) -> Processor:
        library = self.library(env)
        texts = [self.pattern] if isinstance(self.pattern, str) else list(self.pattern)
        compiled: list[tuple[Extractor, list[tuple[str, str | None]]]] = []
        for text in texts:
            try:
                regex, groups = compile_grok(text, library)
            except (GrokCompileError, ValueError) as exc:
                setting = getattr(exc, "field", "pattern")
                raise ProcessorBuildError(setting, f"{exc} (in {text!r})") from None
            check_re2(regex, "pattern")
            for name, _ in groups:
                try:
                    check_field_name(prefixed(self.target, name))
                except ValueError as exc:
                    raise ProcessorBuildError("pattern", f"{exc} (in {text!r})") from None
            compiled.append((compile_extractor(regex), groups))
        return GrokParser(self, compiled)


class GrokParser(Processor):
    """Runs compiled grok patterns with `pc.extract_regex`; first matching pattern wins per line."""

    def __init__(self, config: GrokConfig, compiled: list[tuple[Extractor, list[tuple[str, str | None]]]]) -> None:
        self.config = config
        self.compiled = compiled

    def process(self, batch: pa.Table) -> Processed:
        source = read_source(batch, self.config.field)
        if not source.any:
            return Processed(batch, error_array(self.config, source, None, ""))
        matched, results = extract_first(source.text, [extractor for extractor, _ in self.compiled])
        outputs: dict[str, pa.Array] = {}
        for values, (_, groups) in zip(results, self.compiled, strict=True):
            for index, (name, kind) in enumerate(groups):
                column = values.get(f"g{index}")
                if column is None or column.null_count == len(column):
                    continue
                typed = to_int(column) if kind == "int" else to_float(column) if kind == "float" else column
                key = prefixed(self.config.target, name)
                # The same field captured twice (or by two patterns): the first non-empty capture wins.
                outputs[key] = _coalesce(outputs[key], typed) if key in outputs else typed
        batch = set_outputs(batch, outputs, matched, overwrite=self.config.overwrite)
        return Processed(batch, error_array(self.config, source, matched, "no grok pattern matched"))


def _coalesce(first: pa.Array, second: pa.Array) -> pa.Array:
    if first.type != second.type:
        first, second = pc.cast(first, pa.string()), pc.cast(second, pa.string())
    return pc.coalesce(first, second)


CONFIGS = (GrokConfig,)
